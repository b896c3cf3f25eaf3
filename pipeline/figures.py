"""Figures stage: consolidated data + roster -> every number of the report, as of the report date.

`compute(states, frame, roster, settings, form)` returns `Figures`: Bảng 1–4 of spec §5, the
outstanding initiatives and the commendations received, appendices I–III, the files the figures come
from, the points of section III and the series of the charts. It is plain frozen data with raw
numbers: counts, money in đồng, rates and shares as fractions (0.05 is 5%). Formatting them the
Vietnamese way is the renderers' job; the Vietnamese labels come from the form, the roster and the
configuration. Every total is the sum of its rows.

The unions counted are the active unions of the roster, plus any other union whose accepted data is
in the dataset (an inactive union that still reported), so that the totals equal the dataset's.
Members are the roster's counts. A union's participants are the distinct authors and co-authors of
its initiatives (`merge.participants`), as in run.json.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from pipeline.config import RATE_MEASURES, Phase, Settings
from pipeline.findings import Finding, Severity
from pipeline.form import Form
from pipeline.labels import Labelled
from pipeline.ledger import StoredFile
from pipeline.merge import Reporting, UnitState, participants
from pipeline.roster import Roster

MEMBERS_WITH_INITIATIVE, INITIATIVES_PER_MEMBER = RATE_MEASURES
UNKNOWN = "Chưa xác định"  # a sector or list value the form does not know
TOTAL = "Tổng cộng"
RATE_LABELS = {
    MEMBERS_WITH_INITIATIVE: "Tỷ lệ đoàn viên tham gia sáng kiến (số người tham gia / tổng số đoàn viên)",
    INITIATIVES_PER_MEMBER: "Tỷ lệ sáng kiến trên số đoàn viên (số sáng kiến / tổng số đoàn viên)",
}
RATE_WORDS = {
    MEMBERS_WITH_INITIATIVE: "tỷ lệ đoàn viên tham gia sáng kiến",
    INITIATIVES_PER_MEMBER: "tỷ lệ sáng kiến trên số đoàn viên",
}
ACTIVITY_ROLES = ("meetings", "news_items", "commended_groups", "commended_people")  # of the unit record
PORTAL = "Cổng trực tuyến Công đoàn Việt Nam"


# --- tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The counts of one union, one sector or the whole district.

    The counts add up (`ADDITIVE`); the rates do not: each is worked out from its own counts, and
    is None when there are no members.
    """

    units: int = 0
    units_reported: int = 0  # with an accepted (current) submission
    units_with_initiatives: int = 0
    members: int = 0
    participants: int = 0
    initiatives: int = 0
    uploaded: int = 0  # initiatives on the portal
    benefit: int = 0  # đồng
    rate_members: float | None = None  # participants ÷ members
    rate_initiatives: float | None = None  # initiatives ÷ members
    rate: float | None = None  # the official one of the two

    @property
    def uploaded_share(self) -> float | None:
        return _share(self.uploaded, self.initiatives)


ADDITIVE = (
    "units", "units_reported", "units_with_initiatives", "members", "participants", "initiatives", "uploaded",
    "benefit",
)  # fmt: skip


@dataclass(frozen=True)
class TargetRow:
    """A row of Bảng 1: what was reached against the plan's target, or as a share of a whole."""

    key: str  # stable: "phase-1", "phase-2", "outside-phases", "initiatives", "rate-members", ...
    label: str
    kind: Literal["count", "rate", "money"]  # rate: a fraction, to be shown as a percentage
    actual: int | float
    target: int | float | None = None  # None: the plan sets no target
    ratio: float | None = None  # actual ÷ target, or numerator ÷ denominator when there is no target
    reached: bool | None = None  # None: no target, or not reached yet while it still runs
    numerator: int | None = None
    denominator: int | None = None
    official: bool = False  # the rate the configuration names as the official indicator


@dataclass(frozen=True)
class SectorRow:
    sector: str
    tally: Tally


