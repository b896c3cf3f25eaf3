"""The form definition, loaded from `schemas/form.toml`: fields, labels, lists and rules.

Everything that knows a label, a list or a rule asks a `Form`: the template writer, the reader's
header matching, the pandera schemas and the report. Nothing else spells a label. The code names a
field by its role ("unit_code", "title", "author"), never by its key: `form.key("author")` is the
column the data keeps it in, so a key renamed in `form.toml` changes nothing else. Likewise the
answers that mean something to the code ("yes", "not_yet") are the form's (`form.answer("yes")`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pipeline.text import fold, initiative_key

FieldType = Literal["text", "integer", "date", "list"]
_TYPES = ("text", "integer", "date", "list")


# The roles the code asks for: a form without one of them is not this programme's form.
ROLES = {
    "unit": (
        "unit_code", "unit_name", "sector", "commune", "workers", "members", "as_of", "meetings", "news_items",
        "commended_groups", "commended_people", "chair", "preparer", "phone", "email", "prepared_on",
    ),
    "initiative": (
        "number", "title", "author", "coauthors", "author_is_member", "kind", "field", "summary", "effect",
        "benefit", "applied_on", "registered_on", "recognised_by", "decision", "uploaded", "portal_status",
        "commendation", "proposed_outstanding", "note",
    ),
    "roster": (
        "unit_code", "unit_name", "sector", "commune", "members", "workers", "email", "target_phase_1",
        "target_phase_2", "active",
    ),
}  # fmt: skip
ANSWERS = ("yes", "no", "not_yet")


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: FieldType
    role: str = ""
    required: bool = False
    list: str | None = None
    rule: str = ""
    help: str = ""
    width: int = 14
    aliases: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_words: int | None = None
    pattern: str | None = None
    window: str | None = None
    not_after: str | None = None
    not_before: str | None = None
    not_above: str | None = None
    only_when: tuple[str, str] | None = None
    personal: bool = False
    short: str | None = None  # a label of at most 32 characters, for Excel's input-message title

    @property
    def title(self) -> str:
        return self.short or self.label

    @property
    def names(self) -> tuple[str, ...]:
        """The label and every alias, for matching what users typed."""
        return (self.label, *self.aliases)


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    older_versions: tuple[str, ...]
    programme: str
    title: str
    input_rows: int
    sheets: Mapping[str, str]
    meta: Mapping[str, str]
    lists: Mapping[str, tuple[str, ...]]
    unit: tuple[Field, ...]
    initiative: tuple[Field, ...]
    roster: tuple[Field, ...]
    example: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, str] = field(default_factory=dict)

    def allowed(self, f: Field) -> tuple[str, ...]:
        if f.list is None:
            return ()
        return self.lists[f.list]

    @cached_property
    def _roles(self) -> dict[str, Field]:
        return {f.role: f for f in (*self.unit, *self.initiative)}

    def field(self, role: str) -> Field:
        """The field of the unit record or of an initiative that plays `role`."""
        return self._roles[role]

    def key(self, role: str) -> str:
        """The key of the field that plays `role`: where the data keeps it."""
        return self._roles[role].key

    def roster_field(self, role: str) -> Field:
        return next(f for f in self.roster if f.role == role)

    def record_key(self, values: Mapping[str, Any]) -> str | None:
        """The identity of an initiative (title and author, folded), from its values by key."""
        return initiative_key(values.get(self.key("title")), values.get(self.key("author")))

    def answer(self, meaning: str) -> str:
        """The answer of the form's lists that means `meaning` ("yes": "Có")."""
        return self.answers[meaning]

    def by_key(self, key: str) -> Field:
        """The field of the unit record or of an initiative kept under `key`."""
        return _by_key((*self.unit, *self.initiative), key)

    def unit_field(self, key: str) -> Field:
        return _by_key(self.unit, key)

    def initiative_field(self, key: str) -> Field:
        return _by_key(self.initiative, key)

    @cached_property
    def unit_matcher(self) -> dict[str, Field]:
        return _matcher(self.unit)

    @cached_property
    def initiative_matcher(self) -> dict[str, Field]:
        return _matcher(self.initiative)

    @cached_property
    def roster_matcher(self) -> dict[str, Field]:
        return _matcher(self.roster)

    def with_list(self, name: str, values: list[str] | tuple[str, ...]) -> Form:
        """A copy with one list replaced (used by the consistency tests)."""
        return replace(self, lists={**self.lists, name: tuple(values)})


