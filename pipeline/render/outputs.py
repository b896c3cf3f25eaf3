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
    """The consolidated initiatives as CSV, for Excel: the same rows as the Parquet file."""
    texts = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    with atomic_path(csv_path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        # A few thousand rows at a time: the CSV's copy of the text never holds the whole period.
        for start in range(0, max(len(frame), 1), CSV_CHUNK_ROWS):
            chunk = frame.iloc[start : start + CSV_CHUNK_ROWS].copy()
            for column in texts:
                chunk[column] = _csv_texts(chunk[column])
            chunk.to_csv(fh, index=False, header=start == 0, date_format="%Y-%m-%d")
    return csv_path


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
