"""The report's charts as SVG, in plain Python: no plotting library, no script, no external file.

`progress_svg` draws the initiatives registered in each phase, cumulated over the registration
dates, against the phase's target (dashed); `bars_svg` draws horizontal bars with their labels and
values (initiatives by sector, by field); `rate_svg` draws the participation rate of each union
against the target line (5%). Each returns a standalone SVG document as a string: an `xmlns`, a
`<title>`, `role="img"` with an `aria-label`, and a `viewBox` so that it scales to any width (a
phone, a page, a picture for the DOCX). Every piece of text is escaped here, so the string is safe
to insert into HTML as it is. Numbers and dates are written the Vietnamese way (`numbers`).

The geometry is in SVG user units; a label sits above its bar rather than beside it so that the
chart stays readable when a phone shrinks it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import escape

from pipeline.figures import Bar, PhaseProgress
from pipeline.numbers import date, number, percent

WIDTH = 420
PAD = 12
FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"
FONT_SIZE = 14
SMALL = 12
CHAR = 0.6  # average advance of a character, in ems, for DejaVu Sans (Vietnamese text); on the safe side

INK = "#1f2933"
MUTED = "#52606d"
GRID = "#d9e2ec"
BAR = "#2f6690"
LOW = "#c2410c"  # below the target
GOOD = "#2f855a"  # at or above the target
TARGET = "#b91c1c"


def target_percent(value: float) -> str:
    """A target rate: "5%", or "4,5%" when it is not a whole percentage."""
    return percent(value, 0 if round(value * 100, 6).is_integer() else 1)


def _e(value: object) -> str:
    """Text or attribute value, escaped for XML and HTML alike."""
    return str(escape(str(value)))


def _n(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _document(height: float, title: str, body: Sequence[str], description: str | None = None) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {_n(height)}" '
        f'width="{WIDTH}" height="{_n(height)}" role="img" aria-label="{_e(title)}" '
        f'font-family="{_e(FONT)}" font-size="{FONT_SIZE}" fill="{INK}">',
        f"<title>{_e(title)}</title>",
    ]
    if description:
        parts.append(f"<desc>{_e(description)}</desc>")
    parts += [*body, "</svg>"]
    return "\n".join(parts)


def _text(x: float, y: float, text: str, *, size: int = FONT_SIZE, anchor: str = "start", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{_e(v)}"' for k, v in attrs.items())
    anchor_attr = f' text-anchor="{anchor}"' if anchor != "start" else ""
    size_attr = f' font-size="{size}"' if size != FONT_SIZE else ""
    return f'<text x="{_n(x)}" y="{_n(y)}"{anchor_attr}{size_attr}{extra}>{_e(text)}</text>'


def _fits(width: float, size: int) -> int:
    """How many characters fit in `width` at `size`."""
    return max(1, int(width / (size * CHAR)))


def wrap(text: str, width: float, size: int = FONT_SIZE, lines: int = 2) -> list[str]:
    """Split a label into at most `lines` lines that fit `width`; the last one ends with "…" if cut."""
    limit = _fits(width, size)
    words = text.split()
    out: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        current = word
        if len(out) == lines - 1:
            rest = " ".join([current, *words[i + 1 :]])
            current = rest
            break
    if current:
        out.append(current)
    if not out:
        return [""]
    out = out[:lines]
    if len(out[-1]) > limit:
        out[-1] = out[-1][: limit - 1].rstrip() + "…"
    return out


def nice_ticks(top: float, count: int = 4, whole: bool = True) -> list[float]:
    """Round tick values from 0 to at least `top`: 0, 10, 20, …; whole numbers only if `whole`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(step, 1)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


# --- horizontal bars ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    label: str
    value: float | None
    text: str  # the value as written
    colour: str


