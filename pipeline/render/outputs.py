"""Machine-readable outputs: the findings table, the consolidated dataset and run.json.

Every file is written to a temporary file and renamed. Untrusted text in a CSV can never start
like a formula; numbers stay numbers. Returns the paths written.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.files import atomic_path
from pipeline.findings import Finding, Severity
from pipeline.text import FORMULA_START, neutralise_formula

CSV_CHUNK_ROWS = 5000
FINDINGS_COLUMNS = ("file", "sheet", "cell", "field", "value", "severity", "rule", "message")
FINDINGS_HEADERS = ("Tệp", "Trang", "Ô", "Mục", "Giá trị", "Mức độ", "Mã quy tắc", "Nội dung")


def write_findings_csv(findings: Iterable[Finding], path: Path) -> Path:
    """Every finding, one per line, UTF-8 with BOM so that Excel opens it as is."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FINDINGS_HEADERS)
        for f in findings:
            row = f.to_dict()
            row["severity"] = Severity(row["severity"]).label
            writer.writerow([neutralise_formula(str(row[c] or "")) for c in FINDINGS_COLUMNS])
    return path


def write_dataset_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """The consolidated initiatives for tools (and for the report workbook's worker, which reads
    them from here: cheaper than sending the frame, and no copy of it in this process)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def write_dataset_csv(frame: pd.DataFrame, csv_path: Path) -> Path:
    """The consolidated initiatives as CSV, for Excel: the same rows as the Parquet file, UTF-8 with
    a BOM, text quoted, numbers and dates (ISO) not. Arrow writes it, a chunk of rows at a time (the
    CSV's copy of the text never holds the whole period), without holding the interpreter: the
    run's other outputs go on beside it."""
    import pyarrow.csv as pa_csv

    ways = {column: _csv_way(frame[column]) for column in frame.columns}
    schema = pa.schema([(str(column), way) for column, way in ways.items()])
    options = pa_csv.WriteOptions(quoting_style="needed")  # Arrow's "needed": every text, no number or date
    with atomic_path(csv_path) as tmp, open(tmp, "wb") as fh:
        fh.write("\ufeff".encode())
        with pa_csv.CSVWriter(fh, schema, write_options=options) as writer:
            for start in range(0, len(frame), CSV_CHUNK_ROWS):
                chunk = frame.iloc[start : start + CSV_CHUNK_ROWS]
                arrays = [_csv_array(chunk[column], way) for column, way in ways.items()]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return csv_path


def _csv_way(column: pd.Series) -> pa.DataType:
    """The type a column of the dataset goes into the CSV as: integers, floats and dates as they are
    (a column of dates with none of another kind), anything else as text (`_csv_text`)."""
    if column.dtype == object:
        try:
            kind = pa.array(column, from_pandas=True).type
        except (pa.ArrowException, TypeError, ValueError, OverflowError):  # several kinds in one column
            return pa.large_string()
        # Arrow takes a date with a time for a date: such a column is written as text (`_csv_text`).
        dates = pa.types.is_date32(kind) and not any(isinstance(v, dt.datetime) for v in column)
        return kind if dates else pa.large_string()
    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(column.dtype):
        return pa.large_string()
    return pa.array(column.iloc[:0], from_pandas=True).type


def _csv_array(column: pd.Series, way: pa.DataType) -> pa.Array:
    """A chunk of a column as `_csv_way` gave it."""
    if not pa.types.is_large_string(way):
        return pa.array(column, type=way, from_pandas=True)
    if isinstance(column.dtype, pd.StringDtype):
        return pa.array(_csv_texts(column), type=way, from_pandas=True)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return pa.array(column.dt.strftime("%Y-%m-%d"), type=way, from_pandas=True)
    texts = [None if _missing(v) else str(v) for v in _csv_texts(column.astype(object))]
    return pa.array(texts, type=way)


def _missing(value: Any) -> bool:
    """A missing value of pandas (None, NaN, NaT, NA): an empty field."""
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a value pandas takes for a list of them
        return False


def _csv_texts(column: pd.Series) -> pd.Series:
    """A column of text as `_csv_text` gives each value: a column of strings at once, with Arrow."""
    if not isinstance(column.dtype, pd.StringDtype) or len(column) == 0:
        return column.map(_csv_text, na_action="ignore")  # objects: text, numbers and dates as they come
    values = pa.array(column, from_pandas=True)
    formula = pc.is_in(pc.utf8_slice_codeunits(values, 0, 1), value_set=pa.array(FORMULA_START, values.type))
    quoted = pc.binary_join_element_wise(pa.scalar("'", values.type), values, pa.scalar("", values.type))
    return pd.Series(pc.if_else(formula, quoted, values), index=column.index, dtype=column.dtype)


def _csv_text(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise_formula(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def write_json(data: dict[str, Any], path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def finding_dicts(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in findings]