@dataclass(frozen=True)
class SectorTable:
    """Bảng 2: one row per sector, in the form's order."""

    rows: tuple[SectorRow, ...]
    total: Tally


@dataclass(frozen=True)
class ShareRow:
    label: str
    count: int
    share: float | None  # of the table's total; None when the total is 0


@dataclass(frozen=True)
class ShareTable:
    """Bảng 3, Bảng 4, the commendations: counts by a list of the form, in the form's order."""

    label: str  # the form's label of the field counted
    rows: tuple[ShareRow, ...]
    total: ShareRow


@dataclass(frozen=True)
class Source:
    """Where a value came from: the file, the sheet and the Excel row."""

    file: str
    sheet: str
    row: int
    sha256: str


@dataclass(frozen=True)
class Outstanding:
    """An initiative its union proposes for commendation as outstanding (Appendix II)."""

    code: str
    unit: str
    sector: str
    title: str
    author: str
    coauthors: str | None
    field: str | None  # lĩnh vực
    kind: str | None  # loại giải pháp
    level: str | None  # cấp công nhận
    benefit: int | None
    uploaded: str | None  # the answer of "Đã cập nhật lên Cổng", as the form's list has it
    commendation: str | None
    source: Source


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    value: int


@dataclass(frozen=True)
class UnitRow:
    """A row of Appendix I."""

    code: str
    name: str
    sector: str
    commune: str | None
    active: bool
    reporting: Reporting
    file: str | None  # its current file
    tally: Tally  # units = 1
    below_target: bool | None  # official rate under the target; None without members

    @property
    def reporting_label(self) -> str:
        return self.reporting.label


@dataclass(frozen=True)
class SectorGroup:
    sector: str
    rows: tuple[UnitRow, ...]
    subtotal: Tally


@dataclass(frozen=True)
class UnitTable:
    """Appendix I: the unions grouped by sector, a subtotal per sector and a grand total."""

    groups: tuple[SectorGroup, ...]
    total: Tally

    @property
    def rows(self) -> tuple[UnitRow, ...]:
        return tuple(r for g in self.groups for r in g.rows)


class GapKind(Labelled):
    """Why a union is in Appendix III."""

    MISSING = "missing", "Chưa gửi báo cáo"
    REJECTED = "rejected", "Báo cáo bị trả lại"
    NO_INITIATIVE = "no_initiative", "Chưa có sáng kiến"


@dataclass(frozen=True)
class Gap:
    """A row of Appendix III: a union that has not reported, was rejected, or has no initiative."""

    code: str
    name: str
    sector: str
    kind: GapKind
    reason: str  # one Vietnamese sentence
    problems: tuple[str, ...] = ()  # for a rejected union: the errors of its latest file
    file: str | None = None


@dataclass(frozen=True)
class SourceFile:
    """A file the figures come from: a union's current submission."""

    code: str
    unit: str
    sector: str
    file: str
    received_at: dt.datetime
    as_of_date: dt.date | None  # "Số liệu tính đến ngày"
    sha256: str
    status: str
    initiatives: int  # rows of the dataset from this file


@dataclass(frozen=True)
class Point:
    """A point of section III: what the data shows, as numbers. The report's message table
    (`pipeline.report.model.POINTS`) says it in a sentence, by `message`: `numbers` are counts,
    `shares` fractions, `words` text as it is, `units` the names of the unions concerned."""

    key: str  # this point: "phase-1-not-reached", "missing", ...
    message: str  # its sentence: "phase-not-reached", "missing", ...
    numbers: tuple[tuple[str, int], ...] = ()
    shares: tuple[tuple[str, float], ...] = ()
    words: tuple[tuple[str, str], ...] = ()
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """Section III, the points the data shows."""

    strengths: tuple[Point, ...]
    shortcomings: tuple[Point, ...]


@dataclass(frozen=True)
class PhaseProgress:
    """Initiatives registered in a phase, cumulated by registration date, and the phase's target."""

    phase: str
    start: dt.date
    end: dt.date
    target: int
    points: tuple[tuple[dt.date, int], ...]  # (date, initiatives registered up to that date)

    @property
    def total(self) -> int:
        return self.points[-1][1] if self.points else 0


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: int | float | None
    note: str | None = None  # why there is no value ("chưa báo cáo")


