"""Pure rules: values in, decisions out; no I/O, the time is passed in."""
