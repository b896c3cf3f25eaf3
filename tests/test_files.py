"""Names made from untrusted text (a file's or a union's name) for the files written."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.files import MAX_NAME, atomic_path, remove_unfinished, safe_filename
from pipeline.render.feedback import feedback_stem

_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)
NAMES = st.one_of(
    st.text(),
    st.sampled_from(["CON", "con.xlsx", "NUL.txt", "../../etc/passwd", "C:\\x\\y.xlsx", "a\0b", ". .", "...", ""]),
    st.text(alphabet=st.sampled_from('./\\:*?"<>| .abcđĐ\u0301\u0323')),
)


def _suits_windows(name: str) -> bool:
    return (
        bool(name)
        and not re.search(r'[<>:"/\\|?*\x00-\x1f]', name)
        and not name.endswith((".", " "))
        and not _RESERVED.match(name)
        and unicodedata.is_normalized("NFC", name)
        and len(name) <= MAX_NAME
    )


@given(NAMES, st.sampled_from(["", ".xlsx", ".txt"]))
def test_any_name_becomes_one_valid_name_in_its_folder(name: str, suffix: str) -> None:
    safe = safe_filename(name, suffix)
    assert _suits_windows(safe), repr(safe)
    assert safe.endswith(suffix)
    folder = Path("/outbox/phan-hoi")
    assert (folder / safe).parent == folder and ".." not in Path(safe).parts


@given(NAMES, st.one_of(st.none(), NAMES))
def test_feedback_names_from_a_file_name_and_a_union_code(name: str, code: str | None) -> None:
    for suffix in (".xlsx", ".txt"):
        assert _suits_windows(feedback_stem(name, code) + suffix)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("CON", "_CON"), ("Báo cáo: quý 1?", "Báo cáo- quý 1"), ("../../etc/passwd", "etc-passwd")],
)
def test_examples(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_a_name_taken_is_numbered_from_two_with_or_without_an_extension():
    from pipeline.files import numbered

    taken = {"Báo cáo.xlsx", "Báo cáo (2).xlsx", "thư", "thư (2)"}
    assert numbered("Báo cáo.xlsx", taken.__contains__) == "Báo cáo (3).xlsx"
    assert numbered("thư", taken.__contains__) == "thư (3)"
    assert numbered("mới.xlsx", taken.__contains__) == "mới.xlsx"


def test_what_an_atomic_write_left_unfinished_is_removed_and_nothing_else(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.xlsx") as unfinished:
        unfinished.write_bytes(b"half")
        left = tmp_path / unfinished.name.replace(".xlsx", "-killed.xlsx")  # as a killed writer leaves it
        left.write_bytes(b"half")
    kept = [tmp_path / "a.xlsx", tmp_path / "tmp-b.xlsx", tmp_path / "c .tmp-d.txt"]
    for path in kept[1:]:
        path.write_bytes(b"whole")
    remove_unfinished(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted(kept)
