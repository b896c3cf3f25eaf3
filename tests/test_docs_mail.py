"""The mail commands and the [mail] keys are documented: README's "Mail" section and the officer's
guide name every `pipeline mail` sub-command the parser has, and the guide's mail section every
key of the [mail] tables the configuration declares."""

from __future__ import annotations

import argparse
import re

from pipeline.cli import build_parser
from pipeline.config import layout
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "huong-dan-su-dung.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _mail_commands() -> list[str]:
    return sorted(_subcommands(_subcommands(build_parser())["mail"]))


def _section(text: str, heading: str) -> str:
    """The level-2 section whose heading matches `heading` (a regex), up to the next one."""
    match = re.search(rf"^## {heading}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no section {heading!r}"
    return match.group(1)


def _readme_mail() -> str:
    return _section((ROOT / "README.md").read_text(encoding="utf-8"), "Mail")


def _guide_mail() -> str:
    return _section(GUIDE.read_text(encoding="utf-8"), r"\d+\. Thư điện tử")


def test_the_parser_has_mail_commands():
    assert {"fetch", "drafts", "reminders", "send", "password"} <= set(_mail_commands())


def test_every_mail_command_is_in_the_readme_and_the_guide():
    readme, guide = _readme_mail(), _guide_mail()
    missing = [
        (where, command)
        for command in _mail_commands()
        for where, text in (("README.md", readme), ("guide", guide))
        if f"pipeline mail {command}" not in text
    ]
    assert missing == []


def test_every_mail_key_is_in_the_guides_mail_section():
    guide = _guide_mail()
    tables = {name: keys for name, keys in layout().items() if name == "mail" or name.startswith("mail.")}
    assert {"mail", "mail.imap", "mail.smtp"} <= set(tables)
    missing = [f"[{name}]" for name in tables if f"[{name}]" not in guide]
    missing += [
        f"{name}.{key.name}"
        for name, keys in tables.items()
        for key in keys
        if not re.search(rf"`{key.name}`|^{key.name} =", guide, re.MULTILINE)
    ]
    assert missing == []