def _by_key(fields: tuple[Field, ...], key: str) -> Field:
    for f in fields:
        if f.key == key:
            return f
    raise KeyError(key)


def _matcher(fields: tuple[Field, ...]) -> dict[str, Field]:
    """Folded label or alias -> field; a name claimed by two fields is a definition error."""
    out: dict[str, Field] = {}
    for f in fields:
        for name in f.names:
            key = fold(name)
            if key in out and out[key] is not f:
                raise FormError(f"'{name}' names both {out[key].key} and {f.key}")
            out[key] = f
    return out


class FormError(ValueError):
    """The form definition itself is wrong: a programming error, caught by the tests."""


def load_form(path: Path | None = None) -> Form:
    from schemas import FORM_PATH

    source = path or FORM_PATH
    with open(source, "rb") as fh:
        data = tomllib.load(fh)
    lists = {name: tuple(values) for name, values in data["lists"].items()}
    form = Form(
        id=data["form"]["id"],
        version=str(data["form"]["version"]),
        older_versions=tuple(str(v) for v in data["form"].get("older_versions", ())),
        programme=data["form"]["programme"],
        title=data["form"]["title"],
        input_rows=int(data["form"]["input_rows"]),
        sheets=dict(data["sheets"]),
        meta=dict(data["meta"]),
        lists=lists,
        unit=tuple(_field(d, lists) for d in data["unit"]),
        initiative=tuple(_field(d, lists) for d in data["initiative"]),
        roster=tuple(_field(d, lists) for d in data["roster"]),
        example=dict(data.get("example", {})),
        answers=dict(data.get("answers", {})),
    )
    # Build the matchers now so that a clash of labels fails at load time.
    _ = form.unit_matcher, form.initiative_matcher, form.roster_matcher
    for section, fields in (("unit", form.unit), ("initiative", form.initiative), ("roster", form.roster)):
        roles = [f.role for f in fields]
        missing = set(ROLES[section]) - set(roles)
        if missing or len(set(roles)) != len(roles):
            raise FormError(f"[[{section}]]: roles missing {sorted(missing)} or given twice in {roles}")
    if set(ANSWERS) - set(form.answers):
        raise FormError(f"[answers]: missing {sorted(set(ANSWERS) - set(form.answers))}")
    return form


def _field(d: dict[str, Any], lists: Mapping[str, tuple[str, ...]]) -> Field:
    d = dict(d)
    if d["type"] not in _TYPES:
        raise FormError(f"{d['key']}: unknown type {d['type']!r}")
    if d["type"] == "list" and d.get("list") not in lists:
        raise FormError(f"{d['key']}: unknown list {d.get('list')!r}")
    if "aliases" in d:
        d["aliases"] = tuple(d["aliases"])
    if "only_when" in d:
        d["only_when"] = (d["only_when"]["field"], d["only_when"]["value"])
    return Field(**d)


def window_words(windows: Mapping[str, tuple[dt.date, dt.date]]) -> dict[str, str]:
    """Placeholders for rule and help texts: {eligibility_start} and friends, dd/mm/yyyy."""
    words: dict[str, str] = {}
    for name, (start, end) in windows.items():
        words[f"{name}_start"] = start.strftime("%d/%m/%Y")
        words[f"{name}_end"] = end.strftime("%d/%m/%Y")
    return words
