"""The officer's desk: one local page for the whole period (`pipeline serve`).

The page only shows what the library knows and calls what the library does: where each union
stands (`pipeline.status`, the ledger), a run (`pipeline.run`, one at a time, under the ledger's own
lock, its progress streamed as server-sent events), the report (the officer's sections written with
`pipeline.report.officer`, the outputs of the last run), the mail drafts when there are some. No
rule, count or message is written here a second time.

Files are received by upload into the inbox, under a safe name and within `[limits]`; downloads
are named by an id the page made (an output's key, a file's hash), never by a path from the
request, and are served only from the outbox. Every page is a Jinja2 template with autoescape on:
a union's name is text, whatever it holds. `Guard` (`pipeline.web.guard`) checks every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.api import Period
from pipeline.errors import PipelineError
from pipeline.web.guard import Guard

STATIC = Path(__file__).parent / "static"
UPLOAD_CHUNK = 1 << 16
_HASH = re.compile(r"[0-9a-f]{64}")
# The outputs a page offers, by the key the run's registry gives them (pipeline/outputs.py).
DOWNLOADS = {
    "report_docx": "Báo cáo (Word)",
    "report_pdf": "Báo cáo (PDF)",
    "report_xlsx": "Bảng tính tổng hợp (Excel)",
    "report_html": "Báo cáo (trang web)",
    "dataset_csv": "Dữ liệu tổng hợp (CSV)",
    "findings": "Danh sách lỗi (CSV)",
    "audit": "Hồ sơ số liệu (Excel)",
}
STATES = {  # a union's place in the period, as the overview shows and filters it
    "on_time": "Đúng hạn",
    "late": "Trễ hạn",
    "warnings": "Nhận, có cảnh báo",
    "rejected": "Bị trả lại, chưa nộp lại",
    "missing": "Chưa nộp",
}


@dataclass
class RunState:
    """The run the page started: one at a time, its events for the progress stream."""

    running: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    number: int = 0


class Desk:
    """What the page works on: the period (loaded again for each request, so that an edit of the
    configuration or the roster shows at once) and the run it may be doing."""

    def __init__(self, load: Callable[[], Period]) -> None:
        self.load = load
        self.run = RunState()
        self.lock = threading.Lock()

    # --- the run, in a thread of its own; the library's lock keeps a command-line run out ------

    def start(self, pdf: bool = False) -> bool:
        with self.lock:
            if self.run.running:
                return False
            self.run = RunState(True, [], self.run.number + 1)
        threading.Thread(target=self._go, args=(self.run, pdf), daemon=True).start()
        return True

    def _go(self, state: RunState, pdf: bool) -> None:
        import pipeline

        class Told:
            def start(self, total: int) -> None:
                state.events.append({"kind": "start", "total": total})

            def advance(self, name: str) -> None:
                state.events.append({"kind": "file", "name": name})

        try:
            result = pipeline.run(self.load(), progress=Told(), pdf=pdf)
            counts = {s.label: n for s, n in result.counts.items()}
            done = {"kind": "done", "counts": counts, "unfilled": list(result.unfilled), "unchanged": result.unchanged}
            state.events.append(done)
        except PipelineError as e:
            state.events.append({"kind": "error", "message": str(e)})
        except Exception as e:  # shown, never lost: the page says what happened
            state.events.append({"kind": "error", "message": f"Lỗi không mong đợi: {type(e).__name__}: {e}"})
        finally:
            state.running = False


def create_app(load: Callable[[], Period], *, token: str, port: int) -> Guard:
    """The page's ASGI app behind its `Guard`. `load` gives the period (from the configuration)."""
    desk = Desk(load)
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(default=True))
    env.filters["date"] = lambda d: d.strftime("%d/%m/%Y") if d else ""
    env.filters["moment"] = lambda d: d.strftime("%d/%m/%Y %H:%M") if d else ""
    env.filters["sha256"] = lambda text: hashlib.sha256(str(text).encode()).hexdigest()

    def page(name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(f"web-{name}.html.j2").render(request=request, path=request.url.path, **values)
        return HTMLResponse(html, status_code=status)

    def period_or_error(request: Request) -> Period | HTMLResponse:
        try:
            return desk.load()
        except PipelineError as e:
            return page("error", request, 500, message=str(e))

    async def overview(request: Request) -> Response:
        from pipeline.web.views import overview as view

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        return page("overview", request, **view(period, dict(request.query_params)), states=STATES, running=desk.run)

    async def unit(request: Request) -> Response:
        from pipeline.web.views import unit as view

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        values = view(period, request.path_params["code"])
        if values is None:
            return page("error", request, 404, message="Không có CĐCS này trong kỳ báo cáo.")
        return page("unit", request, **values)

    async def receive(request: Request) -> Response:
        from pipeline.web.views import receive_upload

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        saved, refused = await receive_upload(request, period)
        return JSONResponse({"saved": saved, "refused": refused}, status_code=200 if saved or not refused else 413)

    async def start_run(request: Request) -> Response:
        # From the report's page, the PDF too (when LibreOffice is installed): the report to sign.
        pdf = request.query_params.get("pdf") == "1" and bool(shutil.which("soffice") or shutil.which("libreoffice"))
        started = desk.start(pdf)
        if not started:
            return JSONResponse({"message": "Đang có một lần chạy; đợi lần này xong rồi bấm lại."}, status_code=409)
        return JSONResponse({"run": desk.run.number})

    async def progress(request: Request) -> Response:
        state = desk.run

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            while True:
                while sent < len(state.events):
                    yield f"data: {json.dumps(state.events[sent], ensure_ascii=False)}\n\n".encode()
                    sent += 1
                if not state.running and sent >= len(state.events):
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    async def report(request: Request) -> Response:
        from pipeline.report.officer import SECTIONS, load_text, save_sections, section_texts

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        if request.method == "POST":
            form = await request.form()
            keys = [k for k, _, _ in SECTIONS] + ["closing"]
            save_sections(period.settings, {k: str(form[k]) for k in keys if k in form})
            # Then a GET: reloading the page (as it does after a run) must not send the text again,
            # which would put back what the form held then over what was saved since.
            return RedirectResponse("/bao-cao?da_luu=1", status_code=303)
        saved = request.query_params.get("da_luu") == "1"
        officer = load_text(period.settings)
        outputs = _outputs(period)
        passages = {**officer.sections, "closing": officer.closing}
        unwritten = {k for k, passage in passages.items() if passage.hint}
        hints = {k: " ".join(p for p in passage.parts if isinstance(p, str)) for k, passage in passages.items()}
        return page(
            "report",
            request,
            sections=[(k, h) for k, h, _ in SECTIONS] + [("closing", officer.closing.heading)],
            # A section not written yet is an empty box with its hint as the placeholder: nothing to
            # delete before writing (saved empty, it keeps its hint in the file and the report).
            texts={k: "" if k in unwritten else v for k, v in section_texts(period.settings).items()},
            hints=hints,
            unfilled=[p.heading for p in officer.unfilled()],
            downloads=[(k, label) for k, label in DOWNLOADS.items() if k in outputs],
            has_preview="report_html" in outputs,
            saved=saved,
            running=desk.run,
        )

    async def preview(request: Request) -> Response:
        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        path = _outputs(period).get("report_html")
        if path is None:
            return page("error", request, 404, message="Chưa có báo cáo: bấm Chạy trước.")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    async def settings_page(request: Request) -> Response:
        from pipeline.web.views import settings_view

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        return page("settings", request, **settings_view(period))

    async def download(request: Request) -> Response:
        from pipeline.web.views import file_paths

        period = period_or_error(request)
        if isinstance(period, HTMLResponse):
            return period
        kind, ident = request.path_params["kind"], request.path_params["ident"]
        path: Path | None = None
        if kind == "ket-qua" and ident in DOWNLOADS:
            path = _outputs(period).get(ident)
        elif kind in ("phan-hoi", "loi-nhan", "thu") and _HASH.fullmatch(ident):
            path = file_paths(period, ident).get(kind)
        elif kind == "mau":
            path = _template(period, ident)
        outbox = period.settings.paths.outbox.resolve()
        if path is None or not path.is_file() or not path.resolve().is_relative_to(outbox):
            return page("error", request, 404, message="Không có tệp này (có thể cần bấm Chạy lại).")
        return FileResponse(path, filename=path.name)

    routes = [
        Route("/", overview),
        Route("/don-vi/{code}", unit),
        Route("/nhan-tep", receive, methods=["POST"]),
        Route("/chay", start_run, methods=["POST"]),
        Route("/tien-do", progress),
        Route("/bao-cao", report, methods=["GET", "POST"]),
        Route("/bao-cao/xem", preview),
        Route("/cai-dat", settings_page),
        Route("/tai/{kind}/{ident}", download),
        Mount("/tinh", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.desk = desk
    return Guard(app, token, port)


def _outputs(period: Period) -> dict[str, Path]:
    """The outputs of the last run, by key (run.json's `outputs`), that are still in the outbox."""
    from pipeline.web.views import last_run

    outputs = last_run(period).get("outputs", {})
    return {k: Path(v) for k, v in outputs.items() if isinstance(v, str) and Path(v).is_file()}


def _template(period: Period, ident: str) -> Path | None:
    """The blank template ("trong") or a union's of the roster (by its code), written into the
    outbox's template folder as `pipeline template` writes it."""
    from pipeline.template import OUTBOX_FOLDER, template_name, write_template

    unit = None
    if ident != "trong":
        unit = period.roster.find(ident) if period.roster else None
        if unit is None or unit.code != ident:
            return None
    path = period.settings.paths.outbox / OUTBOX_FOLDER / template_name(period.form, unit)
    return write_template(path, period.form, period.settings, unit)


def safe_upload_name(name: str, folder: Path) -> Path:
    """Where an uploaded file goes: its own name made safe, in the inbox, beside none of another."""
    from pipeline.files import numbered
    from pipeline.mail.message import attachment_name

    return folder / numbered(attachment_name(name), lambda taken: (folder / taken).exists())


__all__ = ["create_app", "safe_upload_name"]
