"""Retain: engagement-vs-retention research pipeline for contact centres."""

__version__ = "0.1.0"