def _hbars(
    rows: Sequence[_Row],
    title: str,
    top: float,
    *,
    header: Sequence[str] = (),
    marker: tuple[float, str] | None = None,
    empty: str = "Không có số liệu",
    label_size: int = FONT_SIZE,
    bar_h: int = 14,
) -> str:
    """Bars from a common zero, each under its label, value at the end of the bar.

    A marker (the target) is a dashed vertical line drawn across the bars only, never over a label.
    """
    value_room = 64
    track = WIDTH - 2 * PAD - value_room
    scale = track / top if top > 0 else 0.0
    marker_x = PAD + marker[0] * scale if marker is not None else None
    body: list[str] = []
    y = PAD
    for line in (part for text in header for part in wrap(text, WIDTH - 2 * PAD, SMALL, lines=3)):
        y += SMALL + 3
        body.append(_text(PAD, y, line, size=SMALL, fill=MUTED))
    if header:
        y += 8
    if marker is not None:
        y += SMALL + 4  # room for the marker's label
    first = y
    behind = len(body)  # the axis and the marker go here, under the bars
    if not rows:
        y += FONT_SIZE + 6
        body.append(_text(PAD, y, empty, fill=MUTED))
        y += 6
    for row in rows:
        lines = wrap(row.label, WIDTH - 2 * PAD, label_size)
        body.append("<g>")
        body.append(f"<title>{_e(row.label)}: {_e(row.text)}</title>")
        for line in lines:
            y += label_size + 3
            body.append(_text(PAD, y, line, size=label_size))
        y += 4
        if row.value is None:
            body.append(_text(PAD, y + bar_h - 2, row.text, size=SMALL, fill=MUTED, font_style="italic"))
        else:
            length = max(0.0, row.value * scale)
            if row.value > 0:
                length = max(length, 1.5)  # a small value stays visible
            body.append(
                f'<rect x="{PAD}" y="{_n(y)}" width="{_n(length)}" height="{bar_h}" rx="2" fill="{row.colour}"/>'
            )
            x = PAD + length + 5
            if marker_x is not None and x - 4 < marker_x < x + len(row.text) * SMALL * 0.6 + 2:
                x = marker_x + 5  # the value clears the target line
            body.append(_text(x, y + bar_h / 2 + SMALL * 0.36, row.text, size=SMALL, font_weight="bold"))
        if marker_x is not None:
            body.append(
                f'<line x1="{_n(marker_x)}" y1="{_n(y - 3)}" x2="{_n(marker_x)}" y2="{_n(y + bar_h + 3)}" '
                f'stroke="{TARGET}" stroke-width="1.5" stroke-dasharray="4 2"/>'
            )
        y += bar_h + 7
        body.append("</g>")
    last = y
    under = [f'<line x1="{PAD}" y1="{_n(first)}" x2="{PAD}" y2="{_n(last)}" stroke="{GRID}"/>']
    if marker is not None and marker_x is not None:
        label = marker[1]
        x = marker_x
        anchor = "middle" if PAD + 40 < x < WIDTH - PAD - 40 else ("start" if x <= PAD + 40 else "end")
        under.append(_text(x, first - 5, label, size=SMALL, anchor=anchor, fill=TARGET, font_weight="bold"))
    body[behind:behind] = under
    return _document(last + PAD, title, body)


def bars_svg(
    bars: Sequence[Bar],
    title: str,
    *,
    value_text: Callable[[float], str] = number,
    colour: str = BAR,
    note: str | None = None,
    empty: str = "Chưa có sáng kiến nào",
) -> str:
    """Horizontal bars, one per `Bar`, in the given order (initiatives by sector, by field, …)."""
    top = max((b.value for b in bars if b.value is not None), default=0)
    rows = [
        _Row(b.label, b.value, "không có số liệu" if b.value is None else value_text(b.value), colour) for b in bars
    ]
    return _hbars(rows, title, top if top > 0 else 1, header=[note] if note else (), empty=empty)


def rate_svg(
    bars: Sequence[Bar],
    target: float,
    title: str = "Tỷ lệ tham gia sáng kiến theo CĐCS",
    *,
    note: str | None = None,
) -> str:
    """The rate of each union (fractions) against the target line; a union without members says so."""
    top = max([target, *(b.value for b in bars if b.value is not None)])
    top = top * 1.12 if top > 0 else 0.1
    rows = [
        _Row(
            b.label,
            b.value,
            (b.note or "không có số liệu") if b.value is None else percent(b.value),
            GOOD if b.value is not None and b.value >= target else LOW,
        )
        for b in bars
    ]
    reached = sum(1 for b in bars if b.value is not None and b.value >= target)
    silent = sum(1 for b in bars if b.value is None)
    header = [
        *([note] if note else []),
        f"{number(reached)}/{number(len(bars))} CĐCS đạt chỉ tiêu {target_percent(target)} "
        "(thanh xanh: đạt; thanh cam: dưới chỉ tiêu)"
        + (f"; {number(silent)} CĐCS chưa có số liệu, ghi ở cuối." if silent else "."),
    ]
    return _hbars(
        rows,
        title,
        top,
        header=header,
        marker=(target, f"Chỉ tiêu {target_percent(target)}"),
        empty="Chưa có CĐCS nào",
        label_size=13,
        bar_h=10,
    )


# --- progress against the phase targets -----------------------------------------------------------------


