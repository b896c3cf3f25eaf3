"""The form is the one source: template, reader, pandera schemas and labels all derive from it."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from pipeline.findings import Code
from pipeline.read import read_workbook
from pipeline.template import INITIATIVE_HEADER_ROW, list_name, write_template
from pipeline.validate import validate
from schemas.tables import build_schemas


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


def test_pandera_schemas_have_one_column_per_field(form, settings, roster):
    schemas = build_schemas(form, settings, [u.code for u in roster])
    assert set(schemas.unit.columns) == {f.key for f in form.unit}
    assert {f.key for f in form.initiative} <= set(schemas.initiative.columns)
    for f in (*form.unit, *form.initiative):
        column = (schemas.unit if f in form.unit else schemas.initiative).columns[f.key]
        assert column.nullable is (not f.required), f.key


def test_every_label_is_nfc_and_every_list_value_unique(form):
    import unicodedata

    for f in (*form.unit, *form.initiative, *form.roster):
        for name in f.names:
            assert unicodedata.normalize("NFC", name) == name
        assert len(f.help) <= 255, f.key
    for name, values in form.lists.items():
        assert len(set(values)) == len(values), name


def test_every_rule_code_is_documented_in_the_readme():
    from pipeline.findings import MESSAGES, Code
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert set(MESSAGES) == set(Code)
    missing = [code.value for code in Code if f"`{code.value}`" not in readme]
    assert not missing


def test_every_package_and_template_is_installed_by_pip():
    """`pip install .` (the Windows way) must ship every subpackage and the report templates."""
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
