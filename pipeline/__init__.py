"""Turns the Excel reports of grassroots trade unions into one checked dataset and report."""

__version__ = "0.1.0"
