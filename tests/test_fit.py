"""Row heights for wrapped text (`pipeline.render.fit`): the line count of a wrapped cell."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.render.fit import wrapped_lines


def test_lines_of_known_texts() -> None:
    assert wrapped_lines("", 10) == 1
    assert wrapped_lines("Sáng kiến", 10) == 1
    assert wrapped_lines("Sáng kiến cải tiến", 10) == 2  # "Sáng kiến" / "cải tiến"
    assert wrapped_lines("một\nhai\n", 10) == 3
    assert wrapped_lines("x" * 25, 10) == 3  # a word longer than the line breaks anywhere
    assert wrapped_lines("a  b", 3) == 1  # spaces are not counted twice (the words fit: "a b")


@given(st.text(alphabet=st.sampled_from("ab ể\t\u00a0\u2028"), max_size=60), st.floats(0.5, 30))
def test_a_text_on_one_line_is_counted_as_its_words_laid_out(text: str, per_line: float) -> None:
    """The shortcut for a text that fits on one line gives what laying its words out gives: the
    same text with an empty paragraph after it is laid out word by word, one line more."""
    assert wrapped_lines(text, per_line) == wrapped_lines(text + "\n", per_line) - 1
