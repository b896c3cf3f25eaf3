"""Feedback stage: a union's .xlsx/.xlsm marked up by patching its package, without a round trip
through a spreadsheet library.

`Package(path)` opens the union's workbook and checks its structure; `Package.write(target, notes,
listing)` writes the marked-up copy: each noted cell filled in its colour (a new cell format derived
from the cell's own, so its number format, font, borders and alignment stay) with a comment, the rows
of a marked sheet as tall as their wrapped text, and a first sheet listing the findings, in the font
the workbook's cells are written in. Every other part is copied byte for byte. What no copy may carry
is left out, as the openpyxl copy leaves it out: formulas (a cell keeps the result its file saved),
macros, links to other workbooks, the calculation chain, custom ribbons and signatures.

A package this module does not handle raises `Unpatchable`, so that the caller makes the copy another
way: a relationship of a kind it does not know (pivot tables, data connections, controls, embedded
objects, Excel 4.0 macro sheets...), Strict OOXML, part names Excel would not write, XML it cannot
parse. Sheets are read as a stream, a few hundred rows at a time; the other parts it changes are
small. Every
XML parser here resolves no entity, loads no DTD, reaches no network and keeps libxml2's size limits
(the guard has refused any DOCTYPE before; a part that still has one is unpatchable).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import posixpath
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import unquote

from lxml import etree

from pipeline.render.feedback import AUTHOR, Listing, Note, parse_ref, quoted_sheet
from pipeline.render.fit import DEFAULT_WIDTH, chars_per_line, row_height, wrapped_lines
from pipeline.sheets import column_letter
from pipeline.template import FONT_NAME, FONT_SIZE

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_VML = "urn:schemas-microsoft-com:vml"
_OFFICE = "urn:schemas-microsoft-com:office:office"
_EXCEL = "urn:schemas-microsoft-com:office:excel"
_APP = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"
_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"

_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
_VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"
_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_MAIN_TYPES = {
    _MAIN_TYPE,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_VBA_TYPE = "application/vnd.ms-office.vbaProject"
_RELS_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
_REL_TYPE = f"{REL}/"  # + worksheet, comments, vmlDrawing

# Relationships by the last segment of their type. Kept: parts a plain workbook is made of, copied
# as they are. Dropped, with the parts only they reach: what the openpyxl copy never carried over.
# Any other kind makes the package unpatchable.
_KEPT = frozenset(
    [
        "officeDocument",
        "core-properties",
        "extended-properties",
        "custom-properties",
        "thumbnail",
        "worksheet",
        "chartsheet",
        "styles",
        "theme",
        "sharedStrings",
        "customXml",
        "customXmlProps",
        "sheetMetadata",
        "person",
        "drawing",
        "vmlDrawing",
        "comments",
        "table",
        "printerSettings",
        "hyperlink",
        "image",
        "chart",
        "chartUserShapes",
        "themeOverride",
        "chartStyle",
        "chartColorStyle",
        "diagramData",
        "diagramLayout",
        "diagramQuickStyle",
        "diagramColors",
        "diagramDrawing",
        "threadedComment",
        "classificationlabels",
    ]
)
_DROPPED = frozenset(
    [
        "vbaProject",
        "vbaProjectSignature",
        "vbaProjectSignatureAgile",
        "vbaProjectSignatureV3",
        "calcChain",
        "externalLink",
        "extensibility",
        "origin",
    ]
)
# Children of <worksheet> that come after <legacyDrawing> (ECMA-376 CT_Worksheet).
_AFTER_LEGACY = frozenset(
    ["legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst"]
)
# A worksheet part that holds a cell formula or a selected tab (or is UTF-16, where these bytes tell
# nothing) is rewritten; any other one not marked is copied as it is.
_REWRITE = re.compile(rb"<(?:\w+:)?f[\s>/]|tabSelected\s*=\s*[\"'](?:1|true)[\"']")
_UTF16 = (b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00")
# What a marked sheet is parsed for before it is written, when its bytes have any.
_SCANNED = re.compile(rb"<(?:\w+:)?(?:mergeCell|legacyDrawing|AlternateContent)[\s>/]")
_SAFE: dict[str, Any] = {"resolve_entities": False, "no_network": True, "huge_tree": False, "load_dtd": False}
_PARSER = etree.XMLParser(**_SAFE)
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_OWN_FONT_ROWS, _OWN_FONT_COLUMNS = 60, 30  # where the workbook's own font is looked for


class Unpatchable(Exception):
    """The package has a shape this module does not handle: make the copy another way."""


def q(tag: str) -> str:
    """A tag of SpreadsheetML's main namespace."""
    return f"{{{MAIN}}}{tag}"


def _parse(data: bytes, what: str) -> Any:
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as e:
        raise Unpatchable(f"{what}: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise Unpatchable(f"{what}: DOCTYPE")
    return root


def _serialise(root: Any, declaration: bool = True) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=declaration, encoding="UTF-8", standalone=declaration or None))


def xml_text(text: str) -> str:
    """Text as a part may hold it: characters XML 1.0 forbids written as Excel's _xHHHH_ escapes,
    and text that looks like one escaped itself."""
    text = _ESCAPE_LIKE.sub(r"_x005F_\1", text)
    return _ILLEGAL_XML.sub(lambda m: f"_x{ord(m[0]):04X}_", text)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _number(value: float) -> str:
    return f"{value:.10g}"


def _number_in(element: Any, name: str, default: float) -> float:
    """An attribute's number, `default` where there is none."""
    text = element.get(name)
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Unpatchable(f"{name}={text!r}")
    return number


# What a package may hold that no parse here lets through as such: a number out of range, a part
# that does not unpack, XML that lxml refuses past the first look.
_SHAPE_ERRORS = (ValueError, OverflowError, KeyError, zipfile.BadZipFile, etree.LxmlError)


# --- the package -------------------------------------------------------------------------------


@dataclass
class _Rel:
    id: str
    kind: str  # the type's last segment
    target: str | None  # the part's name in the zip; None for an external target
    element: Any


@dataclass
class _Rels:
    name: str  # the .rels part
    root: Any
    rels: list[_Rel]
    changed: bool = False

    def by_id(self, rid: str) -> _Rel | None:
        return next((r for r in self.rels if r.id == rid), None)

    def add(self, kind: str, target: str, source: str) -> str:
        used = {r.id for r in self.rels}
        n = len(used) + 1
        while f"rId{n}" in used:
            n += 1
        rid = f"rId{n}"
        element = etree.SubElement(self.root, f"{{{_PACKAGE_RELS}}}Relationship")
        element.set("Id", rid)
        element.set("Type", _REL_TYPE + kind)
        element.set("Target", _relative(source, target))
        self.rels.append(_Rel(rid, kind, target, element))
        self.changed = True
        return rid

    def drop(self, rel: _Rel) -> None:
        self.root.remove(rel.element)
        self.rels.remove(rel)
        self.changed = True


@dataclass
class _Sheet:
    name: str
    part: str
    kind: str  # worksheet | chartsheet
    element: Any


