"""Row heights for wrapped text, for every workbook the project writes.

Excel works out a row's height when the row is edited; LibreOffice, and Excel for a row a file
gives no height, show one line and let wrapped text spill over the next rows. So whoever writes a
row with wrapped text sets its height, from these estimates (erring on the tall side).
"""

from __future__ import annotations

import math

DEFAULT_WIDTH = 8.43  # Excel's default column width, in widths of a digit of the default font
MAX_HEIGHT = 409.0  # Excel's largest row height, in points


def wrapped_lines(text: str, per_line: float) -> int:
    """The lines a wrapped cell takes: words laid out greedily, `per_line` characters a line."""
    if len(text) <= per_line and "\n" not in text:  # most cells: one line, whatever its words
        return 1
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0
        for word in paragraph.split():
            if used and used + 1 + len(word) > per_line:
                lines += 1
                used = 0
            if used:
                used += 1
            used += len(word)
            while used > per_line:  # a word longer than the line breaks anywhere
                lines += 1
                used -= math.floor(per_line) or 1
    return lines


def chars_per_line(width: float, font_size: float = 11, bold: bool = False) -> float:
    """How many characters of Vietnamese text fit across a column `width` wide (Excel's unit: the
    digit width of the 11-point default font, about 7 pixels) in a font of `font_size` points."""
    return max(1.0, width * 1.15 * 11 / font_size * (0.9 if bold else 1.0))


def row_height(lines: int, font_size: float = 11) -> float:
    """The height in points of a row of `lines` lines of `font_size`-point text."""
    return min(MAX_HEIGHT, lines * font_size * 1.3 + 3)
