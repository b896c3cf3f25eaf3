"""The way a typical script does the job, as the benchmark's yardstick.

Per file: `pandas.read_excel(engine="openpyxl")` of the unit sheet and of the initiative sheet,
one pandera validation of the initiatives (required columns, list values, dates); then `concat`
and `to_excel` with openpyxl. No guard, no isolation, no ledger, no report: less work than the
pipeline, done the usual way.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from pipeline.form import Form, load_form
from pipeline.template import INITIATIVE_HEADER_ROW


def schema(form: Form) -> pa.DataFrameSchema:
    columns = {}
    for f in form.initiative:
        checks = [pa.Check.isin(form.allowed(f))] if f.type == "list" else []
        dtype = "datetime64[ns]" if f.type == "date" else None
        columns[f.label] = pa.Column(dtype, checks=checks, nullable=not f.required, coerce=f.type == "date")
    return pa.DataFrameSchema(columns, strict=False)


def naive(paths: list[Path], out: Path) -> float:
    form = load_form()
    checker = schema(form)
    started = time.perf_counter()
    frames = []
    errors = 0
    for path in paths:
        unit = pd.read_excel(path, sheet_name=form.sheets["unit"], header=None, engine="openpyxl")
        rows = pd.read_excel(
            path, sheet_name=form.sheets["initiatives"], header=INITIATIVE_HEADER_ROW - 1, engine="openpyxl"
        )
        rows = rows.dropna(how="all")
        rows.columns = [str(c).split("\n")[0].rstrip(" *") for c in rows.columns]
        try:
            with warnings.catch_warnings():  # pandera's date parsing complains about day-first text
                warnings.simplefilter("ignore")
                checker.validate(rows, lazy=True)
        except pa.errors.SchemaErrors:
            errors += 1
        rows["Tệp"] = path.name
        rows["Mã CĐCS"] = unit.iloc[4, 1] if unit.shape[0] > 4 and unit.shape[1] > 1 else None
        frames.append(rows)
    pd.concat(frames, ignore_index=True).to_excel(out, index=False, engine="openpyxl")
    return time.perf_counter() - started
