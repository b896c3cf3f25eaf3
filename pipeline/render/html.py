"""The consolidated report as one self-contained HTML page: `write_report_html(path, figures, settings)`.

The page is the report of spec §5 (header, title, opening, sections I–III, the completeness of the
period, appendices I–III and the files the figures come from) rendered from
`pipeline/templates/bao-cao.html.j2` with jinja2, autoescaped and with undefined names as errors. It needs
nothing else: the CSS is in the page, the charts are inline SVG (`charts`), there is no script, and
a Content-Security-Policy forbids the browser to load anything, so that the file can be mailed,
opened on a phone or printed to A4 as it is.

Every number is written by `numbers` (Vietnamese style). Every piece of text from the unions'
files is escaped by the template; the only markup inserted as is are the charts, whose text
`charts` escapes while building them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipeline import numbers
from pipeline.config import Settings
from pipeline.figures import Figures, Gap, Point, SourceFile, UnitRow
from pipeline.files import atomic_path
from pipeline.merge import Reporting
from pipeline.render.charts import bars_svg, progress_svg, rate_svg, target_percent

TEMPLATE = "bao-cao.html.j2"
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"  # pipeline/templates

ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _datetime(value: dt.datetime | None) -> str:
    return value.strftime("%d/%m/%Y %H:%M") if value else ""


ENV.filters.update(
    number=numbers.number,
    percent=numbers.percent,
    money=numbers.money,
    date=numbers.date,
    datetime=_datetime,
    target_percent=target_percent,
)


@dataclass(frozen=True)
class Submitted:
    """A union in the completeness panel, with when its current file arrived."""

    code: str
    name: str
    sector: str
    received: dt.datetime | None
    file: str | None
    note: str | None = None


@dataclass(frozen=True)
class Completeness:
    """Which unions submitted on time, late, were rejected, or have not reported."""

    groups: tuple[tuple[Reporting, tuple[Submitted, ...]], ...]  # every kind, in the enum's order
    total: int


def completeness(figures: Figures) -> Completeness:
    received = {s.code: s for s in figures.sources}
    gaps = {g.code: g for g in figures.gaps}
    rows = figures.units.rows
    groups = tuple((r, tuple(_submitted(u, received, gaps) for u in rows if u.reporting is r)) for r in Reporting)
    return Completeness(groups, len(rows))


def _submitted(row: UnitRow, received: dict[str, SourceFile], gaps: dict[str, Gap]) -> Submitted:
    source = received.get(row.code)
    gap = gaps.get(row.code)
    if row.reporting is Reporting.REJECTED and gap is not None:
        return Submitted(row.code, row.name, row.sector, None, gap.file, gap.reason)
    return Submitted(
        row.code,
        row.name,
        row.sector,
        source.received_at if source else None,
        source.file if source else row.file,
    )


def charts(figures: Figures) -> dict[str, Markup]:
    """The report's charts as markup: each SVG is built from escaped text by `charts`."""
    c = figures.charts
    return {
        "progress": Markup(progress_svg(c.progress, as_of=figures.as_of)),
        "by_sector": Markup(bars_svg(c.by_sector, "Số sáng kiến theo khối")),
        "by_field": Markup(bars_svg(c.by_field, "Số sáng kiến theo lĩnh vực")),
        "rate_by_unit": Markup(rate_svg(c.rate_by_unit, c.rate_target, f"{c.rate_label} theo CĐCS")),
    }


def _points(points: Sequence[Point]) -> list[str]:
    return [p.text(numbers.number, numbers.percent) for p in points]


def render_report_html(figures: Figures, settings: Settings) -> str:
    """The page as a string."""
    org, programme = settings.organisation, settings.programme
    template = ENV.get_template(TEMPLATE)
    return template.render(
        f=figures,
        org=org,
        programme=programme,
        dateline=numbers.place_and_date(org.place, figures.as_of),
        period=(programme.start, figures.as_of),
        deadline=settings.deadline,
        strengths=_points(figures.assessment.strengths),
        shortcomings=_points(figures.assessment.shortcomings),
        completeness=completeness(figures),
        charts=charts(figures),
    )


def write_report_html(path: Path, figures: Figures, settings: Settings) -> Path:
    """Write the page to `path` (UTF-8, atomically) and return `path`."""
    text = render_report_html(figures, settings)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = ["ENV", "TEMPLATE", "TEMPLATE_DIR", "charts", "completeness", "render_report_html", "write_report_html"]
