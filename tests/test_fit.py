"""Row heights for wrapped text (`pipeline.render.fit`): the line count of a wrapped cell."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pipeline.render.fit import wrapped_lines


def _laid_out(text: str, per_line: float) -> int:
    """Words laid out greedily, one paragraph at a time, as the estimate is defined."""
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0
        for word in paragraph.split():
            if used and used + 1 + len(word) > per_line:
                lines += 1
                used = 0
            used += len(word) + (1 if used else 0)
            while used > per_line:
                lines += 1
                used -= math.floor(per_line) or 1
    return lines


def test_lines_of_known_texts() -> None:
    assert wrapped_lines("", 10) == 1
    assert wrapped_lines("Sáng kiến", 10) == 1
    assert wrapped_lines("Sáng kiến cải tiến", 10) == 2  # "Sáng kiến" / "cải tiến"
    assert wrapped_lines("một\nhai\n", 10) == 3
    assert wrapped_lines("x" * 25, 10) == 3  # a word longer than the line breaks anywhere
    assert wrapped_lines("a  b", 3) == 1  # spaces are not counted twice (the words fit: "a b")


@given(st.text(alphabet=st.sampled_from("ab ể\n\t\u00a0\u2028"), max_size=60), st.floats(0.5, 30))
def test_a_short_text_is_counted_as_its_words_laid_out(text: str, per_line: float) -> None:
    """The shortcut for a text that fits on one line gives what laying its words out gives."""
    assert wrapped_lines(text, per_line) == _laid_out(text, per_line)
