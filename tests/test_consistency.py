"""The form is the one source: template, reader, pandera schemas and labels all derive from it."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from pipeline.findings import Code
from pipeline.read import read_workbook
from pipeline.results import Status
from pipeline.template import INITIATIVE_HEADER_ROW, list_name, write_template
from pipeline.validate import build_schema, validate


def _dropdown_values(path: Path, form, list_key: str) -> list[str]:
    wb = openpyxl.load_workbook(path)
    sheet, ref = next(iter(wb.defined_names[list_name(list_key)].destinations))
    return [c.value for row in wb[sheet][ref.replace("$", "")] for c in row]


def _findings(path: Path, form, settings, roster):
    book = read_workbook(path, form)
    return [(f.location.cell, f.code) for f in validate([book], form, settings, roster) if f.severity == "error"]


def test_changing_an_allowed_value_changes_dropdown_and_validation(tmp_path, form, settings, roster, filled):
    old, new = "Toàn quốc", "Trung ương"
    changed = form.with_list("cap_cong_nhan", [new if v == old else v for v in form.lists["cap_cong_nhan"]])

    # The template's dropdown follows the definition.
    assert old in _dropdown_values(_template(tmp_path / "a.xlsx", form, settings), form, "cap_cong_nhan")
    values = _dropdown_values(_template(tmp_path / "b.xlsx", changed, settings), changed, "cap_cong_nhan")
    assert new in values and old not in values

    # So does the validation: the new value passes, the removed one is now outside the list.
    path = filled(rows=[{"cap_cong_nhan": new}, {"cap_cong_nhan": old}])
    assert ("M4", Code.NOT_IN_LIST) in _findings(path, form, settings, roster)
    assert ("M5", Code.NOT_IN_LIST) not in _findings(path, form, settings, roster)
    assert ("M4", Code.NOT_IN_LIST) not in _findings(path, changed, settings, roster)
    assert ("M5", Code.NOT_IN_LIST) in _findings(path, changed, settings, roster)


def _template(path: Path, form, settings) -> Path:
    return write_template(path, form, settings)


def test_template_headers_are_the_form_labels_and_the_reader_maps_them_all(tmp_path, form, settings):
    path = _template(tmp_path / "t.xlsx", form, settings)
    ws = openpyxl.load_workbook(path)[form.sheets["initiatives"]]
    headers = [c.value for c in ws[INITIATIVE_HEADER_ROW]][: len(form.initiative)]
    assert headers == [f.label for f in form.initiative]
    book = read_workbook(path, form)
    assert set(book.columns) == {f.key for f in form.initiative}
    assert set(book.unit) == {f.key for f in form.unit}


def test_pandera_schemas_have_one_column_per_field_and_a_check_per_rule(form, settings, roster):
    import datetime as dt

    import pandas as pd

    from pipeline.findings import Severity
    from pipeline.rules import RULES, Reference

    reference = Reference(settings, dt.date(2022, 6, 10), frozenset(u.code for u in roster))
    schemas = {
        (table, severity): build_schema(form, reference, table, severity, pd.DataFrame())
        for table in ("unit", "initiative")
        for severity in (Severity.ERROR, Severity.WARNING)
    }
    named = set()
    for table, fields in (("unit", form.unit), ("initiative", form.initiative)):
        errors = schemas[table, Severity.ERROR]
        assert set(errors.columns) == {f.key for f in fields}
        for f in fields:
            assert errors.columns[f.key].nullable is (not f.required), f.key
        for severity in (Severity.ERROR, Severity.WARNING):
            for column in schemas[table, severity].columns.values():
                named |= {(check.name, severity) for check in column.checks}
    expected = {
        (f"{rule.code.value}:{f.key}", rule.severity) for rule in RULES if rule.check for f in rule.fields(form)
    }
    assert named == expected


def test_every_label_is_nfc_and_every_list_value_unique(form):
    import unicodedata

    for f in (*form.unit, *form.initiative, *form.roster):
        for name in f.names:
            assert unicodedata.normalize("NFC", name) == name
        assert len(f.help) <= 255, f.key
    for name, values in form.lists.items():
        assert len(set(values)) == len(values), name


def test_every_code_has_one_message_and_is_documented_in_the_readme():
    from pipeline.findings import MESSAGES, Code
    from pipeline.rules import RULES
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rule_codes = [rule.code for rule in RULES]
    assert len(set(rule_codes)) == len(rule_codes)
    assert set(MESSAGES) | set(rule_codes) == set(Code) and not set(MESSAGES) & set(rule_codes)
    missing = [code.value for code in Code if f"`{code.value}`" not in readme]
    assert not missing


def _readme_rows(readme: str, first: str) -> str:
    return "\n".join(line for line in readme.splitlines() if line.startswith(f"| {first}"))


def test_every_rule_is_in_the_readmes_table_under_its_severity():
    from pipeline.findings import Severity
    from pipeline.rules import RULES
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {Severity.ERROR: _readme_rows(readme, "error, at a cell"), Severity.WARNING: _readme_rows(readme, "warning")}
    assert all(rows.values())
    misplaced = [(r.code.value, r.severity.value) for r in RULES if f"`{r.code.value}`" not in rows[r.severity]]
    assert misplaced == []


def _spec_rows() -> dict[str, str]:
    """The rows of the spec's tables of fields (§3.1, §3.2), by key."""
    from tests.conftest import SPEC

    rows = {}
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = [c for c in cells if c.isidentifier() and c.islower()]
        if line.startswith("|") and keys:
            rows[keys[0]] = line.strip()
    return rows


