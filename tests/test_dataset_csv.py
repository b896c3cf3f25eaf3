"""The dataset's CSV: text columns neutralised a column at a time (Arrow) give the same file as the
value-by-value way, whatever the column holds."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipeline.render import outputs
from pipeline.render.outputs import write_dataset_csv

STARTS = st.sampled_from(["", "=", "+", "-", "@", "\t", "\r", "'", " =", "a", "Đ", "😀", "\n"])
TEXTS = st.lists(st.one_of(st.none(), st.tuples(STARTS, st.text(max_size=5)).map("".join)), max_size=30)


@given(TEXTS)
def test_a_column_of_text_at_once_is_each_value_neutralised(texts):
    for dtype in ("str", "object"):
        column = pd.Series(texts, dtype=dtype)
        expected = column.map(outputs._csv_text, na_action="ignore")
        got = outputs._csv_texts(column)
        assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in expected]


def test_the_csv_of_mixed_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "ten": pd.Series(["=1+1", None, "bình thường", "-5"], dtype="str"),
            "ghi_chu": pd.Series([None, "@x", 12, dt.date(2022, 6, 5)], dtype="object"),
            "ngay": [dt.date(2022, 1, 2), None, dt.datetime(2022, 1, 2, 9, 30), dt.date(2022, 3, 4)],
            "ngay_ap_dung": [dt.date(2022, 1, 2), None, dt.date(2022, 1, 3), dt.date(2022, 3, 4)],
            "so": pd.Series([1, None, 3, 4], dtype="Int64"),
            "luc": pd.to_datetime(["2022-01-01", None, "2022-02-03 04:05", "2022-01-01"], format="mixed"),
        }
    )
    raw = write_dataset_csv(frame, tmp_path / "d.csv").read_bytes()
    assert raw.startswith("\ufeff".encode())  # Excel takes it for UTF-8
    assert raw.decode("utf-8-sig").splitlines() == [
        '"ten","ghi_chu","ngay","ngay_ap_dung","so","luc"',
        '"\'=1+1",,"2022-01-02",2022-01-02,1,"2022-01-01"',
        ',"\'@x",,,,',
        '"bình thường","12","2022-01-02T09:30:00",2022-01-03,3,"2022-02-03"',  # a date with a time keeps it
        '"\'-5","2022-06-05","2022-03-04",2022-03-04,4,"2022-01-01"',
    ]


def test_the_csv_reads_back_as_the_dataset(tmp_path, monkeypatch):
    """Commas, quotes, line breaks and accents in the text, several chunks of rows, an empty period."""
    monkeypatch.setattr(outputs, "CSV_CHUNK_ROWS", 2)
    texts = ["a, b", 'nói "không"', "dòng 1\r\ndòng 2", "", None, "Đoàn viên"]
    frame = pd.DataFrame({"ten": pd.Series(texts, dtype="str"), "so": pd.Series([1, 2, None, 4, 5, 6], dtype="Int64")})
    path = write_dataset_csv(frame, tmp_path / "d.csv")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back["ten"]) == [t or "" for t in texts]
    assert list(back["so"]) == ["1", "2", "", "4", "5", "6"]
    empty = write_dataset_csv(frame.iloc[:0], tmp_path / "e.csv")
    assert empty.read_text(encoding="utf-8-sig").splitlines() == ['"ten","so"']