@dataclass(frozen=True)
class Charts:
    progress: tuple[PhaseProgress, ...]
    by_sector: tuple[Bar, ...]  # initiatives
    by_field: tuple[Bar, ...]  # initiatives
    rate_by_unit: tuple[Bar, ...]  # official rate, highest first
    rate_target: float
    rate_label: str


@dataclass(frozen=True)
class Figures:
    as_of: dt.date
    official_rate: str  # "members_with_initiative" | "initiatives_per_member"
    official_rate_label: str
    rate_target: float  # fraction
    targets: tuple[TargetRow, ...]  # Bảng 1
    by_sector: SectorTable  # Bảng 2
    by_field: ShareTable  # Bảng 3
    by_kind: ShareTable  # Bảng 4
    outstanding: tuple[Outstanding, ...]  # proposed for commendation; also Appendix II
    commendations: ShareTable  # received, by kind
    activities: tuple[Count, ...]  # section I: meetings, news items, commended collectives and individuals
    units: UnitTable  # Appendix I
    gaps: tuple[Gap, ...]  # Appendix III
    sources: tuple[SourceFile, ...]  # the files the figures come from
    assessment: Assessment  # section III
    charts: Charts

    @property
    def totals(self) -> Tally:
        return self.units.total

    @property
    def target(self) -> dict[str, TargetRow]:
        return {r.key: r for r in self.targets}


# --- computing ---------------------------------------------------------------------------------------


def compute(
    states: dict[str, UnitState],
    frame: pd.DataFrame,
    roster: Roster,
    settings: Settings,
    form: Form,
    sources: Sequence[StoredFile] | None = None,
    findings: Mapping[str, Sequence[Finding]] | None = None,
    tallies: UnitTallies | None = None,
) -> Figures:
    """Every figure of the report.

    `states` and `frame` are `merge.unit_states` and `merge.dataset` of the period; `sources` the
    stored files the dataset's `sha256_nguon` may point to (default: the files in `states`);
    `findings` the findings by file (sha256), for the reasons a union was rejected; `tallies`
    `unit_tallies(frame, form)`, when made already.
    """
    programme = settings.programme
    official = programme.official_rate
    rate_target = programme.rate_target_percent / 100
    sectors = form.allowed(form.field("sector"))

    chosen = _chosen_units(states, frame, roster, sectors, form)
    sector_of = {s.code: _sector(s, roster) for s in chosen}
    tallies = tallies or unit_tallies(frame, form)
    counts, people = tallies.counts, tallies.people
    active = {u.code for u in roster.active}
    unit_rows = [
        _unit_row(s, sector_of[s.code], counts.get(s.code), len(people.get(s.code, ())), official, rate_target, active)
        for s in chosen
    ]
    units = _unit_table(unit_rows, official)
    by_sector = _sector_table(unit_rows, sectors, official)
    order = {s.code: i for i, s in enumerate(chosen)}

    by_field, by_kind = (
        _share_table(form.field(r).label, frame[form.key(r)], form.allowed(form.field(r))) for r in ("field", "kind")
    )
    none_yet, commendation = form.answer("not_yet"), form.field("commendation")
    received = [v for v in frame[commendation.key] if isinstance(v, str) and v and v != none_yet]
    kinds = tuple(v for v in form.allowed(commendation) if v != none_yet)
    commendations = _share_table(commendation.label, pd.Series(received, dtype=object), kinds, nulls=False)
    outstanding = _outstanding(frame, states, order, sector_of, form)
    activities = tuple(
        Count(f.key, f.label, sum(_whole(s.current.unit_record.get(f.key)) for s in chosen if s.current))
        for f in map(form.field, ACTIVITY_ROLES)
    )
    targets = _targets(frame, units.total, settings)
    gaps = tuple(_gaps(unit_rows, states, settings.as_of, findings or {}))
    known = {f.sha256: f for f in (sources if sources is not None else [f for s in states.values() for f in s.files])}
    files = tuple(_sources(chosen, frame, known, sector_of, form))
    assessment = _assess(targets, unit_rows, units.total, gaps, outstanding, settings, rate_target)
    charts = Charts(
        progress=tuple(_progress(frame, p, form) for p in programme.phases),
        by_sector=tuple(Bar(r.sector, r.sector, r.tally.initiatives) for r in by_sector.rows),
        by_field=tuple(Bar(r.label, r.label, r.count) for r in by_field.rows),
        rate_by_unit=tuple(_rate_bar(r) for r in sorted(unit_rows, key=_rate_order)),
        rate_target=rate_target,
        rate_label=RATE_LABELS[official],
    )
    return Figures(
        as_of=settings.as_of,
        official_rate=official,
        official_rate_label=RATE_LABELS[official],
        rate_target=rate_target,
        targets=targets,
        by_sector=by_sector,
        by_field=by_field,
        by_kind=by_kind,
        outstanding=outstanding,
        commendations=commendations,
        activities=activities,
        units=units,
        gaps=gaps,
        sources=files,
        assessment=assessment,
        charts=charts,
    )