PANEL_H = 150
AXIS_ROOM = 36  # left, for the counts


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    first = dt.date(start.year, start.month, 1)
    out = []
    d = first if first >= start else _next_month(first)
    while d <= end:
        out.append(d)
        d = _next_month(d)
    return out


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _panel(phase: PhaseProgress, top_y: float, as_of: dt.date | None) -> tuple[list[str], float]:
    """One phase: heading, axes, the target line, the cumulative steps; returns (elements, bottom)."""
    body: list[str] = []
    y = top_y + FONT_SIZE
    period = f"{date(phase.start)} – {date(phase.end)}"
    body.append(_text(PAD, y, f"{phase.phase} ({period})", font_weight="bold"))
    y += SMALL + 6
    ratio = phase.total / phase.target if phase.target else None
    reached = f"{number(phase.total)}/{number(phase.target)} sáng kiến"
    if ratio is not None:
        reached += f", đạt {percent(ratio)} chỉ tiêu"
    if as_of is not None and as_of < phase.start:
        reached = f"Chưa bắt đầu; chỉ tiêu {number(phase.target)} sáng kiến"
    body.append(_text(PAD, y, reached, size=SMALL, fill=MUTED))
    plot_top = y + 14
    left, right = PAD + AXIS_ROOM, WIDTH - PAD - 8
    bottom = plot_top + PANEL_H
    span = max((phase.end - phase.start).days, 1)

    def x_of(d: dt.date) -> float:
        return left + (right - left) * min(max((d - phase.start).days, 0), span) / span

    ticks = nice_ticks(max(phase.target, phase.total) * 1.08)
    high = ticks[-1]

    def y_of(v: float) -> float:
        return bottom - (bottom - plot_top) * v / high

    for t in ticks:
        body.append(f'<line x1="{_n(left)}" y1="{_n(y_of(t))}" x2="{_n(right)}" y2="{_n(y_of(t))}" stroke="{GRID}"/>')
        body.append(_text(left - 5, y_of(t) + 4, number(t), size=SMALL, anchor="end", fill=MUTED))
    months = _months(phase.start, phase.end)
    step = max(1, math.ceil(len(months) / 5))
    for i, m in enumerate(months):
        x = x_of(m)
        body.append(f'<line x1="{_n(x)}" y1="{_n(bottom)}" x2="{_n(x)}" y2="{_n(bottom + 4)}" stroke="{MUTED}"/>')
        if i % step == 0:
            body.append(_text(x, bottom + 16, f"{m.month:02d}/{m.year}", size=SMALL, anchor="middle", fill=MUTED))
    body.append(f'<line x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(right)}" y2="{_n(bottom)}" stroke="{MUTED}"/>')

    ty = y_of(phase.target)
    body.append(
        f'<line x1="{_n(left)}" y1="{_n(ty)}" x2="{_n(right)}" y2="{_n(ty)}" stroke="{TARGET}" '
        'stroke-width="1.5" stroke-dasharray="6 4"/>'
    )
    # At the left, where the cumulative line is still low.
    label = f"Chỉ tiêu {number(phase.target)}"
    body.append(_text(left + 4, ty - 5, label, size=SMALL, fill=TARGET, font_weight="bold"))

    started = as_of is None or as_of >= phase.start
    if started:
        end = min(as_of, phase.end) if as_of is not None else (phase.points[-1][0] if phase.points else phase.start)
        coords = [(x_of(phase.start), y_of(0))]
        count = 0
        for d, total in phase.points:
            if as_of is not None and d > as_of:
                break
            coords.append((x_of(d), y_of(count)))
            count = total
            coords.append((x_of(d), y_of(count)))
        coords.append((x_of(end), y_of(count)))
        path = " ".join(f"{_n(a)},{_n(b)}" for a, b in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BAR}" stroke-width="2.5"/>')
        for d, total in phase.points:
            if as_of is None or d <= as_of:
                body.append(
                    f'<circle cx="{_n(x_of(d))}" cy="{_n(y_of(total))}" r="2.5" fill="{BAR}">'
                    f"<title>{_e(date(d))}: {_e(number(total))} sáng kiến</title></circle>"
                )
    if as_of is not None and phase.start <= as_of <= phase.end:
        x = x_of(as_of)
        body.append(
            f'<line x1="{_n(x)}" y1="{_n(plot_top)}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{MUTED}" '
            'stroke-dasharray="2 3"/>'
        )
        anchor = "end" if x > (left + right) / 2 else "start"
        dx = -4 if anchor == "end" else 4
        body.append(_text(x + dx, plot_top + 10, f"Ngày báo cáo {date(as_of)}", size=SMALL, anchor=anchor, fill=MUTED))
    return body, bottom + 24


def progress_svg(
    progress: Sequence[PhaseProgress],
    title: str = "Tiến độ đăng ký sáng kiến so với chỉ tiêu từng giai đoạn",
    *,
    as_of: dt.date | None = None,
) -> str:
    """One panel per phase: initiatives registered, cumulated by date, and the phase target (dashed).

    With `as_of`, the line runs to the report date (or the phase's end) and the date is marked; a
    phase that has not started yet is shown empty.
    """
    note = "Số sáng kiến đăng ký, cộng dồn theo ngày đăng ký"
    body: list[str] = [_text(PAD, PAD + SMALL, note, size=SMALL, fill=MUTED)]
    y: float = PAD + SMALL + 10
    for phase in progress:
        elements, y = _panel(phase, y, as_of)
        body += elements
        y += 6
    if not progress:
        y += FONT_SIZE + 6
        body.append(_text(PAD, y, "Chưa có giai đoạn nào", fill=MUTED))
    description = "; ".join(
        f"{p.phase}: {number(p.total)} sáng kiến trên chỉ tiêu {number(p.target)}" for p in progress
    )
    return _document(y + PAD, title, body, description or None)


__all__ = ["bars_svg", "nice_ticks", "progress_svg", "rate_svg", "target_percent", "wrap"]
