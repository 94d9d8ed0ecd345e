"""Scoring the system's decisions against a scenario's ground truth (``smartcomplex score ...``)."""