def _reported(row: UnitRow) -> bool:
    return row.reporting in (Reporting.ON_TIME, Reporting.LATE)


def _rate_order(row: UnitRow) -> tuple[bool, float, str]:
    """The unions that reported first, highest rate first, then by code."""
    shown = _reported(row) and row.tally.rate is not None
    return (not shown, -(row.tally.rate or 0) if shown else 0.0, row.code)


def _rate_bar(row: UnitRow) -> Bar:
    """A union in the rate chart, by code and name; one that has not reported has no rate to show."""
    label = f"{row.code} – {row.name}"
    if not _reported(row):
        return Bar(row.code, label, None, "chưa có báo cáo được tiếp nhận")
    if row.tally.rate is None:
        return Bar(row.code, label, None, "chưa có số đoàn viên")
    return Bar(row.code, label, row.tally.rate)


def _sector(state: UnitState, roster: Roster) -> str:
    if state.sector:
        return state.sector
    known = roster.find(state.code)
    return known.sector if known else UNKNOWN


def _sector_rank(sector: str, sectors: Sequence[str]) -> int:
    return sectors.index(sector) if sector in sectors else len(sectors)


def _chosen_units(
    states: dict[str, UnitState], frame: pd.DataFrame, roster: Roster, sectors: Sequence[str], form: Form
) -> list[UnitState]:
    """The active unions and any other union with data, by sector in the form's order, then code."""
    in_frame = set(frame[form.key("unit_code")])
    unknown = in_frame - states.keys()
    if unknown:
        raise ValueError(f"dataset rows of unions without a state: {sorted(unknown)}")
    active = {u.code for u in roster.active}
    chosen = [s for c, s in states.items() if c in active or s.current is not None or c in in_frame]
    return sorted(chosen, key=lambda s: (_sector_rank(_sector(s, roster), sectors), _sector(s, roster), s.code))


@dataclass(frozen=True)
class UnitTallies:
    """Per union code of a dataset: its initiatives, those uploaded and their benefit (`counts`),
    and its distinct participants (`people`)."""

    counts: dict[str, dict[str, int]]
    people: dict[str, set[str]]


def unit_tallies(frame: pd.DataFrame, form: Form) -> UnitTallies:
    """`UnitTallies` of `frame`: a pass over every initiative, which `compute` and `period_totals`
    can share."""
    counts: dict[str, dict[str, int]] = {}
    people: dict[str, set[str]] = defaultdict(set)
    # As Python lists: taking an Arrow-backed column's values one by one costs more than the loop.
    uploaded = frame[form.key("uploaded")].isin([form.answer("yes")]).tolist()
    columns = (frame[form.key(role)].tolist() for role in ("unit_code", "author", "coauthors", "benefit"))
    for code, author, coauthors, value, up in zip(*columns, uploaded, strict=True):
        c = counts.setdefault(code, {"initiatives": 0, "uploaded": 0, "benefit": 0})
        c["initiatives"] += 1
        c["uploaded"] += int(bool(up))
        c["benefit"] += _whole(value)
        people[code] |= participants(author, coauthors)
    return UnitTallies(counts, dict(people))