def _clause(match) -> str:
    """The clauses of the spec `match` spans: between the separators ";" and "|" around it."""
    text, start, end = match.string, match.start(), max(match.end(), match.start() + 1)
    begin = max(text.rfind(";", 0, start), text.rfind("|", 0, start)) + 1
    ends = [i for i in (text.find(";", end), text.find("|", end)) if i >= 0]
    return text[begin : min(ends, default=len(text))].strip()


@pytest.mark.corpus
def test_every_rule_is_the_specs_with_the_specs_severity(form):
    """Each rule's field row in bieu-mau.md states it (its numbers and lists are the form's), a
    warning where the spec says warning, an error otherwise; the required fields are the spec's."""
    import re

    from pipeline.findings import Severity
    from pipeline.rules import RULES
    from tests.conftest import SPEC

    rows = _spec_rows()
    text = SPEC.read_text(encoding="utf-8")
    across = next(p for p in text.split("\n\n") if p.startswith("Checks across rows and files"))
    assert {key for key, row in rows.items() if re.search(r"\|\s*yes\s*\|\s*$", row)} == {
        f.key for f in (*form.unit, *form.initiative) if f.required
    }
    wrong = []
    for rule in RULES:
        for f in rule.fields(form):
            places = [rows[f.key]] if rule.applies else [rows[f.key], across.replace("\n", " ")]
            pattern = rule.spec_pattern(f, form)
            found = [m for place in places if (m := re.search(pattern, place))]
            if not found:
                wrong.append((rule.code.value, f.key, "not in the spec"))
                continue
            clause = _clause(found[0])
            if ("warning" in clause) != (rule.severity is Severity.WARNING):
                wrong.append((rule.code.value, f.key, f"{rule.severity.value}, but the spec says: {clause}"))
    assert wrong == []


def test_every_package_and_template_is_installed_by_pip():
    """`pip install .` (the Windows way) must ship every subpackage, the report templates and the page's
    static files."""
    import tomllib

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = set(config["packages"])
    # Every folder of the package is listed: with __init__.py or holding only data (a setuptools
    # warning at every install otherwise, and an install that leaves it out).
    found = {
        ".".join(p.relative_to(ROOT).parts)
        for p in (ROOT / "pipeline").rglob("*")
        if p.is_dir() and "__pycache__" not in p.parts
    } | {"pipeline"}
    assert found == packages - {"schemas"}, found ^ (packages - {"schemas"})
    assert config["package-dir"] == {"": "."}  # a plain layout: an editable install warns of nothing
    shipped = config["package-data"]["pipeline.templates"]
    for template in (ROOT / "pipeline" / "templates").iterdir():
        if template.suffix in (".j2", ".docx"):
            assert f"*{template.suffix}" in shipped
    static = config["package-data"]["pipeline.web.static"]
    for path in (ROOT / "pipeline" / "web" / "static").iterdir():
        assert f"*{path.suffix}" in static, f"pipeline/web/static/{path.name} is not shipped"


def test_the_readme_lists_every_output_of_the_registry():
    """A new output is one module and one entry of `pipeline.outputs.OUTPUTS`; the README's table of
    outputs names each (and the CLI prints each by the registry's label)."""
    from pipeline.outputs import OUTPUTS
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Where outputs go", 1)[1].split("\n## ", 1)[0]
    for output in OUTPUTS:
        assert f"`outbox/{output.file}`" in table, output.file
    assert len({o.key for o in OUTPUTS}) == len(OUTPUTS) and len({o.file for o in OUTPUTS}) == len(OUTPUTS)