@dataclass
class _Plan:
    """What becomes of one worksheet part."""

    marks: dict[tuple[int, int], Note] = field(default_factory=dict)
    legacy_rid: str | None = None  # a <legacyDrawing r:id> to add
    fit: bool = False
    merges: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    # read from <cols> as the sheet is written
    widths: dict[int, float] = field(default_factory=dict)
    styles: dict[int, int] = field(default_factory=dict)  # column -> its default cell format
    spans: dict[tuple[int, int], float] = field(default_factory=dict)  # merged cell -> its width
    fonts: Counter[tuple[str, float]] = field(default_factory=Counter)  # of its top left corner


def _rels_name(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{base}.rels")


def _relative(source: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


def _free_name(taken: set[str], pattern: str) -> str:
    n = 1
    while pattern.format(n).lower() in taken:
        n += 1
    name = pattern.format(n)
    taken.add(name.lower())
    return name


class Package:
    """A union's .xlsx/.xlsm opened for patching. Raises `Unpatchable` for a shape it does not handle."""

    def __init__(self, path: Path) -> None:
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise Unpatchable(str(e)) from None
        try:
            self._read()
        except _SHAPE_ERRORS as e:
            self.zf.close()
            raise Unpatchable(repr(e)) from e
        except BaseException:
            self.zf.close()
            raise

    def __enter__(self) -> Package:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.zf.close()

    # reading

    def _read(self) -> None:
        self.infos = [i for i in self.zf.infolist() if not i.is_dir()]
        names = [i.filename for i in self.infos]
        if any("\\" in n or n.startswith("/") for n in names) or len({n.lower() for n in names}) != len(names):
            raise Unpatchable("part names")
        self.names = {n.lower(): n for n in names}
        self.types = self._xml("[Content_Types].xml")
        if self.types.tag != f"{{{_CONTENT_TYPES}}}Types":
            raise Unpatchable("content types")
        self.rels: dict[str, _Rels] = {}  # by source part ("" for the package)
        self.kept: set[str] = set()
        self.dropped: list[tuple[str, _Rel]] = []
        self._walk()
        main = [r.target for r in self.rels[""].rels if r.kind == "officeDocument"]
        if len(main) != 1 or main[0] is None or self.content_type(main[0]) not in _MAIN_TYPES:
            raise Unpatchable("no workbook")
        self.workbook = main[0]
        self.book = self._xml(self.workbook)
        if self.book.tag != q("workbook"):
            raise Unpatchable("not a transitional SpreadsheetML workbook")
        book_rels = self.rels.get(self.workbook)
        sheets = self.book.find(q("sheets"))
        if book_rels is None or sheets is None:
            raise Unpatchable("no sheets")
        self.sheets: list[_Sheet] = []
        for element in sheets.iterchildren(q("sheet")):
            rel = book_rels.by_id(element.get(f"{{{REL}}}id", ""))
            if rel is None or rel.target is None or rel.kind not in ("worksheet", "chartsheet"):
                raise Unpatchable("a sheet of another kind")
            self.sheets.append(_Sheet(element.get("name", ""), rel.target, rel.kind, element))
        styles = [r.target for r in book_rels.rels if r.kind == "styles" and r.target]
        if not styles:
            raise Unpatchable("no styles")
        self.styles_part = styles[0]
        strings = [r.target for r in book_rels.rels if r.kind == "sharedStrings" and r.target]
        self.strings_part = strings[0] if strings else None
        self._strings: list[str] | None = None
        self._blocks: set[int] | None = None

    @property
    def sheet_names(self) -> list[str]:
        return [s.name for s in self.sheets]

    def _part(self, name: str) -> str | None:
        return self.names.get(name.lower())

    def _xml(self, name: str) -> Any:
        actual = self._part(name)
        if actual is None:
            raise Unpatchable(f"no part {name}")
        return _parse(self.zf.read(actual), name)

    def _walk(self) -> None:
        """Every part the package's relationships reach, from its root; those of a dropped kind
        are left out, with what only they reach."""
        todo = [""]
        while todo:
            source = todo.pop()
            rels_name = self._part(_rels_name(source) if source else "_rels/.rels")
            if rels_name is None:
                continue
            root = self._xml(rels_name)
            found = _Rels(rels_name, root, [])
            for element in root.iterchildren(f"{{{_PACKAGE_RELS}}}Relationship"):
                kind = element.get("Type", "").rstrip("/").rsplit("/", 1)[-1]
                external = element.get("TargetMode") == "External"
                rel = _Rel(element.get("Id", ""), kind, None, element)
                found.rels.append(rel)
                if kind in _DROPPED:
                    self.dropped.append((source, rel))
                    continue
                if kind not in _KEPT:
                    raise Unpatchable(f"a relationship of kind {kind}")
                if kind == "hyperlink":
                    continue
                if external:
                    raise Unpatchable(f"an external {kind}")
                target = self._part(self._resolve(source, element.get("Target", "")))
                if target is None:
                    raise Unpatchable(f"a missing part ({kind})")
                rel.target = target
                if target not in self.kept:
                    self.kept.add(target)
                    todo.append(target)
            self.rels[source] = found
        for source, rel in self.dropped:
            self.rels[source].drop(rel)

    @staticmethod
    def _resolve(source: str, target: str) -> str:
        target = unquote(target.split("#", 1)[0])
        path = target[1:] if target.startswith("/") else posixpath.join(posixpath.dirname(source), target)
        path = posixpath.normpath(path)
        if path.startswith("..") or path in (".", ""):
            raise Unpatchable("a target outside the package")
        return path

    def content_type(self, part: str) -> str | None:
        for element in self.types.iterchildren(f"{{{_CONTENT_TYPES}}}Override"):
            if element.get("PartName", "").lstrip("/").lower() == part.lower():
                return str(element.get("ContentType"))
        extension = part.rsplit(".", 1)[-1].lower() if "." in part.rsplit("/", 1)[-1] else ""
        for element in self.types.iterchildren(f"{{{_CONTENT_TYPES}}}Default"):
            if element.get("Extension", "").lower() == extension:
                return str(element.get("ContentType"))
        return None

    def strings(self, index: int) -> str | None:
        """The shared string at `index` (read the first time one is asked for)."""
        if self._strings is None:
            self._strings = []
            if self.strings_part is not None:
                with self.zf.open(self.strings_part) as fh:
                    for _, si in _iterparse(fh, ("end",), q("si")):
                        self._strings.append(_rich_text(si))
                        _forget(si)
        return self._strings[index] if 0 <= index < len(self._strings) else None

    def _holds(self, part: str, pattern: re.Pattern[bytes]) -> bool:
        """Whether a part's bytes match `pattern` (read in chunks); a UTF-16 part always does."""
        tail = b""
        with self.zf.open(part) as fh:
            while chunk := fh.read(1 << 20):
                data = tail + chunk
                if (not tail and data.lstrip(b" \t\r\n").startswith(_UTF16)) or pattern.search(data):
                    return True
                tail = data[-64:]
        return False

    # writing

    def write(self, target: Path, notes: Mapping[tuple[str, str], Note], listing: Listing) -> None:
        """The marked-up copy into `target` (partly written when this raises `Unpatchable`)."""
        try:
            self._write(target, notes, listing)
        except _SHAPE_ERRORS as e:
            raise Unpatchable(repr(e)) from e

    def _write(self, target: Path, notes: Mapping[tuple[str, str], Note], listing: Listing) -> None:
        styles = _Styles(self._xml(self.styles_part))
        marks: dict[str, dict[tuple[int, int], Note]] = {}
        for (sheet_name, ref), note in notes.items():
            at = parse_ref(ref)
            sheet = next((s for s in self.sheets if s.name == sheet_name and s.kind == "worksheet"), None)
            if at is not None and sheet is not None:
                marks.setdefault(sheet.part, {})[at] = note
        taken = set(self.names)
        changed: dict[str, bytes] = {}  # parts written whole at the end, new or changed
        new_types: dict[str, str] = {}
        plans: dict[str, _Plan] = {}
        for sheet in self.sheets:
            if sheet.kind == "chartsheet":
                if self._holds(sheet.part, _REWRITE):
                    root = self._xml(sheet.part)
                    _unselect(root)
                    changed[sheet.part] = _serialise(root)
                continue
            own = marks.get(sheet.part, {})
            if own:
                plans[sheet.part] = self._plan(sheet, own, taken, changed, new_types)
            elif self._holds(sheet.part, _REWRITE):
                plans[sheet.part] = _Plan()

        sheet_part = _free_name(taken, posixpath.join(posixpath.dirname(self.workbook), "worksheets/sheet{}.xml"))
        new_types[sheet_part] = _WORKSHEET_TYPE
        title = _free_title(listing.sheet, self.sheet_names)
        self._add_sheet(title, sheet_part, changed)
        self._retitle_app(title, changed)
        kept_rels = {found.name for source, found in self.rels.items() if not source or source in self.kept}
        for found in self.rels.values():
            if found.changed:
                changed[found.name] = _serialise(found.root)
        output = {n for n in self.names.values() if n in self.kept or n in kept_rels}
        output |= set(changed) | {sheet_part, self.styles_part}
        changed["[Content_Types].xml"] = self._types(output, new_types)
        last = {*changed, self.styles_part, self.names["[content_types].xml"]}  # written after the sheets

        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for info in self.infos:
                name = info.filename
                if name not in output or name in last:
                    continue
                with self.zf.open(info) as src, out.open(_info(name, info.date_time), "w") as dst:
                    if name in plans:
                        _rewrite_sheet(src, dst, plans[name], styles, self.strings)
                    else:
                        shutil.copyfileobj(src, dst, 1 << 20)
            font = self._own_font(styles, plans)
            out.writestr(_info(sheet_part), _listing_sheet(listing, styles, font))
            changed[self.styles_part] = styles.serialise()
            for name, data in changed.items():
                out.writestr(_info(name), data)

    def _plan(
        self,
        sheet: _Sheet,
        marks: dict[tuple[int, int], Note],
        taken: set[str],
        changed: dict[str, bytes],
        new_types: dict[str, str],
    ) -> _Plan:
        """A marked sheet's plan, and its comments: merged into its comments part and its VML
        drawing, or new ones of its own."""
        plan = _Plan(marks=marks, fit=True)
        legacy: str | None = None
        alternate = False
        if self._holds(sheet.part, _SCANNED):  # only then worth a parse of its own
            tags = (q("mergeCell"), q("legacyDrawing"), f"{{{_MC}}}AlternateContent")
            with self.zf.open(sheet.part) as fh:
                for _, element in _iterparse(fh, ("end",), tags):
                    name = _local(element.tag)
                    if name == "mergeCell":
                        first, _, last = element.get("ref", "").partition(":")
                        a, b = parse_ref(first), parse_ref(last or first)
                        if a and b:
                            plan.merges.append((a, b))
                    elif name == "legacyDrawing":
                        legacy = element.get(f"{{{REL}}}id")
                    elif element.getparent() is not None and element.getparent().getparent() is None:
                        alternate = True
                    _forget(element)
        folder = posixpath.dirname(self.workbook)
        rels = self.rels.get(sheet.part)
        if rels is None:
            root = etree.Element(f"{{{_PACKAGE_RELS}}}Relationships", nsmap={None: _PACKAGE_RELS})
            rels = self.rels[sheet.part] = _Rels(_rels_name(sheet.part), root, [], changed=True)
        if any(r.kind == "threadedComment" for r in rels.rels):
            raise Unpatchable("threaded comments")
        comments = next((r for r in rels.rels if r.kind == "comments" and r.target), None)
        if comments is not None:
            assert comments.target is not None
            comments_part, root = comments.target, self._xml(comments.target)
        else:
            comments_part = _free_name(taken, posixpath.join(folder, "comments{}.xml"))
            root = None
            new_types[comments_part] = _COMMENTS_TYPE
            rels.add("comments", comments_part, sheet.part)
        changed[comments_part] = _serialise(_comments(root, marks))
        drawing = rels.by_id(legacy) if legacy else None
        if legacy and (drawing is None or drawing.target is None or drawing.kind != "vmlDrawing"):
            raise Unpatchable("a legacy drawing of another kind")
        if drawing is not None:
            assert drawing.target is not None
            vml_part, vml = drawing.target, self._xml(drawing.target)
        else:
            if alternate:
                raise Unpatchable("markup-compatibility content where the comments' drawing goes")
            vml_part, vml = _free_name(taken, posixpath.join(folder, "drawings/vmlDrawing{}.vml")), None
            new_types[vml_part] = _VML_TYPE
            plan.legacy_rid = rels.add("vmlDrawing", vml_part, sheet.part)
        changed[vml_part] = _serialise(_vml(vml, marks, self._vml_block()), declaration=False)
        return plan

    def _vml_block(self) -> int:
        """A block of shape ids (1024 each) that no other VML drawing of the package uses."""
        if self._blocks is None:
            self._blocks = {0}
            for name in self.kept:
                if name.lower().endswith(".vml"):
                    try:
                        root = _parse(self.zf.read(name), name)
                    except Unpatchable:
                        continue
                    for idmap in root.iter(f"{{{_OFFICE}}}idmap"):
                        self._blocks |= {int(n) for n in re.findall(r"\d+", idmap.get("data", ""))}
        block = max(self._blocks) + 1
        self._blocks.add(block)
        return block

    def _own_font(self, styles: _Styles, plans: Mapping[str, _Plan]) -> tuple[str, float] | None:
        """The font of most filled cells in the top left corner of the worksheets (counted as they
        were written, for those rewritten)."""
        seen: Counter[tuple[str, float]] = Counter()
        for sheet in self.sheets:
            if sheet.kind != "worksheet":
                continue
            if sheet.part in plans:
                seen.update(plans[sheet.part].fonts)
                continue
            with self.zf.open(sheet.part) as fh:
                last = 0
                for _, row in _iterparse(fh, ("end",), q("row")):
                    last = int(row.get("r") or last + 1)
                    if last > _OWN_FONT_ROWS:
                        break
                    _count_fonts(row, styles, seen)
                    _forget(row)
        return seen.most_common(1)[0][0] if seen else None

    def _add_sheet(self, title: str, part: str, changed: dict[str, bytes]) -> None:
        """The listing as the workbook's first sheet, its active one, with its print titles."""
        book, book_rels = self.book, self.rels[self.workbook]
        rid = book_rels.add("worksheet", part, self.workbook)
        sheets = book.find(q("sheets"))
        ids = [int(s.get("sheetId", "0")) for s in sheets.iterchildren(q("sheet")) if s.get("sheetId", "").isdigit()]
        element = etree.Element(q("sheet"), nsmap={"r": REL} if REL not in book.nsmap.values() else None)
        element.set("name", title)
        element.set("sheetId", str(max(ids, default=0) + 1))
        element.set(f"{{{REL}}}id", rid)
        sheets.insert(0, element)
        views = book.find(q("bookViews"))
        if views is None:
            views = etree.Element(q("bookViews"))
            sheets.addprevious(views)
        if not len(views):
            etree.SubElement(views, q("workbookView"))
        for view in views.iterchildren(q("workbookView")):
            view.set("activeTab", "0")
            if view.get("firstSheet") is not None:
                view.set("firstSheet", "0")
        if any(kind == "externalLink" for _, rel in self.dropped for kind in [rel.kind]):
            for references in book.findall(q("externalReferences")):
                book.remove(references)
        names = book.find(q("definedNames"))
        if names is None:
            names = etree.Element(q("definedNames"))
            before = [book.find(q(t)) for t in ("externalReferences", "functionGroups", "sheets")]
            next(e for e in before if e is not None).addnext(names)
        for name in names.iterchildren(q("definedName")):
            if (local := name.get("localSheetId", "")).isdigit():
                name.set("localSheetId", str(int(local) + 1))
        titles = etree.Element(q("definedName"))
        titles.set("name", "_xlnm.Print_Titles")
        titles.set("localSheetId", "0")
        titles.text = f"{quoted_sheet(title)}!$4:$4"
        names.insert(0, titles)
        changed[self.workbook] = _serialise(book)

    def _retitle_app(self, title: str, changed: dict[str, bytes]) -> None:
        """The added sheet among the titles docProps/app.xml lists, when it lists them as Excel does."""
        app = next((r.target for r in self.rels[""].rels if r.kind == "extended-properties" and r.target), None)
        if app is None:
            return
        root = self._xml(app)
        titles = root.find(f"{{{_APP}}}TitlesOfParts/{{{_VT}}}vector")
        pairs = root.find(f"{{{_APP}}}HeadingPairs/{{{_VT}}}vector")
        if titles is None or pairs is None:
            return
        variants = list(pairs.iterchildren(f"{{{_VT}}}variant"))
        counts = [v.find(f"{{{_VT}}}i4") for v in variants[1::2]]
        worksheets = len([s for s in self.sheets if s.kind == "worksheet"])
        if not counts or counts[0] is None or counts[0].text != str(worksheets) or len(titles) < worksheets:
            return
        counts[0].text = str(worksheets + 1)
        entry = etree.Element(f"{{{_VT}}}lpstr")
        entry.text = title
        titles.insert(0, entry)
        titles.set("size", str(len(titles)))
        changed[app] = _serialise(root)

    def _types(self, output: set[str], new: dict[str, str]) -> bytes:
        types = self.types
        for element in list(types.iterchildren(f"{{{_CONTENT_TYPES}}}Override")):
            part = self._part(element.get("PartName", "").lstrip("/"))
            if part is None or part not in output:
                types.remove(element)
            elif element.get("ContentType") in _MAIN_TYPES:
                element.set("ContentType", _MAIN_TYPE)
        for element in list(types.iterchildren(f"{{{_CONTENT_TYPES}}}Default")):
            if element.get("ContentType") == _VBA_TYPE:
                types.remove(element)
        for part, kind in new.items():
            element = etree.SubElement(types, f"{{{_CONTENT_TYPES}}}Override")
            element.set("PartName", f"/{part}")
            element.set("ContentType", kind)
        for part in output:
            if part.lower().endswith(".rels") and self.content_type(part) is None:  # Overrides for every part
                element = etree.SubElement(types, f"{{{_CONTENT_TYPES}}}Override")
                element.set("PartName", f"/{part}")
                element.set("ContentType", _RELS_TYPE)
            if part.lower() != "[content_types].xml" and self.content_type(part) is None:
                raise Unpatchable(f"no content type for {part}")
        return _serialise(types)


def _info(name: str, date_time: tuple[int, int, int, int, int, int] | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time or dt.datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _free_title(title: str, taken: Sequence[str]) -> str:
    """`title`, or `title1`, `title2`... as openpyxl names a sheet whose title is taken."""
    folded = {t.casefold() for t in taken}
    n, candidate = 0, title
    while candidate.casefold() in folded:
        n += 1
        candidate = f"{title}{n}"
    return candidate


def _unselect(root: Any) -> None:
    for view in root.iter(q("sheetView")):
        view.attrib.pop("tabSelected", None)


# --- reading XML as a stream -------------------------------------------------------------------


def _iterparse(source: IO[bytes], events: tuple[str, ...], tag: str | tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    checked = False
    try:
        for event, element in etree.iterparse(source, events=events, tag=tag, **_SAFE):
            if not checked:
                if element.getroottree().docinfo.doctype:
                    raise Unpatchable("DOCTYPE")
                checked = True
            yield event, element
    except etree.XMLSyntaxError as e:
        raise Unpatchable(str(e)) from None


def _forget(element: Any) -> None:
    """Free what a stream has read so far: `element`'s content and the siblings before it."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _count_fonts(row: Any, styles: _Styles, seen: Counter[tuple[str, float]]) -> None:
    """The fonts of a row's cells that have a value as openpyxl read them (the result of a formula,
    not the formula), in its first columns."""
    for value in row.iter(_V, _IS):
        cell = value.getparent()
        if cell.tag != _C or cell.getparent() is not row or (value.tag == _V and not value.text):
            continue
        if _column(cell) <= _OWN_FONT_COLUMNS:
            name, size, _ = styles.font_of(_style(cell))
            if name:
                seen[(name, size)] += 1


def _rich_text(element: Any) -> str:
    """The text of a string item (<si>, <is>): its runs, not its phonetic guides."""
    return "".join(t.text or "" for t in element.iter(q("t")) if _local(t.getparent().tag) != "rPh")


_C, _V, _IS = q("c"), q("v"), q("is")
_TEXT_TYPES = frozenset({"s", "inlineStr", "str", "e"})


def _cells(row: Any, keep: Callable[[Any], bool] | None = None) -> Iterator[tuple[int, Any]]:
    """A row's cells (those `keep` keeps) with their column numbers: a cell without a reference
    follows the one before."""
    ref, after = None, 0  # the last reference seen, and the cells since
    for cell in row.iterchildren(_C):
        own = cell.get("r")
        if own is not None:
            ref, after = own, 0
        else:
            after += 1
        if keep is None or keep(cell):
            at = parse_ref(ref) if ref is not None else (0, 0)
            if at is None:
                raise Unpatchable(f"cell reference {ref!r}")
            yield at[1] + after, cell


def _style(cell: Any) -> int:
    s = cell.get("s")
    return int(s) if s and s.isdigit() else 0


def _text(cell: Any, strings: Callable[[int], str | None]) -> str | None:
    kind = cell.get("t", "n")
    if kind == "s":
        v = (cell.findtext(q("v")) or "").strip()
        return strings(int(v)) if v.isdigit() else None
    if kind == "inlineStr":
        inline = cell.find(q("is"))
        return _rich_text(inline) if inline is not None else None
    if kind in ("str", "e"):
        return cell.findtext(q("v")) or None
    return None


# --- styles ------------------------------------------------------------------------------------


class _Styles:
    """The workbook's styles part: what the copy reads of its cell formats, and the formats it adds."""

    def __init__(self, root: Any) -> None:
        if root.tag != q("styleSheet"):
            raise Unpatchable("styles")
        self.root = root
        parts = {name: root.find(q(name)) for name in ("fonts", "fills", "cellXfs")}
        if any(part is None for part in parts.values()) or not len(parts["cellXfs"]) or not len(parts["fonts"]):
            raise Unpatchable("styles without fonts, fills or cell formats")
        self.fonts, self.fills, self.xfs = parts["fonts"], parts["fills"], parts["cellXfs"]
        self._fonts = [_font(f) for f in self.fonts.iterchildren(q("font"))]
        self._xfs = list(self.xfs.iterchildren(q("xf")))
        self._xf_fonts = [self._fonts_of(xf) for xf in self._xfs]
        self._wraps = [_wraps(xf) for xf in self._xfs]
        self._font_ids: dict[tuple[Any, ...], int] = {}
        self._fill_ids: dict[str, int] = {}
        self._xf_ids: dict[tuple[Any, ...], int] = {}
        self.has_cell_styles = root.find(q("cellStyleXfs")) is not None

    def _xf(self, index: int) -> Any:
        if not 0 <= index < len(self._xfs):
            raise Unpatchable(f"cell format {index} of {len(self._xfs)}")
        return self._xfs[index]

    def _fonts_of(self, xf: Any) -> tuple[str | None, float, bool]:
        font = xf.get("fontId", "0")
        number = int(font) if font.isdigit() else 0
        return self._fonts[number] if number < len(self._fonts) else (None, 11.0, False)

    def font_of(self, index: int) -> tuple[str | None, float, bool]:
        """The (name, size, bold) of a cell format's font."""
        if not 0 <= index < len(self._xf_fonts):
            raise Unpatchable(f"cell format {index} of {len(self._xfs)}")
        return self._xf_fonts[index]

    def wraps(self, index: int) -> bool:
        if not 0 <= index < len(self._wraps):
            raise Unpatchable(f"cell format {index} of {len(self._xfs)}")
        return self._wraps[index]

    def wrapped_text(self, data: Any) -> Iterator[Any]:
        """The cells of text in a wrapping format among the rows under `data`."""
        wraps = self._wraps
        for cell in data.iter(_C):
            if cell.get("t") in _TEXT_TYPES:
                s = cell.get("s")
                index = int(s) if s and s.isdigit() else 0
                if index >= len(wraps):
                    raise Unpatchable(f"cell format {index} of {len(wraps)}")
                if wraps[index]:
                    yield cell

    def highlighted(self, index: int, colour: str) -> int:
        """A cell format like `index` filled with `colour`."""
        key = ("fill", index, colour)
        if key not in self._xf_ids:
            xf = copy.deepcopy(self._xf(index))
            xf.set("fillId", str(self._fill(colour)))
            xf.set("applyFill", "1")
            self._xf_ids[key] = self._append_xf(xf)
        return self._xf_ids[key]

    def added(
        self, face: str, size: float, *, bold: bool = False, italic: bool = False, colour: str | None = None,
        underline: bool = False, fill: str | None = None, wrap: str | None = None,
    ) -> int:  # fmt: skip
        """A cell format of our own: a font, maybe a fill, maybe wrapped text aligned `wrap`."""
        key = ("own", face, size, bold, italic, colour, underline, fill, wrap)
        if key not in self._xf_ids:
            xf = etree.Element(q("xf"))
            attributes = {"numFmtId": "0", "fontId": str(self._font(face, size, bold, italic, colour, underline)),
                          "fillId": str(self._fill(fill) if fill else 0), "borderId": "0"}  # fmt: skip
            for name, value in attributes.items():
                xf.set(name, value)
            if self.has_cell_styles:
                xf.set("xfId", "0")
            xf.set("applyFont", "1")
            if fill:
                xf.set("applyFill", "1")
            if wrap:
                xf.set("applyAlignment", "1")
                etree.SubElement(xf, q("alignment"), vertical=wrap, wrapText="1")
            self._xf_ids[key] = self._append_xf(xf)
        return self._xf_ids[key]

    def _append_xf(self, xf: Any) -> int:
        self.xfs.append(xf)
        self._xfs.append(xf)
        self._xf_fonts.append(self._fonts_of(xf))
        self._wraps.append(_wraps(xf))
        self.xfs.set("count", str(len(self._xfs)))
        return len(self._xfs) - 1

    def _fill(self, colour: str) -> int:
        if colour not in self._fill_ids:
            fill = etree.SubElement(self.fills, q("fill"))
            pattern = etree.SubElement(fill, q("patternFill"), patternType="solid")
            etree.SubElement(pattern, q("fgColor"), rgb=f"FF{colour}")
            etree.SubElement(pattern, q("bgColor"), rgb=f"FF{colour}")
            self.fills.set("count", str(len(self.fills)))
            self._fill_ids[colour] = len(self.fills) - 1
        return self._fill_ids[colour]

    def _font(self, face: str, size: float, bold: bool, italic: bool, colour: str | None, underline: bool) -> int:
        key = (face, size, bold, italic, colour, underline)
        if key not in self._font_ids:
            font = etree.SubElement(self.fonts, q("font"))
            if bold:
                etree.SubElement(font, q("b"))
            if italic:
                etree.SubElement(font, q("i"))
            if underline:
                etree.SubElement(font, q("u"))
            etree.SubElement(font, q("sz"), val=_number(size))
            if colour:
                etree.SubElement(font, q("color"), rgb=f"FF{colour}")
            etree.SubElement(font, q("name"), val=face)
            self.fonts.set("count", str(len(self.fonts)))
            self._fonts.append((face, size, bold))
            self._font_ids[key] = len(self.fonts) - 1
        return self._font_ids[key]

    def serialise(self) -> bytes:
        return _serialise(self.root)


def _wraps(xf: Any) -> bool:
    alignment = xf.find(q("alignment"))
    return alignment is not None and alignment.get("wrapText") in ("1", "true")


def _font(element: Any) -> tuple[str | None, float, bool]:
    name, size, bold = element.find(q("name")), element.find(q("sz")), element.find(q("b"))
    try:
        points = float(size.get("val")) if size is not None and size.get("val") else 11.0
    except ValueError:
        points = 11.0
    if not 1 <= points <= 409:
        points = 11.0
    return (
        name.get("val") if name is not None else None,
        points or 11.0,
        bold is not None and bold.get("val", "1") in ("1", "true"),
    )


# --- a worksheet, row by row -------------------------------------------------------------------


def _prefixed(element: Any) -> str:
    return f"{element.prefix}:{_local(element.tag)}" if element.prefix else _local(element.tag)


def _rewrite_sheet(
    src: IO[bytes], out: IO[bytes], plan: _Plan, styles: _Styles, strings: Callable[[int], str | None]
) -> None:
    """One worksheet part, as a stream of rows (`_BATCH` at a time): formulas out (each cell keeps
    its saved result), the marked cells (created where the sheet has none) in their highlighted
    formats, rows of wrapped text tall enough, no tab selected, and the <legacyDrawing> of the
    comments in its place."""
    batch = _Batch(plan, styles, strings)
    writer: _SheetWriter | None = None
    data: Any = None
    last = held = 0
    for event, element in _iterparse(src, ("start", "end"), (_SHEET_DATA, _ROW)):
        if writer is None:
            root = element.getroottree().getroot()
            if root.tag != q("worksheet"):
                raise Unpatchable("not a worksheet")
            writer = _SheetWriter(out, root, needs_r=plan.legacy_rid is not None)
        if element.tag == _SHEET_DATA:
            if event == "start":
                if data is not None or element.getparent() is not root:
                    raise Unpatchable("sheet data twice")
                data = element
                for child in root:
                    if child is element:
                        break
                    if child.tag == q("cols"):
                        _read_columns(child, plan)
                    writer.element(_top(child, plan))
                for a, b in plan.merges:
                    plan.spans[a] = sum(plan.widths.get(c) or DEFAULT_WIDTH for c in range(a[1], b[1] + 1))
                writer.open(element)
            else:
                batch.flush(data, final=True)
                writer.rows(data)
                writer.close(element)
            continue
        if event != "end" or element.getparent() is not data:
            continue
        r = int(element.get("r") or last + 1)
        if not last < r <= 1_048_576:
            raise Unpatchable("rows out of order")
        element.set("r", str(r))
        last, held = r, held + 1
        if held >= _BATCH:
            batch.flush(data, final=False)
            writer.rows(data)
            del data[:]
            held = 0
    if writer is None or data is None:
        raise Unpatchable("no sheet data")
    legacy_written = plan.legacy_rid is None
    after = False
    for child in root:
        if child is data:
            after = True
            continue
        if not after:
            continue
        if not legacy_written and _local(child.tag) in _AFTER_LEGACY:
            writer.element(writer.legacy(plan.legacy_rid))
            legacy_written = True
        writer.element(_top(child, plan))
    if not legacy_written:
        writer.element(writer.legacy(plan.legacy_rid))
    writer.finish()


_BATCH = 256  # rows of a sheet held at once
_SHEET_DATA, _ROW, _F = q("sheetData"), q("row"), q("f")


class _Batch:
    """What becomes of the rows of a sheet held at once, under its <sheetData>."""

    def __init__(self, plan: _Plan, styles: _Styles, strings: Callable[[int], str | None]) -> None:
        self.plan, self.styles, self.strings = plan, styles, strings
        self.by_row: dict[int, dict[int, Note]] = {}
        for (r, c), note in plan.marks.items():
            self.by_row.setdefault(r, {})[c] = note
        self.pending = sorted(self.by_row)  # marked rows not met yet

    def flush(self, data: Any, final: bool) -> None:
        plan, styles = self.plan, self.styles
        rows = [row for row in data.iterchildren(_ROW)]
        for row in rows:
            r = int(row.get("r"))
            while self.pending and self.pending[0] < r:
                row.addprevious(self._new_row(self.pending.pop(0), data))
            if self.pending and self.pending[0] == r:
                self.pending.pop(0)
            if r in self.by_row:
                _mark_row(row, r, self.by_row[r], plan, styles)
        if final:
            for r in self.pending:
                data.append(self._new_row(r, data))
            self.pending = []
        for formula in list(data.iter(_F)):
            _drop_formula(formula)
        for row in rows:
            if int(row.get("r")) > _OWN_FONT_ROWS:
                break
            _count_fonts(row, styles, plan.fonts)
        if plan.fit:
            self._fit(data)

    def _new_row(self, r: int, data: Any) -> Any:
        row = etree.SubElement(data, _ROW)  # in the sheet's namespaces; the caller puts it in its place
        row.set("r", str(r))
        marks = self.by_row[r]
        for column in sorted(marks):
            cell = etree.SubElement(row, _C)
            cell.set("r", f"{column_letter(column - 1)}{r}")
            cell.set("s", str(self.styles.highlighted(self.plan.styles.get(column, 0), marks[column].fill)))
        return row

    def _fit(self, data: Any) -> None:
        """Each row at least as tall as its wrapped text (as `feedback.fit_wrapped_rows` has it)."""
        plan, styles = self.plan, self.styles
        needed: dict[int, tuple[Any, float]] = {}
        for cell in styles.wrapped_text(data):
            text = _text(cell, self.strings)
            if text is None:
                continue
            row, style, column = cell.getparent(), _style(cell), _column(cell)
            r = int(row.get("r"))
            _, size, bold = styles.font_of(style)
            width = plan.spans.get((r, column)) or plan.widths.get(column) or DEFAULT_WIDTH
            height = row_height(wrapped_lines(text, chars_per_line(width, size, bold=bold)), size)
            if height > needed.get(r, (None, 0.0))[1]:
                needed[r] = (row, height)
        for row, height in needed.values():
            try:
                short = row.get("ht") is None or float(row.get("ht")) < height
            except ValueError:
                short = True
            if short:
                row.set("ht", _number(height))
                row.set("customHeight", "1")


def _column(cell: Any) -> int:
    """A cell's column number, from its reference or its place in its row."""
    at = parse_ref(cell.get("r", ""))
    if at is not None:
        return at[1]
    return next(column for column, other in _cells(cell.getparent()) if other is cell)


class _SheetWriter:
    def __init__(self, out: IO[bytes], root: Any, needs_r: bool) -> None:
        nsmap = dict(root.nsmap)
        self.r_prefix = next((p for p, u in nsmap.items() if u == REL and p), None)
        if needs_r and self.r_prefix is None:
            self.r_prefix = next(p for p in ("r", *(f"r{n}" for n in range(1, 100))) if p not in nsmap)
            nsmap[self.r_prefix] = REL
        self.out, self.nsmap = out, nsmap
        shell = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=nsmap)
        self.end = f"</{_prefixed(shell)}>".encode()
        self._declared = [(f' xmlns:{p}="{u}"' if p else f' xmlns="{u}"').encode() for p, u in nsmap.items()]
        out.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
        out.write(bytes(etree.tostring(shell, encoding="UTF-8"))[: -len(b"/>")] + b">")

    def _bare(self, element: Any) -> bytes:
        data = bytes(etree.tostring(element, encoding="UTF-8", with_tail=False))
        end = data.index(b">")
        head = data[:end]
        for declaration in self._declared:
            head = head.replace(declaration, b"", 1)
        return head + data[end:]

    def element(self, element: Any) -> None:
        self.out.write(self._bare(element))

    def open(self, element: Any) -> None:
        shell = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=self.nsmap)
        data = self._bare(shell)
        self.out.write(data[: -len(b"/>")] + b">" if data.endswith(b"/>") else data[: data.rindex(b"</")])

    def rows(self, data: Any) -> None:
        """The rows under <sheetData>, without it."""
        if len(data):
            blob = bytes(etree.tostring(data, encoding="UTF-8", with_tail=False))
            self.out.write(blob[blob.index(b">") + 1 : blob.rindex(b"</")])

    def close(self, element: Any) -> None:
        shell = etree.Element(element.tag, nsmap=self.nsmap)
        self.out.write(f"</{_prefixed(shell)}>".encode())

    def legacy(self, rid: str | None) -> Any:
        element = etree.Element(q("legacyDrawing"), nsmap=self.nsmap)
        element.set(f"{{{REL}}}id", rid or "")
        return element

    def finish(self) -> None:
        self.out.write(self.end)


def _read_columns(cols: Any, plan: _Plan) -> None:
    """The widths and default formats of the columns (<col min max width style>)."""
    for col in cols.iterchildren(q("col")):
        low, high = _number_in(col, "min", 0), _number_in(col, "max", 0)
        width, style = _number_in(col, "width", 0.0), _number_in(col, "style", 0)
        for c in range(max(int(low), 1), min(int(high), 16_384) + 1):
            if width:
                plan.widths[c] = width
            if style:
                plan.styles[c] = int(style)


def _top(child: Any, plan: _Plan) -> Any:
    """A child of <worksheet> other than its data, as the copy has it."""
    name = _local(child.tag)
    if name == "sheetViews":
        _unselect(child)
    elif name == "dimension" and plan.marks:
        first, _, last = child.get("ref", "").partition(":")
        a, b = parse_ref(first), parse_ref(last or first)
        if a and b:
            rows = [a[0], b[0], *(r for r, _ in plan.marks)]
            columns = [a[1], b[1], *(c for _, c in plan.marks)]
            child.set(
                "ref", f"{column_letter(min(columns) - 1)}{min(rows)}:{column_letter(max(columns) - 1)}{max(rows)}"
            )
    return child


def _mark_row(row: Any, r: int, marks: dict[int, Note], plan: _Plan, styles: _Styles) -> None:
    """A row's marked cells in their highlighted formats, those it lacks created in column order."""
    cells = list(_cells(row))
    for column, cell in cells:
        cell.set("r", f"{column_letter(column - 1)}{r}")
    present = {column: cell for column, cell in cells}
    own = row.get("customFormat") in ("1", "true") and row.get("s", "").isdigit()
    default = int(row.get("s")) if own else -1  # the row's format, for the cells it has not
    for column in sorted(marks):
        cell = present.get(column)
        if cell is None:
            base = default if default >= 0 else plan.styles.get(column, 0)
            cell = etree.SubElement(row, _C)  # in the row's namespaces, then in its place
            cell.set("r", f"{column_letter(column - 1)}{r}")
            later = next((c for col, c in cells if col > column), None)
            if later is not None:
                later.addprevious(cell)
            row.attrib.pop("spans", None)
        else:
            base = _style(cell)
        cell.set("s", str(styles.highlighted(base, marks[column].fill)))


def _drop_formula(formula: Any) -> None:
    """A cell without its formula: the result its file saved, or nothing where it saved none."""
    cell = formula.getparent()
    cell.remove(formula)
    cell.attrib.pop("cm", None)
    value = cell.find(q("v"))
    if value is None or not value.text:
        if value is not None:
            cell.remove(value)
        cell.attrib.pop("t", None)
    elif cell.get("t") == "str":
        inline = etree.SubElement(cell, q("is"))
        etree.SubElement(inline, q("t")).text = value.text
        _preserve(inline[0])
        value.addprevious(inline)
        cell.remove(value)
        cell.set("t", "inlineStr")


def _preserve(t: Any) -> None:
    if t.text and (t.text != t.text.strip() or "\n" in t.text):
        t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")


# --- comments ----------------------------------------------------------------------------------


def _comments(root: Any, marks: Mapping[tuple[int, int], Note]) -> Any:
    """A sheet's comments part with ours: a cell's own comment is replaced by ours, the others kept."""
    if root is None:
        root = etree.Element(q("comments"), nsmap={None: MAIN})
    elif root.tag != q("comments"):
        raise Unpatchable("comments")
    authors = root.find(q("authors"))
    if authors is None:
        authors = etree.Element(q("authors"))
        root.insert(0, authors)
    names = [a.text or "" for a in authors.iterchildren(q("author"))]
    if AUTHOR not in names:
        etree.SubElement(authors, q("author")).text = AUTHOR
        names.append(AUTHOR)
    author = str(names.index(AUTHOR))
    listed = root.find(q("commentList"))
    if listed is None:
        listed = etree.Element(q("commentList"))
        authors.addnext(listed)
    for comment in list(listed.iterchildren(q("comment"))):
        if parse_ref(comment.get("ref", "")) in marks:
            listed.remove(comment)
    for (r, c), note in marks.items():
        comment = etree.SubElement(listed, q("comment"), ref=f"{column_letter(c - 1)}{r}", authorId=author)
        t = etree.SubElement(etree.SubElement(comment, q("text")), q("t"))
        t.text = xml_text(note.text)
        _preserve(t)
    ordered = sorted(listed, key=lambda e: parse_ref(e.get("ref", "")) or (1 << 30, 0))
    listed[:] = ordered
    return root


def _vml(root: Any, marks: Mapping[tuple[int, int], Note], block: int) -> Any:
    """A sheet's VML drawing with a note shape for each of our comments (as openpyxl draws them)."""
    if root is None:
        root = etree.Element("xml", nsmap={"v": _VML, "o": _OFFICE, "x": _EXCEL})
        layout = etree.SubElement(root, f"{{{_OFFICE}}}shapelayout", {f"{{{_VML}}}ext": "edit"})
        etree.SubElement(layout, f"{{{_OFFICE}}}idmap", {f"{{{_VML}}}ext": "edit", "data": str(block)})
    if root.find(f"{{{_VML}}}shapetype[@id='_x0000_t202']") is None:
        shape_type = etree.SubElement(
            root, f"{{{_VML}}}shapetype",
            {"id": "_x0000_t202", "coordsize": "21600,21600", f"{{{_OFFICE}}}spt": "202",
             "path": "m,l,21600r21600,l21600,xe"},
        )  # fmt: skip
        etree.SubElement(shape_type, f"{{{_VML}}}stroke", joinstyle="miter")
        etree.SubElement(shape_type, f"{{{_VML}}}path", {"gradientshapeok": "t", f"{{{_OFFICE}}}connecttype": "rect"})
    drawn: set[tuple[int, int]] = set()
    numbers = [block * 1024]
    for shape in root.iter(f"{{{_VML}}}shape"):
        numbers += [int(n) for n in re.findall(r"_s(\d+)$", shape.get("id", ""))]
        data = shape.find(f"{{{_EXCEL}}}ClientData")
        if data is not None and data.get("ObjectType") == "Note":
            row, column = data.findtext(f"{{{_EXCEL}}}Row"), data.findtext(f"{{{_EXCEL}}}Column")
            if row and column and row.strip().isdigit() and column.strip().isdigit():
                drawn.add((int(row) + 1, int(column) + 1))
    number = max(numbers) + 1
    for (r, c), note in sorted(marks.items()):
        if (r, c) in drawn:
            continue
        root.append(_note_shape(r, c, note, f"_x0000_s{number:04d}"))
        number += 1
    return root


def _note_shape(r: int, c: int, note: Note, shape_id: str) -> Any:
    style = (
        f"position:absolute; margin-left:59.25pt;margin-top:1.5pt;width:{note.width}px;"
        f"height:{note.height}px;z-index:1;visibility:hidden"
    )
    shape = etree.Element(
        f"{{{_VML}}}shape",
        {"id": shape_id, "type": "#_x0000_t202", "style": style, "fillcolor": "#ffffe1",
         f"{{{_OFFICE}}}insetmode": "auto"},
    )  # fmt: skip
    etree.SubElement(shape, f"{{{_VML}}}fill", color2="#ffffe1")
    etree.SubElement(shape, f"{{{_VML}}}shadow", color="black", obscured="t")
    etree.SubElement(shape, f"{{{_VML}}}path", {f"{{{_OFFICE}}}connecttype": "none"})
    box = etree.SubElement(shape, f"{{{_VML}}}textbox", style="mso-direction-alt:auto")
    etree.SubElement(box, "div", style="text-align:left")
    data = etree.SubElement(shape, f"{{{_EXCEL}}}ClientData", ObjectType="Note")
    etree.SubElement(data, f"{{{_EXCEL}}}MoveWithCells")
    etree.SubElement(data, f"{{{_EXCEL}}}SizeWithCells")
    etree.SubElement(data, f"{{{_EXCEL}}}AutoFill").text = "False"
    etree.SubElement(data, f"{{{_EXCEL}}}Row").text = str(r - 1)
    etree.SubElement(data, f"{{{_EXCEL}}}Column").text = str(c - 1)
    return shape


# --- the listing -------------------------------------------------------------------------------


def _listing_sheet(listing: Listing, styles: _Styles, font: tuple[str, float] | None) -> bytes:
    """The listing sheet's part: inline strings, the workbook's own font, rows fitted to their text."""
    face, size = font or (FONT_NAME, FONT_SIZE)
    title = styles.added(face, size + 2, bold=True, colour=listing.title_colour)
    summary = styles.added(face, size, italic=True)
    header = styles.added(face, size, bold=True, fill=listing.header_fill, wrap="center")
    plain = styles.added(face, size, wrap="top")
    link = styles.added(face, size, colour=listing.link_colour, underline=True, wrap="top")
    root = etree.Element(q("worksheet"), nsmap={None: MAIN, "r": REL})
    properties = etree.SubElement(root, q("sheetPr"))
    etree.SubElement(properties, q("pageSetUpPr"), fitToPage="1")
    last = max(4, 4 + len(listing.rows))
    etree.SubElement(root, q("dimension"), ref=f"A1:{column_letter(len(listing.headers) - 1)}{last}")
    views = etree.SubElement(root, q("sheetViews"))
    view = etree.SubElement(views, q("sheetView"), tabSelected="1", workbookViewId="0")
    etree.SubElement(view, q("pane"), ySplit="4", topLeftCell="A5", activePane="bottomLeft", state="frozen")
    etree.SubElement(view, q("selection"), pane="bottomLeft", activeCell="A5", sqref="A5")
    etree.SubElement(root, q("sheetFormatPr"), defaultRowHeight="15")
    columns = etree.SubElement(root, q("cols"))
    for c, width in enumerate(listing.widths, start=1):
        etree.SubElement(columns, q("col"), min=str(c), max=str(c), width=_number(width), customWidth="1")
    data = etree.SubElement(root, q("sheetData"))

    def put(row: Any, r: int, c: int, value: str | int | float, style: int) -> None:
        cell = etree.SubElement(row, q("c"), r=f"{column_letter(c - 1)}{r}", s=str(style))
        if value == "":
            return  # a blank cell in its format
        if isinstance(value, str):
            cell.set("t", "inlineStr")
            t = etree.SubElement(etree.SubElement(cell, q("is")), q("t"))
            t.text = xml_text(value)
            _preserve(t)
        elif isinstance(value, bool):
            cell.set("t", "b")
            etree.SubElement(cell, q("v")).text = "1" if value else "0"
        else:
            etree.SubElement(cell, q("v")).text = repr(value)

    put(etree.SubElement(data, q("row"), r="1"), 1, 1, listing.title, title)
    put(etree.SubElement(data, q("row"), r="2"), 2, 1, listing.summary, summary)
    row = etree.SubElement(data, q("row"), r="4")
    for c, text in enumerate(listing.headers, start=1):
        put(row, 4, c, text, header)
    links = []
    severity_styles: dict[str, int] = {}
    for i, entry in enumerate(listing.rows):
        r = 5 + i
        row = etree.SubElement(data, q("row"), r=str(r))
        needed = 0.0
        for c, value in enumerate(entry.values, start=1):
            style = plain
            if c == listing.fill_column:
                if entry.fill not in severity_styles:
                    severity_styles[entry.fill] = styles.added(face, size, fill=entry.fill, wrap="top")
                style = severity_styles[entry.fill]
            elif c == listing.link_column and entry.link is not None:
                style = link
            put(row, r, c, value, style)
            if isinstance(value, str) and c <= len(listing.widths):
                needed = max(
                    needed, row_height(wrapped_lines(value, chars_per_line(listing.widths[c - 1], size)), size)
                )
        if needed:
            row.set("ht", _number(needed))
            row.set("customHeight", "1")
        if entry.link is not None:
            sheet, cell = entry.link
            ref = f"{column_letter(listing.link_column - 1)}{r}"
            links.append((ref, f"{quoted_sheet(sheet)}!{cell}", str(entry.values[listing.link_column - 1])))
    if links:
        hyperlinks = etree.SubElement(root, q("hyperlinks"))
        for ref, location, display in links:
            etree.SubElement(hyperlinks, q("hyperlink"), ref=ref, location=location, display=xml_text(display))
    etree.SubElement(root, q("pageMargins"), left="0.75", right="0.75", top="1", bottom="1", header="0.5", footer="0.5")
    etree.SubElement(root, q("pageSetup"), paperSize="9", orientation="landscape", fitToWidth="1", fitToHeight="0")
    return _serialise(root)


__all__ = ["Package", "Unpatchable"]
