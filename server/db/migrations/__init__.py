"""Numbered SQL migrations (package data, read with importlib.resources); ``timescale/`` holds the optional layer."""
