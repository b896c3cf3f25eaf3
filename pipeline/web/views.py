"""What each page shows, as plain values for its template, read from the library and the ledger."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request

from pipeline.api import Period
from pipeline.ledger import LEDGER_NAME, Ledger, StoredFile
from pipeline.merge import Reporting, UnitState, arrival, attachment_notes, changes, file_statuses, unit_states
from pipeline.results import Status

STATE_KEYS = ("on_time", "late", "warnings", "rejected", "missing")


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    sector: str
    state: str
    received: dt.datetime | None
    initiatives: int | None
    in_roster: bool


def _state_key(state: UnitState) -> str:
    if state.reporting is Reporting.MISSING:
        return "missing"
    if state.reporting is Reporting.REJECTED or state.latest_rejected is not None:
        return "rejected"
    if state.current is not None and state.current.status == "accepted_with_warnings":
        return "warnings"
    return "on_time" if state.reporting is Reporting.ON_TIME else "late"


def last_run(period: Period) -> dict[str, Any]:
    """The last run's run.json, or nothing when there is none (or it cannot be read)."""
    from pipeline.outputs import RUN_JSON

    path = period.settings.paths.outbox / RUN_JSON
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _states(period: Period) -> tuple[dict[str, UnitState], list[StoredFile]]:
    path = period.settings.paths.history_dir / LEDGER_NAME
    if not path.exists():
        return unit_states([], period.roster, period.settings), []
    with Ledger(path) as ledger:
        files = ledger.files()
    return unit_states(files, period.roster, period.settings), files


def waiting(period: Period) -> list[str]:
    """The files of the inbox that no run has read yet, by the names the ledger has seen (a saved
    e-mail, by its own name): what pressing Chạy would read."""
    from pipeline.intake import scan_inbox

    inbox = period.settings.paths.inbox
    if not inbox.is_dir():
        return []
    paths, _ = scan_inbox(inbox)
    seen: set[str] = set()
    path = period.settings.paths.history_dir / LEDGER_NAME
    if path.exists():
        with Ledger(path) as ledger:
            seen = {name for names in ledger.names().values() for name in names}
            seen |= {m.name for m in ledger.messages()}
    return [name for p in paths if (name := p.relative_to(inbox).as_posix()) not in seen]


def overview(period: Period, query: dict[str, str]) -> dict[str, Any]:
    """Every union of the roster by khối with its state, the counts against the targets, the days
    left to the deadline, what the last run changed; filtered by state, khối and a search."""
    states, files = _states(period)
    settings = period.settings
    rows = [
        Row(
            state.code,
            state.name,
            state.sector or "Ngoài danh sách",
            _state_key(state),
            state.received,
            state.current.initiatives if state.current else None,
            state.in_roster,
        )
        for state in states.values()
    ]
    counts = {key: sum(1 for r in rows if r.state == key) for key in STATE_KEYS}
    wanted_state, wanted_sector = query.get("trang_thai", ""), query.get("khoi", "")
    search = query.get("tim", "").strip().casefold()
    shown = [
        r
        for r in rows
        if (not wanted_state or r.state == wanted_state)
        and (not wanted_sector or r.sector == wanted_sector)
        and (not search or search in r.code.casefold() or search in r.name.casefold())
    ]
    sectors: dict[str, list[Row]] = {}
    for r in sorted(shown, key=lambda r: (r.sector, r.code)):
        sectors.setdefault(r.sector, []).append(r)
    summary = last_run(period)
    totals = summary.get("totals", {})
    changed = [
        {"code": u["code"], "name": u["name"], **(u["changes"] or {})}
        for u in summary.get("units", [])
        if u.get("changes")
    ]
    new_files = [f for f in summary.get("files", []) if f.get("new")]
    programme = settings.programme
    per_phase = totals.get("initiatives_per_phase") or {}
    return {
        "sectors": sectors,
        "all_sectors": sorted({r.sector for r in rows}),
        "counts": counts,
        "total_units": len(rows),
        "query": {"trang_thai": wanted_state, "khoi": wanted_sector, "tim": query.get("tim", "")},
        "totals": totals,
        "phases": [(p.name, p.target, per_phase.get(p.name)) for p in programme.phases],
        "rate_target": programme.rate_target_percent,
        "rate": (100 * totals["participants"] / totals["members"]) if totals.get("members") else None,
        "deadline": settings.deadline,
        "days_left": (settings.deadline - dt.date.today()).days,
        "last_run": summary.get("run"),
        "changed": changed,
        "new_files": new_files,
        "ran": bool(files),
        "waiting": waiting(period),
        "organisation": settings.organisation.full_name,
    }


