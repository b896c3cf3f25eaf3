"""`Labelled`: a string enum whose members carry the Vietnamese label people read."""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    """A string enum whose members carry their label: `ON_TIME = "on_time", "Đã nộp đúng hạn"`.
    The value (in run.json, the ledger, the code) is the first; `member.label` the second."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member
