"""Text helpers shared by every stage: Unicode normalisation and label folding.

`clean_text` makes the safe repairs of spec §3.3 (NFC, "Ð" to "Đ", spaces) and says whether it
changed anything; `fold` turns a label into a key for matching headers typed without diacritics,
in another case or with other punctuation.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\u200b\ufeff]+")
# Python's white space (`str.isspace`, `\s`), all of it below U+3001 (a test holds this to the whole
# of Unicode): for those who look for it a character at a time.
WHITESPACE = tuple(chr(c) for c in range(0x3001) if chr(c).isspace())
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# U+00D0 (Icelandic eth) looks like "Đ" and is typed by mistake on some keyboards.
_WRONG_D = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})


# Control characters that are not spaces (NUL, BEL, ESC, DEL, C1 ...): a reader decodes Excel's
# "_x0000_" escapes into them; no writer of the outputs accepts them.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x9f]")


@functools.lru_cache(maxsize=65536)  # list values and names repeat in every file
def clean_text(value: str) -> str:
    """NFC, the right "Đ", control characters dropped, spaces and non-breaking spaces collapsed,
    ends trimmed."""
    text = _CONTROLS.sub("", unicodedata.normalize("NFC", value).translate(_WRONG_D))
    return _SPACES.sub(" ", text).strip()


def has_controls(value: str) -> bool:
    return _CONTROLS.search(value) is not None


@functools.lru_cache(maxsize=16384)  # labels and list values repeat in every file
def fold(value: str) -> str:
    """A matching key: no diacritics, lower case, letters and digits separated by one space."""
    text = unicodedata.normalize("NFD", clean_text(value).replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _NOT_ALNUM.sub(" ", text).strip()


def initiative_key(title: object, author: object) -> str | None:
    """What makes two rows the same initiative: the title and the author, folded; None without both."""
    if isinstance(title, str) and isinstance(author, str):
        return f"{fold(title)}|{fold(author)}"
    return None


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Untrusted text for a CSV or XLSX cell: never starts like a formula (prefixed with ')."""
    return "'" + value if value.startswith(FORMULA_START) else value
