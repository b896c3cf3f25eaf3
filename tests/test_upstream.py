"""Known limits of the readers we depend on, kept as minimal reproducers for their maintainers.

python-calamine refuses an .ods whose content.xml has whitespace between the cells of a row (as
Gnumeric writes every .ods): docs/upstream/calamine-ods-whitespace.md. The test of that limit is a
strict xfail: the day a calamine release reads the file, it passes, and so fails, to tell us to
update the write-up and this file.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from python_calamine import CalamineError, CalamineWorkbook

from tests.conftest import ROOT

WRITE_UP = ROOT / "docs" / "upstream" / "calamine-ods-whitespace.md"
MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
  <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
  <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""
CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
  <office:body>
    <office:spreadsheet>
      <table:table table:name="Sheet1">
        <table:table-row>
          <table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell>
          <table:table-cell office:value-type="float" office:value="2"><text:p>2</text:p></table:table-cell>
        </table:table-row>
      </table:table>
    </office:spreadsheet>
  </office:body>
</office:document-content>
"""  # noqa: E501 - as in the write-up
EXPECTED = [["a", 2.0]]
KNOWN_LIMIT = "python-calamine refuses whitespace between table:table-cell elements (docs/upstream/)"


def indented_ods(path: Path, content: str = CONTENT) -> Path:
    """The reproducer: three parts, the mimetype first and stored."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", MANIFEST, zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def test_the_write_up_shows_this_reproducer() -> None:
    text = WRITE_UP.read_text(encoding="utf-8")
    blocks = re.findall(r"```xml\n(.*?)```", text, re.S)
    assert blocks == [MANIFEST, CONTENT]
    assert "Expecting 'table-cell', found 'Text(BytesText" in text


@pytest.mark.xfail(strict=True, raises=CalamineError, reason=KNOWN_LIMIT)
def test_known_limit_calamine_reads_an_ods_with_whitespace_between_cells(tmp_path: Path) -> None:
    path = indented_ods(tmp_path / "indented.ods")
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except CalamineError as exc:
        # The failure as reported upstream; any other failure is not the known limit.
        assert re.fullmatch(r"Expecting 'table-cell', found 'Text\(BytesText \{ content: .*\}\)'", str(exc), re.S)
        raise
    assert workbook.get_sheet_by_name("Sheet1").to_python() == EXPECTED


def test_calamine_reads_the_same_file_without_the_whitespace(tmp_path: Path) -> None:
    """The whitespace alone is the cause."""
    compact = re.sub(r">\s+<", "><", CONTENT)
    path = indented_ods(tmp_path / "compact.ods", compact)
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Sheet1").to_python() == EXPECTED


def test_the_second_reader_reads_it(tmp_path: Path) -> None:
    """Meanwhile such a file is read by the second reader (pipeline/fallback.py), with the right values."""
    from pipeline.fallback import READERS, read_either

    got = read_either(indented_ods(tmp_path / "indented.ods"))
    assert got.reader == READERS["ods"]
    assert got.sheets == {"Sheet1": EXPECTED}
    assert [type(v) for v in got.sheets["Sheet1"][0]] == [str, float]