def phase_counts(frame: pd.DataFrame, settings: Settings) -> dict[str, int]:
    """Initiatives registered in each phase, by its name."""
    return {p.name: int((frame["giai_doan"] == p.name).sum()) for p in settings.programme.phases}


def period_totals(
    states: dict[str, UnitState],
    frame: pd.DataFrame,
    settings: Settings,
    form: Form,
    tallies: UnitTallies | None = None,
) -> dict[str, Any]:
    """The totals of the period for run.json: the roster's unions by where they stand, the
    initiatives by phase, the participants (counted as the report counts them) and the members.
    `tallies`: `unit_tallies(frame, form)`, when made already."""
    in_roster = [s for s in states.values() if s.in_roster]
    people = (tallies or unit_tallies(frame, form)).people
    return {
        "units_in_roster": len(in_roster),
        "units_reported": sum(1 for s in in_roster if s.current is not None),
        **{f"units_{r.value}": sum(1 for s in in_roster if s.reporting is r) for r in Reporting},
        "initiatives": len(frame),
        "initiatives_per_phase": phase_counts(frame, settings),
        "initiatives_outside_phases": int(frame["giai_doan"].isna().sum()),
        "participants": sum(len(p) for p in people.values()),
        "members": sum(s.members or 0 for s in in_roster),
    }


def _whole(value: Any) -> int:
    """A whole number, 0 for a missing one."""
    if value is None or isinstance(value, bool) or pd.isna(value):
        return 0
    return int(value)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _tally(official: str, counts: Mapping[str, int]) -> Tally:
    members = counts["members"]
    rate_members = _share(counts["participants"], members)
    rate_initiatives = _share(counts["initiatives"], members)
    return Tally(
        **{k: counts[k] for k in ADDITIVE},
        rate_members=rate_members,
        rate_initiatives=rate_initiatives,
        rate=rate_members if official == MEMBERS_WITH_INITIATIVE else rate_initiatives,
    )


def _sum(tallies: Iterable[Tally], official: str) -> Tally:
    items = list(tallies)
    return _tally(official, {k: sum(getattr(t, k) for t in items) for k in ADDITIVE})


def _unit_row(
    state: UnitState,
    sector: str,
    counts: Mapping[str, int] | None,
    people: int,
    official: str,
    rate_target: float,
    active: set[str],
) -> UnitRow:
    counts = counts or {"initiatives": 0, "uploaded": 0, "benefit": 0}
    tally = _tally(
        official,
        {
            "units": 1,
            "units_reported": int(state.current is not None),
            "units_with_initiatives": int(counts["initiatives"] > 0),
            "members": state.members or 0,
            "participants": people,
            **counts,
        },
    )
    return UnitRow(
        code=state.code,
        name=state.name,
        sector=sector,
        commune=state.commune,
        active=state.code in active,
        reporting=state.reporting,
        file=state.current.name if state.current else None,
        tally=tally,
        below_target=None if tally.rate is None else tally.rate < rate_target,
    )


def _unit_table(rows: Sequence[UnitRow], official: str) -> UnitTable:
    grouped: dict[str, list[UnitRow]] = {}
    for r in rows:  # already in sector order
        grouped.setdefault(r.sector, []).append(r)
    groups = tuple(SectorGroup(s, tuple(rs), _sum((r.tally for r in rs), official)) for s, rs in grouped.items())
    return UnitTable(groups, _sum((g.subtotal for g in groups), official))


def _sector_table(rows: Sequence[UnitRow], sectors: Sequence[str], official: str) -> SectorTable:
    names = list(sectors) + sorted({r.sector for r in rows} - set(sectors))
    table = tuple(SectorRow(s, _sum((r.tally for r in rows if r.sector == s), official)) for s in names)
    return SectorTable(table, _sum((r.tally for r in table), official))


