"""The command line: parse options, call the library, print in Vietnamese, choose the exit code.

Exit codes: 0 the command worked (also when some files were rejected); 1 an operational failure;
2 a usage mistake; 3 a configuration error; 4 a roster error; 6 another run holds the ledger;
7 the mailbox or mail server cannot be used; 130 interrupted. Tracebacks are shown only with --debug.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import difflib
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pipeline import __version__
from pipeline.errors import PipelineError

_ARGPARSE_WORDS = {
    "usage: ": "Cách dùng: ",
    "positional arguments": "Tham số",
    "options": "Tùy chọn",
    "show this help message and exit": "hiện hướng dẫn này rồi thoát",
    "the following arguments are required: %s": "thiếu tham số bắt buộc: %s",
    "unrecognized arguments: %s": "không hiểu tham số: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "lựa chọn không hợp lệ: %(value)r (chọn một trong: %(choices)s)"
    ),
    "argument %(argument_name)s: %(message)s": "tham số %(argument_name)s: %(message)s",
    "expected one argument": "cần một giá trị",
    "invalid %(type)s value: %(value)r": "giá trị không hợp lệ: %(value)r",
    "%(prog)s: error: %(message)s\n": "%(prog)s: lỗi: %(message)s\n",
    "ambiguous option: %(option)s could match %(matches)s": "tùy chọn mơ hồ: %(option)s có thể là %(matches)s",
}


def _vietnamese_argparse() -> None:
    """argparse's own words (usage, errors) in Vietnamese: it looks them up through gettext."""
    original = argparse._  # type: ignore[attr-defined]

    def translate(text: str) -> str:
        return _ARGPARSE_WORDS.get(text, original(text))

    argparse._ = translate  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped option (`--outbx`: `--outbox`)."""

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._commands().get(getattr(parsed, "command", None) or "", self)
            known = [o for o in command._option_string_actions if o.startswith("--")]
            hints = []
            for extra in extras:
                near = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
                hints.append(f"{extra} (có phải ý bạn là {near[0]}?)" if near else extra)
            command.error(_ARGPARSE_WORDS["unrecognized arguments: %s"] % " ".join(hints))
        return parsed

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}


def _date(text: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f'"{text}" không phải ngày (ghi dạng 2022-06-05 hoặc 05/06/2022)')


def build_parser() -> argparse.ArgumentParser:
    _vietnamese_argparse()
    common = _Parser(add_help=False)
    common.add_argument(
        "--config", type=Path, metavar="TỆP", help="tệp cấu hình (mặc định: pipeline.toml ở thư mục hiện tại)"
    )
    common.add_argument("--debug", action="store_true", help="hiện chi tiết lỗi kỹ thuật (dành cho kỹ thuật viên)")
    paths = _Parser(add_help=False)
    paths.add_argument("--inbox", type=Path, metavar="THƯ_MỤC", help="thư mục nhận tệp của các CĐCS")
    paths.add_argument("--outbox", type=Path, metavar="THƯ_MỤC", help="thư mục ghi kết quả")
    paths.add_argument("--roster", type=Path, metavar="TỆP", help="danh sách CĐCS trực thuộc (.xlsx hoặc .csv)")
    paths.add_argument("--as-of", type=_date, metavar="NGÀY", help="ngày báo cáo, ví dụ 2022-06-05")

    parser = _Parser(
        prog="pipeline",
        description='Tổng hợp báo cáo Chương trình "01 triệu sáng kiến" từ tệp Excel của các công đoàn cơ sở.',
        epilog="Xem hướng dẫn chi tiết của từng lệnh: pipeline LỆNH --help",
    )
    parser.add_argument(
        "--version", action="version", version=f"pipeline {__version__}", help="hiện phiên bản rồi thoát"
    )
    sub = parser.add_subparsers(dest="command", metavar="LỆNH", title="Các lệnh")

    p = sub.add_parser(
        "template",
        parents=[common, paths],
        help="tạo biểu mẫu Excel trống và biểu mẫu riêng cho từng CĐCS",
        description="Tạo biểu mẫu trống và, nếu có danh sách CĐCS, một biểu mẫu riêng cho mỗi CĐCS đang hoạt động.",
    )
    p.add_argument(
        "--out", type=Path, metavar="THƯ_MỤC", help="thư mục ghi biểu mẫu (mặc định: THƯ_MỤC_KẾT_QUẢ/bieu-mau)"
    )
    p.set_defaults(handler=_cmd_template)

    p = sub.add_parser(
        "run",
        parents=[common, paths],
        help="kiểm tra các tệp mới trong thư mục nhận, ghi sổ theo dõi và dữ liệu tổng hợp",
        description=(
            "Đọc và kiểm tra các tệp mới trong thư mục nhận (tệp đã kiểm tra ở lần trước không đọc lại), "
            "lưu bản gốc, ghi vào sổ theo dõi, rồi ghi lại mọi kết quả: danh sách lỗi, phản hồi cho từng CĐCS, "
            "dữ liệu tổng hợp, báo cáo và run.json. Nếu không có gì mới, các kết quả giữ nguyên, không ghi lại."
        ),
    )
    p.add_argument("--pdf", action="store_true", help="xuất thêm báo cáo dạng PDF (cần LibreOffice)")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "check",
        parents=[common, paths],
        help="kiểm tra một hoặc nhiều tệp và in các lỗi tìm thấy",
        description="Kiểm tra các tệp đã cho (không ghi gì ra đĩa) và in từng lỗi kèm ô của nó.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="TỆP", help="tệp Excel cần kiểm tra")
    p.add_argument("--json", action="store_true", help="in kết quả dạng JSON, mỗi lỗi một đối tượng")
    p.set_defaults(handler=_cmd_check)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="tạo một kỳ báo cáo mẫu (dữ liệu giả định) và chạy thử",
        description="Tạo danh sách CĐCS, biểu mẫu và hộp thư mẫu với dữ liệu giả định, rồi chạy kiểm tra trên đó.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("demo"), metavar="THƯ_MỤC", help="thư mục chạy thử (mặc định: demo)"
    )
    p.add_argument(
        "--seed", type=int, default=None, metavar="SỐ", help="hạt giống ngẫu nhiên; cùng hạt giống cho cùng dữ liệu"
    )
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser(
        "status",
        parents=[common, paths],
        help="xem đơn vị nào đã nộp, nộp trễ, bị trả lại hay chưa nộp",
        description="Tình hình nộp báo cáo của các CĐCS so với danh sách.",
    )
    p.set_defaults(handler=_cmd_status)

    p = sub.add_parser(
        "serve",
        parents=[common, paths],
        help="mở trang làm việc của kỳ báo cáo trong trình duyệt (chỉ trên máy này)",
        description=(
            "Mở trang làm việc: tình hình nộp của các CĐCS, nhận tệp, chạy kiểm tra, viết và tải báo cáo. "
            "Trang chỉ mở được trên máy này; tắt bằng Ctrl+C trong cửa sổ lệnh."
        ),
    )
    p.add_argument("--port", type=int, default=0, metavar="CỔNG", help="cổng (mặc định: một cổng trống bất kỳ)")
    p.add_argument("--no-browser", action="store_true", help="không tự mở trình duyệt, chỉ in đường dẫn")
    p.set_defaults(handler=_cmd_serve)
    _mail_commands(sub, common, paths)
    return parser


def _mail_commands(sub: Any, common: argparse.ArgumentParser, paths: argparse.ArgumentParser) -> None:
    mail = sub.add_parser(
        "mail",
        help="thư điện tử: tải thư của các CĐCS, soạn thư trả lời và thư nhắc, gửi thư",
        description=(
            "Thư điện tử của kỳ báo cáo. Thứ tự thường dùng: pipeline mail fetch, pipeline run, "
            "pipeline mail drafts, pipeline mail reminders, rồi pipeline mail send --send."
        ),
    )
    commands = mail.add_subparsers(dest="mail_command", metavar="VIỆC", title="Các việc")
    p = commands.add_parser(
        "fetch",
        parents=[common, paths],
        help="tải thư mới từ hộp thư (IMAP) vào thư mục nhận",
        description="Tải các thư chưa tải từ thư mục đã cấu hình ([mail.imap]) vào thư mục nhận; không xóa thư.",
    )
    p.set_defaults(handler=_cmd_mail_fetch)
    p = commands.add_parser(
        "drafts",
        parents=[common, paths],
        help="soạn thư trả lời (thư nháp .eml) cho các CĐCS đã gửi báo cáo",
        description=(
            "Soạn một thư trả lời cho mỗi CĐCS có thư hoặc tệp chưa được trả lời: cần sửa (kèm tệp đánh dấu), "
            "cần kiểm tra, hoặc xác nhận đã nhận. Thư nháp mở được bằng Outlook, Thunderbird."
        ),
    )
    p.set_defaults(handler=_cmd_mail_drafts)
    p = commands.add_parser(
        "reminders",
        parents=[common, paths],
        help="soạn thư nhắc các CĐCS chưa nộp hoặc bị trả lại chưa nộp lại",
        description="Soạn thư nhắc (trước hạn) hoặc báo quá hạn (sau hạn), kèm biểu mẫu riêng của từng CĐCS.",
    )
    p.add_argument("--again", action="store_true", help="nhắc cả các CĐCS đã được nhắc trước đây")
    p.set_defaults(handler=_cmd_mail_reminders)
    p = commands.add_parser(
        "send",
        parents=[common, paths],
        help="gửi các thư nháp chưa gửi (chỉ gửi khi có --send)",
        description="Liệt kê các thư nháp chưa gửi; với --send thì gửi qua máy chủ SMTP đã cấu hình ([mail.smtp]).",
    )
    p.add_argument("--send", action="store_true", help="gửi thật (không có: chỉ liệt kê)")
    p.set_defaults(handler=_cmd_mail_send)
    p = commands.add_parser(
        "password",
        parents=[common],
        help="lưu mật khẩu hộp thư vào kho mật khẩu của máy",
        description="Hỏi mật khẩu hộp thư và lưu vào kho mật khẩu của máy (Windows: Credential Manager).",
    )
    p.add_argument(
        "--smtp",
        action="store_true",
        help="lưu mật khẩu riêng cho máy chủ gửi thư (chỉ cần khi máy chủ gửi thư dùng tài khoản hoặc mật khẩu khác)",
    )
    p.set_defaults(handler=_cmd_mail_password)
    mail.set_defaults(handler=lambda args: (mail.print_help(), 2)[1])


def main(argv: Sequence[str] | None = None) -> int:
    _utf8_console()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except PipelineError as exc:
        if args.debug:
            raise
        _console(stderr=True).print(f"[bold red]Lỗi:[/] {_escape(str(exc))}", markup=True, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        _console(stderr=True).print("Đã dừng theo yêu cầu.")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _console(stderr=True).print(
            f"[bold red]Lỗi không mong đợi:[/] {type(exc).__name__}: {_escape(str(exc))}. "
            "Chạy lại với --debug để xem chi tiết.",
            markup=True,
            highlight=False,
        )
        return 1


def console() -> NoReturn:
    """The `pipeline` command (and `python -m pipeline`): `main`, then the process ends at once with
    its exit code. By then every file is written and closed, the ledger and the lock released, the
    workers ended (each `with` of the run has closed what it opened); what Python would still do
    is take apart every module and object it loaded (pandas, Arrow, the run's data), about 0.2 s
    that the officer would wait for with nothing left to do. Only the console's buffers are
    flushed first."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a closed or missing console
            stream.flush()
    os._exit(code)


def _escape(text: str) -> str:
    """Text shown as it is: "[mail.smtp]" is not console markup."""
    from rich.markup import escape

    return escape(text)


def _utf8_console() -> None:
    """Vietnamese text on a Windows console whose code page is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure and (getattr(stream, "encoding", "") or "").lower() not in ("utf-8", "utf8"):
            with contextlib.suppress(ValueError, OSError):
                reconfigure(encoding="utf-8", errors="replace")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a log file or a pipe: no hard wrapping of tables at 80 columns
        console.width = 160
    return console


# --- shared setup ------------------------------------------------------------------------------


def _period(args: argparse.Namespace) -> Any:
    """The period of the configuration and the options given (`pipeline.open_period`)."""
    import pipeline

    return pipeline.open_period(
        args.config,
        inbox=getattr(args, "inbox", None),
        outbox=getattr(args, "outbox", None),
        roster=getattr(args, "roster", None),
        as_of=getattr(args, "as_of", None),
    )


class _Bar:
    """A `pipeline.Progress` drawn as a bar on the console: sized when the run knows how many files
    it will read, advanced as each is read."""

    def __init__(self, what: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = _console(stderr=True)
        self.bar = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a log file or a pipe gets the results, not a bar
        )
        self.task = self.bar.add_task("", total=None)

    def __enter__(self) -> _Bar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def start(self, total: int) -> None:
        self.bar.update(self.task, total=total)

    def advance(self, name: str) -> None:
        self.bar.update(self.task, advance=1, description=name)


# --- commands ----------------------------------------------------------------------------------


def _cmd_template(args: argparse.Namespace) -> int:
    import pipeline

    period = _period(args)
    console = _console()
    if period.roster is None:
        console.print(
            f'Chưa có danh sách CĐCS "{period.settings.paths.roster}": chỉ tạo biểu mẫu trống. '
            "Dùng --roster TỆP để tạo biểu mẫu riêng cho từng CĐCS."
        )
    paths = pipeline.templates(period, args.out)
    console.print(f"Đã tạo biểu mẫu trống: {paths[0]}")
    if period.roster is not None:
        folder = paths[0].parent
        console.print(f"Đã tạo {len(paths) - 1} biểu mẫu riêng cho các CĐCS đang hoạt động trong thư mục: {folder}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    period = _period(args)
    result = _run_with_progress(period, pdf=args.pdf)
    _print_run(result, period.settings, pdf=args.pdf)
    return 0


def _run_with_progress(period: Any, pdf: bool = False) -> Any:
    import pipeline

    with _Bar("Đang đọc tệp") as bar:
        return pipeline.run(period, pdf=pdf, progress=bar)


_FILE_TABLE_MAX = 100  # more files than this: the table lists only those that are not plainly accepted


def _print_run(result: Any, settings: Any, pdf: bool = False) -> None:
    from rich.table import Table

    from pipeline.findings import Severity
    from pipeline.outputs import OUTPUTS
    from pipeline.results import Status

    console = _console()
    fresh = sum(1 for r in result.files if r.new)
    table = Table(
        title=f"Các tệp của kỳ báo cáo ({len(result.files)} tệp, {fresh} tệp mới kiểm tra lần này)",
        title_justify="left",
    )
    for header in ("Tệp", "Kết quả", "Mã CĐCS", "Sáng kiến", "Lỗi", "Cảnh báo", "Ghi chú"):
        table.add_column(header, overflow="fold")
    shown = result.files
    if len(shown) > _FILE_TABLE_MAX:  # a province: only the files that need a look
        shown = [r for r in result.files if r.status is not Status.ACCEPTED][:_FILE_TABLE_MAX]
    for r in shown:
        note = r.reason or ("" if r.new or not r.sha256 else "đã kiểm tra ở lần chạy trước")
        table.add_row(
            r.name,
            r.status.label,
            r.unit_code or "",
            str(r.initiatives) if r.sha256 else "",
            str(r.count(Severity.ERROR)),
            str(r.count(Severity.WARNING)),
            note,
        )
    console.print(table)
    _print_messages(console, result.messages)
    if len(shown) < len(result.files):
        console.print(
            f"Bảng trên chỉ liệt kê {len(shown)} tệp cần xem lại; {len(result.files) - len(shown)} tệp còn lại được "
            "nhận, không có lỗi hay cảnh báo. Danh sách đầy đủ ở tệp run.json."
        )
    rejected = [r for r in result.files if r.status is Status.REJECTED and r.new]
    if rejected:
        console.print("Các tệp mới bị trả lại và lỗi cần sửa:", style="bold")
        for r in rejected:
            console.print(f"  {r.name}")
            for f in r.findings:
                if f.severity is Severity.ERROR:
                    where = f"{f.location.ref}: " if f.location.ref else ""
                    console.print(f"    - {where}{f.message}")
    for code, change in result.changes.items():
        console.print(f'{code} gửi bản mới "{change.current}" thay cho "{change.previous}":', style="bold")
        if change.empty:
            console.print("  không đổi sáng kiến nào")
        for title in change.added:
            console.print(f"  + thêm: {title}")
        for title in change.removed:
            console.print(f"  - bỏ: {title}")
        for title, fields in change.edited:
            console.print(f"  ~ sửa: {title} ({', '.join(fields)})")
    counts = result.counts
    console.print(" · ".join(f"{s.label}: {counts.get(s, 0)}" for s in Status))
    t = result.totals
    console.print(
        f"Đã có {t['units_reported']}/{t['units_in_roster']} CĐCS nộp báo cáo được nhận "
        f"({t['units_on_time']} đúng hạn, {t['units_late']} trễ hạn); {t['units_rejected']} CĐCS bị trả lại "
        f"chưa nộp lại; {t['units_missing']} CĐCS chưa nộp. Tổng cộng {t['initiatives']} sáng kiến."
    )
    if result.unchanged:
        console.print(
            "Không có tệp mới, cấu hình, danh sách CĐCS và nội dung báo cáo cũng không đổi từ lần chạy trước: "
            "báo cáo và các kết quả dưới đây giữ nguyên như lần đó, không ghi lại."
        )
    console.print()
    outputs = result.outputs
    for o in OUTPUTS:
        if not o.report and o.key in outputs:
            console.print(f"{o.label}: {outputs[o.key]}")
    feedback = [r for r in result.files if r.message]
    if feedback:
        console.print(
            f"Tệp phản hồi cho {len(feedback)} tệp (bảng tính đã đánh dấu và lời nhắn để gửi qua email/Zalo): "
            f"{outputs['feedback']}"
        )
    console.print(f"Tóm tắt cho máy đọc: {outputs['run_json']}")
    console.print(f"Sổ theo dõi các lần nộp: {outputs['ledger']}; bản gốc các tệp: {outputs['archive']}")
    reports = [o for o in OUTPUTS if o.report and o.key in outputs]
    if reports:
        console.print()
        console.print("Báo cáo tổng hợp gửi LĐLĐ tỉnh:", style="bold")
    for o in reports:
        console.print(f"  {o.label}: {outputs[o.key]}")
        if o.key == "report_docx" and "report_pdf" in outputs:
            console.print(f"  Bản PDF: {outputs['report_pdf']}")
        elif o.key == "report_docx" and pdf:
            console.print(
                "  Chưa xuất được bản PDF (máy chưa cài LibreOffice, hoặc chuyển đổi bị lỗi). "
                "Có thể mở tệp Word và lưu thành PDF."
            )
    if result.unfilled:
        console.print(
            f"Báo cáo còn {len(result.unfilled)} mục chưa viết (đang để dòng gợi ý, tô vàng trong báo cáo): "
            f"{'; '.join(result.unfilled)}. Viết các mục này trong tệp {settings.paths.report_text} "
            "rồi chạy lại lệnh run.",
            style="bold yellow",
        )
        if "report_pdf" in outputs:
            console.print("Bản PDF chưa sẵn sàng để gửi: còn mục chưa viết.", style="bold yellow")


def _print_messages(console: Any, messages: Sequence[Any]) -> None:
    """The e-mails of this run that gave no file to read: the officer sees each, with its reason."""
    noted = [m for m in messages if m.new and (m.problem or m.duplicate_of)]
    if noted:
        console.print("Thư điện tử không có tệp để đọc:")
    for m in noted:
        why = f'trùng thư "{m.duplicate_of}" đã nhận' if m.duplicate_of else m.problem
        sender = f" của {m.letter.sender}" if m.letter and m.letter.sender else ""
        console.print(f"  {m.name}{sender}: {why}", markup=False)


def _cmd_check(args: argparse.Namespace) -> int:
    import pipeline

    with _Bar("Đang kiểm tra tệp") as bar:
        result = pipeline.check(_period(args), args.files, progress=bar)
    if args.json:
        findings = [f.to_dict() for r in result.files for f in r.findings]
        print(json.dumps(findings, ensure_ascii=False, indent=2))
        return 0
    _print_check(result)
    return 0


def _print_check(result: Any) -> None:
    from rich.table import Table

    from pipeline.findings import Severity

    console = _console()
    _print_messages(console, result.messages)
    for r in result.files:
        errors, warnings = r.count(Severity.ERROR), r.count(Severity.WARNING)
        console.print(f"[bold]{r.name}[/]: {r.status.label} ({errors} lỗi, {warnings} cảnh báo)", highlight=False)
        if not r.findings:
            continue
        table = Table(show_lines=False)
        for header in ("Ô", "Mức độ", "Mục", "Nội dung"):
            table.add_column(header, overflow="fold")
        for f in r.findings:
            table.add_row(f.location.ref, f.severity.label, f.field or "", f.message)
        console.print(table)


def _cmd_demo(args: argparse.Namespace) -> int:
    import pipeline
    from pipeline.demo import DEFAULT_SEED, TEMPLATES_DIR, build_demo

    period = _period(args)
    console = _console()
    console.print(f'Đang tạo kỳ báo cáo mẫu (dữ liệu giả định) trong thư mục "{args.out}"...')
    demo = build_demo(args.out, period.settings, period.form, seed=DEFAULT_SEED if args.seed is None else args.seed)
    console.print(
        f"Đã tạo {len(demo.files)} tệp trong hộp thư mẫu {demo.settings.paths.inbox} "
        f"({len(demo.silent)} CĐCS không nộp: {', '.join(demo.silent)})."
    )
    pdf = shutil.which("soffice") is not None or shutil.which("libreoffice") is not None
    result = _run_with_progress(pipeline.Period(demo.settings, period.form, demo.roster), pdf=pdf)
    _print_run(result, demo.settings, pdf=pdf)
    console.print()
    console.print(f"Biểu mẫu riêng của các CĐCS: {demo.folder / TEMPLATES_DIR}")
    console.print(f"Kết quả chạy thử: {demo.settings.paths.outbox}")
    console.print(
        f'Thư mục chạy thử có tệp cấu hình riêng "{demo.settings.source.name}". Để thử tiếp các lệnh khác '
        f"trên kỳ báo cáo mẫu, chuyển vào thư mục đó (cd {args.out}) rồi gõ, ví dụ: pipeline status; "
        "hoặc mở trang làm việc của kỳ mẫu trong trình duyệt: pipeline serve"
    )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    import pipeline
    from pipeline.merge import Reporting

    period = _period(args)
    settings = period.settings
    states = pipeline.status(period)
    console = _console()
    table = Table(
        title=f"Tình hình nộp báo cáo đến ngày {settings.as_of:%d/%m/%Y} (hạn nộp {settings.deadline:%d/%m/%Y})",
        title_justify="left",
    )
    for header in ("Mã CĐCS", "Tên CĐCS", "Khối", "Tình trạng", "Ngày nhận", "Tệp đang dùng", "Ghi chú"):
        table.add_column(header, overflow="fold")
    order = [Reporting.MISSING, Reporting.REJECTED, Reporting.LATE, Reporting.ON_TIME]
    ordered = sorted(states.values(), key=lambda s: (order.index(s.reporting), s.code))
    for s in ordered:
        notes = []
        if not s.in_roster:
            notes.append("mã không có trong danh sách")
        if s.latest_rejected is not None:
            notes.append(f'tệp gửi sau "{s.latest_rejected.name}" bị trả lại')
        if s.superseded:
            notes.append(f"đã gửi {len(s.superseded) + 1} lần")
        table.add_row(
            s.code, s.name, s.sector or "", s.reporting.label,
            f"{s.received:%d/%m/%Y}" if s.received else "", s.current.name if s.current else "", "; ".join(notes),
        )  # fmt: skip
    console.print(table)
    in_roster = [s for s in states.values() if s.in_roster]
    counts = Counter(s.reporting for s in in_roster)
    reported = sum(1 for s in in_roster if s.current is not None)
    on_time = counts.get(Reporting.ON_TIME, 0)
    console.print(
        f"Tỷ lệ nộp báo cáo: {reported}/{len(in_roster)} CĐCS ({_percent(reported, len(in_roster))}); "
        f"đúng hạn: {on_time}/{len(in_roster)} ({_percent(on_time, len(in_roster))}). "
        + " · ".join(f"{r.label}: {counts.get(r, 0)}" for r in Reporting)
    )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from pipeline.web.serve import serve

    console = _console()

    def told(address: Any) -> None:
        console.print("Trang làm việc đang chạy trên máy này. Mở trong trình duyệt:", markup=False)
        console.print(f"  {address.url}", markup=False)
        console.print("Để tắt: bấm Ctrl+C trong cửa sổ này.", markup=False)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how the page is stopped, not an interruption
        serve(lambda: _period(args), port=args.port, open_browser=not args.no_browser, told=told)
    console.print("Đã tắt trang làm việc.", markup=False)
    return 0


# --- mail --------------------------------------------------------------------------------------


def _cmd_mail_fetch(args: argparse.Namespace) -> int:
    import pipeline

    period = _period(args)
    fetched = pipeline.fetch_mail(period)
    out = _console()
    out.print(
        f"Hộp thư {_escape(fetched.mailbox)}: {len(fetched.saved)} thư mới, {fetched.already} thư đã tải trước đây.",
        markup=False,
    )
    for path in fetched.saved:
        out.print(f"  {path}", markup=False)
    for what in fetched.too_large:
        out.print(f"  [yellow]Không tải thư {_escape(what)}: quá lớn so với một báo cáo; thư vẫn nằm trên máy chủ.[/]")
    if fetched.saved:
        out.print("Chạy tiếp: pipeline run")
    return 0


def _print_drafted(drafted: Any, none: str) -> None:
    from pipeline.mail.drafts import KIND_WORDS

    out = _console()
    if not drafted.made:
        out.print(none)
    for d in drafted.made:
        attached = f" (kèm {', '.join(d.attachments)})" if d.attachments else ""
        out.print(f"  {KIND_WORDS[d.kind]}: {', '.join(d.to)}{attached}\n    {d.path}", markup=False)
    for who, why in drafted.skipped:
        out.print(f"  [yellow]Không soạn thư cho {_escape(who)}: {_escape(why)}.[/]")
    if drafted.made:
        out.print(
            f"Đã soạn {len(drafted.made)} thư nháp. Mở bằng Outlook hoặc Thunderbird để xem, sửa và gửi; "
            "hoặc gửi tất cả bằng: pipeline mail send --send"
        )


def _cmd_mail_drafts(args: argparse.Namespace) -> int:
    import pipeline

    _print_drafted(pipeline.draft_replies(_period(args)), "Không có thư nào mới cần trả lời.")
    return 0


def _cmd_mail_reminders(args: argparse.Namespace) -> int:
    import pipeline

    _print_drafted(pipeline.draft_reminders(_period(args), again=args.again), "Không soạn thêm thư nhắc nào.")
    return 0


def _cmd_mail_send(args: argparse.Namespace) -> int:
    import pipeline

    sending = pipeline.send_drafts(_period(args), send=args.send)
    out = _console()
    for d in sending.uncertain:
        out.print(
            f"  [yellow]Thư cho {_escape(', '.join(d.recipients))} ({_escape(d.path)}) đang gửi thì chương trình "
            "dừng: có thể đã đi. Hỏi lại đơn vị hoặc xem thư mục Thư đã gửi của hộp thư; chương trình không tự "
            "gửi lại thư này.[/]"
        )
    for d in sending.withdrawn:
        out.print(f"  Bỏ thư nháp cho {_escape(', '.join(d.recipients))}: tệp thư nháp đã bị xóa.", markup=False)
    if not sending.to_send:
        out.print("Không có thư nháp nào chưa gửi.")
        return 0
    if not args.send:
        out.print(f"{len(sending.to_send)} thư nháp chưa gửi:")
        for d in sending.to_send:
            out.print(f"  {', '.join(d.recipients)}: {d.subject}", markup=False)
        out.print("Chưa gửi thư nào. Để gửi tất cả: pipeline mail send --send")
        return 0
    out.print(f"Đã gửi {len(sending.sent)} thư.")
    for d, why in sending.failed:
        out.print(f"  [red]Không gửi được thư cho {_escape(', '.join(d.recipients))}: {_escape(why)}[/]")
    return 1 if sending.failed else 0


def _cmd_mail_password(args: argparse.Namespace) -> int:
    import getpass

    from pipeline.mail.account import save_password

    settings = _period(args).settings
    server = settings.mail.smtp if args.smtp else settings.mail.imap
    secret = getpass.getpass("Mật khẩu hộp thư (không hiện khi gõ): ")
    if not secret:
        _console(stderr=True).print("Chưa nhập mật khẩu; không lưu gì.")
        return 2
    where = save_password(settings, server, secret)
    _console().print(f"Đã lưu mật khẩu vào {where}.", markup=False)
    return 0


def _percent(part: int, whole: int) -> str:
    from pipeline.numbers import percent

    return percent(part / whole) if whole else "0%"