def _renamed_form(folder: Path):
    """form.toml with every field key renamed (and every reference to one: not_above, not_before,
    only_when, the worked example), loaded."""
    import re

    from pipeline.form import load_form
    from schemas import FORM_PATH

    form = load_form()
    keys = {f.key for f in (*form.unit, *form.initiative, *form.roster)}
    new = {key: f"cot_{key}_moi" for key in keys}
    quoted = "|".join(map(re.escape, keys))
    text = FORM_PATH.read_text(encoding="utf-8")
    text = re.sub(
        rf'^(\s*(?:key|not_above|not_before|not_after)\s*=\s*)"({quoted})"',
        lambda m: f'{m[1]}"{new[m[2]]}"',
        text,
        flags=re.M,
    )
    text = re.sub(rf'(field\s*=\s*)"({quoted})"', lambda m: f'{m[1]}"{new[m[2]]}"', text)
    head, _, example = text.partition("\n[example]\n")
    example, tail = re.split(r"\n(?=\[|# -)", example, maxsplit=1)
    example = re.sub(rf"^({quoted})(\s*=)", lambda m: f"{new[m[1]]}{m[2]}", example, flags=re.M)
    text = f"{head}\n[example]\n{example}\n{tail}"
    path = folder / "form.toml"
    path.write_text(text, encoding="utf-8")
    return load_form(path), new


def test_renaming_every_field_key_in_the_form_changes_nothing_else(tmp_path, form, settings):
    """The code asks the form for roles, never for keys: with every key renamed in form.toml, the
    demo runs to the same files, findings, totals and report, its dataset under the new keys."""
    import pandas as pd

    from pipeline import Period, run
    from pipeline.demo import build_demo

    renamed, new = _renamed_form(tmp_path)
    assert not {f.key for f in (*renamed.unit, *renamed.initiative, *renamed.roster)} & set(new)
    assert renamed.example and set(renamed.example) <= set(new.values())
    results = []
    for name, f in (("before", form), ("after", renamed)):
        demo = build_demo(tmp_path / name / "demo", settings, f, seed=7)
        results.append(run(Period(demo.settings, f, demo.roster)))
    before, after = results

    def seen(result):
        return [
            (r.name, r.status, r.unit_code, [(x.code, x.location.cell, x.field, x.message) for x in r.findings])
            for r in result.files
        ]

    assert seen(after) == seen(before) and after.totals == before.totals
    assert after.counts[Status.REJECTED] > 0 and after.totals["initiatives"] > 0
    html = [r.outputs["report_html"].read_text(encoding="utf-8") for r in (before, after)]
    assert html[1] == html[0]
    data = [pd.read_parquet(r.outputs["dataset_parquet"]) for r in (before, after)]
    assert set(new.values()) & set(data[1].columns) and not set(new) & set(data[1].columns)
    # The files' bytes differ (the workbooks are written anew), so do their hashes; nothing else.
    pd.testing.assert_frame_equal(
        data[1].drop(columns="sha256_nguon"), data[0].rename(columns=new).drop(columns="sha256_nguon")
    )


def _third_party_imports(folder: str) -> set[str]:
    """The top-level names of the modules that the Python files under `folder` import from outside
    the project and the standard library."""
    import ast
    import sys

    from tests.conftest import ROOT

    names: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("pipeline", "schemas", "tests", "bench")}


def test_every_imported_package_is_declared_with_a_lower_bound():
    """What `pipeline/` imports is in the dependencies (or in the extra of the feature that needs it),
    what the tests import in those or in the test extra; each with a lower bound. A package only
    installed as another one's dependency would go at that one's next release."""
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    from tests.conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def declared(requirements: list[str]) -> dict[str, Requirement]:
        parsed = [Requirement(r) for r in requirements]
        return {re.sub(r"[-_.]+", "-", r.name).lower(): r for r in parsed}

    runtime = declared(project["dependencies"])
    extras = {name: declared(reqs) for name, reqs in project["optional-dependencies"].items()}
    every = {**runtime, **{k: v for reqs in extras.values() for k, v in reqs.items()}}
    for requirement in every.values():
        assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), (
            f"no lower bound: {requirement}"
        )
    distributions = packages_distributions()

    def distribution(module: str) -> str:
        found = distributions.get(module)
        assert found, f"{module} is imported but no installed distribution provides it"
        return re.sub(r"[-_.]+", "-", found[0]).lower()

    for module in sorted(_third_party_imports("pipeline") | _third_party_imports("schemas")):
        name = distribution(module)
        assert name in runtime or any(name in reqs for reqs in extras.values() if reqs is not extras["test"]), (
            f"pipeline imports {module} ({name}): declare it in [project] dependencies"
        )
    for module in sorted(_third_party_imports("tests")):
        assert distribution(module) in every, f"the tests import {module}: declare it in the test extra"