def _share_table(label: str, values: pd.Series, order: Sequence[str], nulls: bool = True) -> ShareTable:
    """Counts of each value of a list in the form's order; values outside it and blanks at the end."""
    counted: dict[str, int] = dict.fromkeys(order, 0)
    blank = 0
    for v in values.tolist():
        if isinstance(v, str) and v:
            counted[v] = counted.get(v, 0) + 1
        else:
            blank += 1
    if blank and nulls:
        counted[UNKNOWN] = counted.get(UNKNOWN, 0) + blank
    total = sum(counted.values())
    rows = tuple(ShareRow(k, n, _share(n, total)) for k, n in counted.items())
    return ShareTable(label, rows, ShareRow(TOTAL, total, 1.0 if total else None))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _outstanding(
    frame: pd.DataFrame,
    states: dict[str, UnitState],
    order: Mapping[str, int],
    sector_of: Mapping[str, str],
    form: Form,
) -> tuple[Outstanding, ...]:
    k = form.key
    roles = ("unit_code", "title", "author", "coauthors", "field", "kind", "recognised_by", "benefit", "uploaded",
             "commendation")  # fmt: skip
    shown = [*map(k, roles), "tep_nguon", "trang_nguon", "dong_nguon", "sha256_nguon"]
    chosen = frame.loc[frame[k("proposed_outstanding")].isin([form.answer("yes")]), shown]
    records = sorted(
        chosen.to_dict("records"), key=lambda r: (order[r[k("unit_code")]], r["sha256_nguon"], r["dong_nguon"])
    )
    out = []
    for r in records:
        state = states[r[k("unit_code")]]
        benefit = r[k("benefit")]
        out.append(
            Outstanding(
                code=state.code,
                unit=state.name,
                sector=sector_of[state.code],
                title=str(r[k("title")]),
                author=str(r[k("author")]),
                coauthors=_text(r[k("coauthors")]),
                field=_text(r[k("field")]),
                kind=_text(r[k("kind")]),
                level=_text(r[k("recognised_by")]),
                benefit=None if benefit is None or pd.isna(benefit) else int(benefit),
                uploaded=_text(r[k("uploaded")]),
                commendation=_text(r[k("commendation")]),
                source=Source(str(r["tep_nguon"]), str(r["trang_nguon"]), int(r["dong_nguon"]), str(r["sha256_nguon"])),
            )
        )
    return tuple(out)


def _phase_reached(phase: Phase, actual: int, as_of: dt.date) -> bool | None:
    if actual >= phase.target:
        return True
    return False if as_of >= phase.end else None


def _targets(frame: pd.DataFrame, total: Tally, settings: Settings) -> tuple[TargetRow, ...]:
    programme = settings.programme
    rows = []
    in_phases = 0
    counted = phase_counts(frame, settings)
    for i, phase in enumerate(programme.phases, start=1):
        actual = counted[phase.name]
        in_phases += actual
        rows.append(
            TargetRow(
                f"phase-{i}",
                f"Số sáng kiến đăng ký trong {phase.name}",
                "count",
                actual,
                phase.target,
                _share(actual, phase.target),
                _phase_reached(phase, actual, settings.as_of) if phase.start <= settings.as_of else None,
            )
        )
    outside = len(frame) - in_phases
    if outside:
        rows.append(TargetRow("outside-phases", "Số sáng kiến đăng ký ngoài các giai đoạn", "count", outside))
    rows.append(TargetRow("initiatives", "Tổng số sáng kiến đăng ký", "count", len(frame)))
    target = programme.rate_target_percent / 100
    ended = settings.as_of >= programme.registration_end
    for key, measure, numerator, rate in (
        ("rate-members", MEMBERS_WITH_INITIATIVE, total.participants, total.rate_members),
        ("rate-initiatives", INITIATIVES_PER_MEMBER, total.initiatives, total.rate_initiatives),
    ):
        reached = None if rate is None else (True if rate >= target else (False if ended else None))
        rows.append(
            TargetRow(
                key,
                RATE_LABELS[measure],
                "rate",
                rate if rate is not None else 0.0,
                target,
                None if rate is None or not target else rate / target,
                reached,
                numerator,
                total.members,
                official=measure == programme.official_rate,
            )
        )
    rows += [
        TargetRow(
            "units-with-initiatives",
            "Số CĐCS có sáng kiến / tổng số CĐCS",
            "count",
            total.units_with_initiatives,
            ratio=_share(total.units_with_initiatives, total.units),
            numerator=total.units_with_initiatives,
            denominator=total.units,
        ),
        TargetRow(
            "uploaded",
            f"Số sáng kiến đã cập nhật lên {PORTAL}",
            "count",
            total.uploaded,
            ratio=_share(total.uploaded, total.initiatives),
            numerator=total.uploaded,
            denominator=total.initiatives,
        ),
        TargetRow("benefit", "Tổng giá trị làm lợi ước tính (đồng)", "money", total.benefit),
    ]
    return tuple(rows)


