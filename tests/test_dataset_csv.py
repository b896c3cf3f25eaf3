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
            "so": pd.Series([1, None, 3, 4], dtype="Int64"),
        }
    )
    text = write_dataset_csv(frame, tmp_path / "d.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines() == [
        "ten,ghi_chu,ngay,so",
        "'=1+1,,2022-01-02,1",
        ",'@x,,",
        "bình thường,12,2022-01-02T09:30:00,3",
        "'-5,2022-06-05,2022-03-04,4",
    ]
