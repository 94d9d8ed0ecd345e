"""Passwords and bearer tokens: how an account proves who it is."""
