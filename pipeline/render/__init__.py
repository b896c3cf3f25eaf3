"""Rendering: what the pipeline writes for people (feedback workbooks now; the report later)."""