def unit(period: Period, code: str) -> dict[str, Any] | None:
    """One union: its files in arrival order with their findings, what each version changed, its
    feedback and reply draft, and its data as counted."""
    path = period.settings.paths.history_dir / LEDGER_NAME
    states, files = _states(period)
    state = states.get(code)
    if state is None:
        return None
    history: list[dict[str, Any]] = []
    counted: list[dict[str, Any]] = []
    drafts = []
    if files:
        statuses = file_statuses(states, files)
        notes = attachment_notes(states)
        with Ledger(path) as ledger:
            findings = ledger.findings([f.sha256 for f in state.files])
            accepted = [f for f in sorted(state.files, key=arrival) if f.accepted]
            rows = {f.sha256: ledger.rows([f.sha256]) for f in accepted}
            drafts = [d for d in ledger.drafts() if d.unit_code == code and Path(d.path).is_file()]
        previous = None
        for f in sorted(state.files, key=arrival):
            change = None
            if f.accepted and previous is not None:
                change = changes(previous, f, rows[previous.sha256], rows[f.sha256], period.form).to_dict()
            if f.accepted:
                previous = f
            history.append(
                {
                    "file": f,
                    "status": Status(statuses[f.sha256]).label,
                    "status_key": Status(statuses[f.sha256]).value,
                    # A cover letter beside the union's workbook: its note, no finding (as in a run's results).
                    "findings": [] if f.sha256 in notes else findings.get(f.sha256, []),
                    "note": notes.get(f.sha256),
                    "changes": change,
                    "feedback": bool(f.feedback and Path(f.feedback).is_file()),
                    "message": Path(f.message).read_text(encoding="utf-8-sig")
                    if f.message and Path(f.message).is_file()
                    else None,
                }
            )
        if state.current is not None:
            form = period.form
            keys = [form.key(role) for role in ("title", "author", "coauthors", "registered_on") if form.field(role)]
            fields = [form.by_key(k) for k in keys]
            labels = [f.label for f in fields]
            for r in rows.get(state.current.sha256, []):
                counted.append({"row": r.row, "values": [_shown(r.data.get(f.key), f.type) for f in fields]})
            return _unit_values(state, history, counted, labels, drafts)
    return _unit_values(state, history, counted, [], drafts)


def _unit_values(
    state: UnitState, history: list[Any], counted: list[Any], labels: list[str], drafts: list[Any]
) -> dict[str, Any]:
    return {
        "state": state,
        "state_key": _state_key(state),
        "history": history,
        "counted": counted,
        "labels": labels,
        "drafts": drafts,
    }


def _shown(value: Any, kind: str) -> str:
    """A stored value as the officer reads it: a date (kept as ISO text) day first, as in Vietnam."""
    if value is None:
        return ""
    if kind == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return str(value)


def _text(path: str | None) -> str | None:
    return Path(path).read_text(encoding="utf-8-sig") if path and Path(path).is_file() else None


def file_paths(period: Period, ident: str) -> dict[str, Path]:
    """The feedback workbook, message and reply draft of a file (by its hash) or a draft (by the
    hash of its Message-ID): never a path from the request."""
    import hashlib

    path = period.settings.paths.history_dir / LEDGER_NAME
    if not path.exists():
        return {}
    out: dict[str, Path] = {}
    with Ledger(path) as ledger:
        for f in ledger.files():
            if f.sha256 == ident:
                if f.feedback:
                    out["phan-hoi"] = Path(f.feedback)
                if f.message:
                    out["loi-nhan"] = Path(f.message)
        for d in ledger.drafts():
            if hashlib.sha256(d.message_id.encode()).hexdigest() == ident:
                out["thu"] = Path(d.path)
    return out


async def receive_upload(request: Request, period: Period) -> tuple[list[str], list[str]]:
    """The files dropped on the page, saved into the inbox under safe names, each within the size
    a received file may have (`[limits] max_file_mb`; a saved e-mail, the size of a message)."""
    import os

    from pipeline.mail.message import MAX_MESSAGE_MB, is_message_file
    from pipeline.web.app import UPLOAD_CHUNK, safe_upload_name

    inbox = period.settings.paths.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    refused: list[str] = []
    file_limit = int(period.settings.limits.max_file_mb * (1 << 20))
    async with request.form(max_files=100, max_fields=10, max_part_size=1 << 20) as form:
        for upload in form.getlist("tep"):
            if isinstance(upload, str):
                continue
            name = upload.filename or "tệp"
            limit = (MAX_MESSAGE_MB << 20) if is_message_file(name) else file_limit
            target = safe_upload_name(name, inbox)
            tmp = target.with_name(f".tải-lên-{target.name}")
            size = 0
            with tmp.open("wb") as out:
                while chunk := await upload.read(UPLOAD_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
            if size > limit:
                tmp.unlink()
                refused.append(f"{name}: quá {limit >> 20} MB")
                continue
            tmp.replace(target)
            now = dt.datetime.now().timestamp()
            os.utime(target, (now, now))  # arrived now
            saved.append(target.name)
    return saved, refused


def settings_view(period: Period) -> dict[str, Any]:
    """The configuration as read, the roster and the template version, each with where to change it."""
    from pipeline.config import layout

    settings = period.settings
    tables = []
    for name, keys in layout().items():
        value: Any = settings
        for part in name.split("."):
            value = settings if part == "report" else getattr(value, part, None)
        if isinstance(value, tuple):  # [[programme.phases]]
            shown = [(f"{i + 1}. {k.name}", getattr(item, k.name)) for i, item in enumerate(value) for k in keys]
        else:
            shown = [(k.name, getattr(value, k.name, "")) for k in keys]
        tables.append((name, shown))
    roster = period.roster
    return {
        "config": settings.source,
        "tables": tables,
        "roster_path": settings.paths.roster,
        "roster_units": len(roster) if roster else None,
        "roster_active": len(roster.active) if roster else None,
        "form_version": period.form.version,
        "inbox": settings.paths.inbox,
        "outbox": settings.paths.outbox,
    }