def _error_lines(found: Sequence[Finding]) -> tuple[str, ...]:
    lines = []
    for f in found:
        if f.severity is Severity.ERROR:
            ref = f.location.ref
            lines.append(f"{ref}: {f.message}" if ref else f.message)
    return tuple(lines)


def _gaps(
    rows: Sequence[UnitRow], states: dict[str, UnitState], as_of: dt.date, findings: Mapping[str, Sequence[Finding]]
) -> Iterable[Gap]:
    for r in rows:
        state = states[r.code]
        if r.reporting is Reporting.MISSING:
            yield Gap(r.code, r.name, r.sector, GapKind.MISSING, f"Chưa gửi báo cáo (tính đến ngày {as_of:%d/%m/%Y}).")
        elif r.reporting is Reporting.REJECTED:
            last = [f for f in state.files if f not in state.attachments][-1]  # a workbook, not its cover letter
            reason = (
                f"Báo cáo nhận ngày {last.received_at:%d/%m/%Y} bị trả lại do có lỗi; đơn vị chưa gửi lại bản đúng."
            )
            problems = _error_lines(findings.get(last.sha256, ()))
            yield Gap(r.code, r.name, r.sector, GapKind.REJECTED, reason, problems, last.name)
        elif r.tally.initiatives == 0:
            reason = "Đã gửi báo cáo nhưng chưa kê khai sáng kiến nào."
            yield Gap(r.code, r.name, r.sector, GapKind.NO_INITIATIVE, reason, file=r.file)


def _sources(
    chosen: Sequence[UnitState],
    frame: pd.DataFrame,
    known: Mapping[str, StoredFile],
    sector_of: Mapping[str, str],
    form: Form,
) -> Iterable[SourceFile]:
    """Each union's current file, and any other file the dataset's rows cite (none in a normal run)."""
    rows_of = frame["sha256_nguon"].value_counts().to_dict()
    cited: dict[str, list[str]] = defaultdict(list)  # each union's files, in the dataset's order
    pairs = frame[[form.key("unit_code"), "sha256_nguon"]].drop_duplicates()
    for code, sha in zip(*(pairs[c].tolist() for c in pairs.columns), strict=True):
        cited[code].append(sha)
    for state in chosen:
        shas = [state.current.sha256] if state.current else []
        shas += [sha for sha in cited.get(state.code, ()) if sha not in shas]
        for sha in shas:
            stored = state.current if state.current and state.current.sha256 == sha else known.get(sha)
            if stored is None:
                raise ValueError(f"dataset rows cite a file that is not known: {sha}")
            yield SourceFile(
                state.code,
                state.name,
                sector_of[state.code],
                stored.name,
                stored.received_at,
                stored.as_of_date,
                stored.sha256,
                stored.status,
                int(rows_of.get(sha, 0)),
            )


