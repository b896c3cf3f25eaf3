"""The report model as one self-contained HTML page: `write_report_html(path, report)`.

The page renders the `Report` (`pipeline.report.model`) with `pipeline/templates/bao-cao.html.j2`
and jinja2, autoescaped and with undefined names as errors: the same header, sections, tables,
closing, signature and appendices as the DOCX, plus the charts. It needs nothing else: the CSS is
in the page, the charts are inline SVG (`pipeline.report.charts`), there is no script, and a
Content-Security-Policy forbids the browser to load anything, so that the file can be mailed,
opened on a phone or printed to A4 as it is. Every piece of text from the unions' files is
escaped by the template; the only markup inserted as is are the charts, whose text `charts`
escapes while building them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipeline.figures import Bar
from pipeline.files import atomic_path
from pipeline.merge import Reporting
from pipeline.report.charts import bars_svg, progress_svg, rate_svg, target_percent
from pipeline.report.model import Bullets, Cell, Chart, Column, Paragraph, Report, Row, Table

TEMPLATE = "bao-cao.html.j2"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"  # pipeline/templates
NUMERIC = ("no", "count", "percent", "money", "date")

ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _cells(row: Row, columns: Sequence[Column]) -> Iterator[tuple[Cell, str, int]]:
    """Each cell of a row with the kind of its column and how many columns it spans."""
    spans = row.span or (1,) * len(row.cells)
    i = 0
    for cell, span in zip(row.cells, spans, strict=True):
        yield cell, columns[i].kind if span == 1 else "text", span
        i += span


def _width_class(table: Table) -> str:
    """How wide the table needs to be before a phone scrolls it sideways."""
    n = len(table.columns)
    return "mid" if n <= 4 else "wide" if n <= 6 else "xwide" if n <= 8 else "xxwide"


ENV.tests.update(
    paragraph=lambda b: isinstance(b, Paragraph),
    bullets=lambda b: isinstance(b, Bullets),
    table=lambda b: isinstance(b, Table),
    chart=lambda b: isinstance(b, Chart),
)
ENV.filters.update(
    cells=_cells,
    width_class=_width_class,
    item=lambda text: text.removeprefix("- "),  # the page's list marks the items itself
)
ENV.globals.update(numeric=NUMERIC)

REPORTING_LABELS = {r: r.label for r in Reporting}


def charts(report: Report) -> dict[str, Markup]:
    """The report's charts as markup: each SVG is built from escaped text by `charts`."""
    figures = report.figures
    c = figures.charts
    counts = Counter(r.reporting for r in figures.units.rows)
    reporting = tuple(Bar(r.value, r.label, counts.get(r, 0)) for r in Reporting)
    titles = {b.key: b.title for b in report.blocks() if isinstance(b, Chart)}
    return {
        "progress": Markup(progress_svg(c.progress, titles.get("progress", ""), as_of=figures.as_of)),
        "by_sector": Markup(bars_svg(c.by_sector, titles.get("by_sector", ""))),
        "by_field": Markup(bars_svg(c.by_field, titles.get("by_field", ""))),
        "rate_by_unit": Markup(rate_svg(c.rate_by_unit, c.rate_target, titles.get("rate_by_unit", ""))),
        "reporting": Markup(bars_svg(reporting, titles.get("reporting", ""), empty="Chưa có CĐCS nào")),
    }


def render_report_html(report: Report) -> str:
    """The page as a string."""
    return ENV.get_template(TEMPLATE).render(report=report, charts=charts(report), target_percent=target_percent)


def write_report_html(path: Path, report: Report) -> Path:
    """Write the page to `path` (UTF-8, atomically) and return `path`."""
    text = render_report_html(report)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
