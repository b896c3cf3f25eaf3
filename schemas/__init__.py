"""The standard form: `form.toml` (the one definition) and the pandera schemas built from it."""

from pathlib import Path

FORM_PATH = Path(__file__).with_name("form.toml")