def _progress(frame: pd.DataFrame, phase: Phase, form: Form) -> PhaseProgress:
    registered = frame.loc[frame["giai_doan"] == phase.name, form.key("registered_on")]
    dates = sorted(d for d in registered if isinstance(d, dt.date))
    points: list[tuple[dt.date, int]] = []
    for i, d in enumerate(dates, start=1):
        if points and points[-1][0] == d:
            points[-1] = (d, i)
        else:
            points.append((d, i))
    return PhaseProgress(phase.name, phase.start, phase.end, phase.target, tuple(points))


def _assess(
    targets: Sequence[TargetRow],
    rows: Sequence[UnitRow],
    total: Tally,
    gaps: Sequence[Gap],
    outstanding: Sequence[Outstanding],
    settings: Settings,
    rate_target: float,
) -> Assessment:
    """The points of section III, as numbers; their sentences are the report's (`Point.message`)."""
    strengths: list[Point] = []
    shortcomings: list[Point] = []
    shares: tuple[tuple[str, float], ...]
    phases = {f"phase-{i}": p for i, p in enumerate(settings.programme.phases, start=1)}
    portal = (("portal", PORTAL),)
    for t in targets:
        if t.target is None or (t.key in phases and phases[t.key].start > settings.as_of):
            continue
        if t.key in phases:
            words = (("phase", phases[t.key].name),)
            numbers = (("actual", int(t.actual)), ("target", int(t.target)))
            shares = (("ratio", t.ratio),) if t.ratio is not None else ()
            if t.reached:
                strengths.append(Point(f"{t.key}-reached", "phase-reached", numbers, shares, words))
            elif t.reached is False:
                shortcomings.append(Point(f"{t.key}-not-reached", "phase-not-reached", numbers, shares, words))
            else:
                shortcomings.append(Point(f"{t.key}-in-progress", "phase-in-progress", numbers, shares, words))
        elif t.kind == "rate":
            measure = MEMBERS_WITH_INITIATIVE if t.key == "rate-members" else INITIATIVES_PER_MEMBER
            shares = (("actual", float(t.actual)), ("target", float(t.target)))
            words = (("measure", RATE_WORDS[measure].capitalize()),)
            if t.reached:
                strengths.append(Point(f"{t.key}-reached", "rate-reached", (), shares, words))
            elif t.denominator:
                shortcomings.append(Point(f"{t.key}-not-reached", "rate-not-reached", (), shares, words))

    if total.units_reported:
        reported = (
            ("reported", total.units_reported),
            ("all", total.units),
            ("with_initiatives", total.units_with_initiatives),
        )
        strengths.append(Point("reported", "reported", reported))
    if total.initiatives:
        counts = (("initiatives", total.initiatives), ("participants", total.participants), ("benefit", total.benefit))
        strengths.append(Point("initiatives", "initiatives", counts))
    if outstanding:
        strengths.append(Point("outstanding", "outstanding", (("count", len(outstanding)),)))
    if total.initiatives and total.uploaded == total.initiatives:
        strengths.append(Point("all-uploaded", "all-uploaded", (("count", total.uploaded),), words=portal))

    for kind in GapKind:
        names = tuple(g.name for g in gaps if g.kind is kind)
        if names:
            key = kind.value.replace("_", "-")
            shortcomings.append(Point(key, key, (("count", len(names)),), units=names))
    below = tuple(r.name for r in rows if r.tally.initiatives and r.below_target)
    if below:
        shortcomings.append(
            Point(
                "below-rate",
                "below-rate",
                (("count", len(below)),),
                (("target", rate_target),),
                (("measure", RATE_WORDS[settings.programme.official_rate]),),
                below,
            )
        )
    missing_upload = total.initiatives - total.uploaded
    if missing_upload:
        shortcomings.append(
            Point(
                "not-uploaded",
                "not-uploaded",
                (("count", missing_upload), ("total", total.initiatives)),
                (("share", missing_upload / total.initiatives),),
                portal,
            )
        )
    return Assessment(tuple(strengths), tuple(shortcomings))
