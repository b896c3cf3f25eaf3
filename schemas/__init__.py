"""The standard form: `form.toml`, the one definition of its sheets, fields, lists and roles."""

from pathlib import Path

FORM_PATH = Path(__file__).with_name("form.toml")
