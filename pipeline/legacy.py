"""Text typed in the legacy 8-bit Vietnamese encodings TCVN3 (ABC) and VNI Windows (spec §3.3).

A cell typed with a ".VnTime" (TCVN3) or "VNI-Times" (VNI) font holds the legacy bytes, and an .xlsx
stores them as the Windows-1252 characters of those bytes: "Nguyễn Văn An" is "NguyÔn V¨n An" in
TCVN3 and "Nguyeãn Vaên An" in VNI. `repair` finds such text and converts it to Unicode (NFC); the
caller reports each repair as a notice. Nothing is guessed silently: `detect` says "TCVN3" or "VNI"
only when the converted text reads as Vietnamese syllables and the original did not.

The tables follow the published ones (Unikey's VnConv; libiconv's TCVN 5712 for the lowercase and
the modified letters):

- TCVN3 (TCVN 5712:1993 VN3, the ABC fonts) has one byte for each of the 67 lowercase letters and for
  "Ă Â Ê Ô Ơ Ư Đ"; an uppercase letter with a tone has no byte of its own: it is the lowercase byte,
  shown in capitals by the uppercase fonts (".VnTimeH"). Case is restored from the context: a word in
  an all-capitals text, a word whose other letters are capitals, the first word of a sentence, and a
  word in a text where every word starts with a capital.
- VNI Windows writes a vowel as its base letter followed by one byte for the diacritics ("a" + "ù" is
  "á", "a" + "â" is "â", "a" + "á" is "ấ", "a" + "ê" is "ă", "o" + "â" is "ô"); "ơ", "ư", "đ", the
  "i" with a tone and "ỵ" are single bytes ("ô", "ö", "ñ", "í ì æ ó ò", "î").

Call `repair` on the text as it was read from the cell, before `pipeline.text.clean_text`: that one
turns "Ð" (TCVN3 "é") into "Đ", after which the text no longer looks like TCVN3.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import filterfalse, pairwise
from typing import Final

TCVN3: Final = "TCVN3"
VNI: Final = "VNI"
ENCODINGS: Final = (TCVN3, VNI)

# Detection thresholds (see `detect`).
MIN_VALID_SHARE: Final = 0.8  # converted words that are Vietnamese syllables, of the words that changed
MIN_CONSUMED_SHARE: Final = 0.8  # legacy characters that ended in such a syllable, of all in the text
MAX_ALREADY_VIETNAMESE_SHARE: Final = 0.75  # changed words that already read as Unicode Vietnamese

_GRAVE, _ACUTE, _TILDE, _HOOK, _DOT = "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"
_CIRCUMFLEX, _BREVE = "\u0302", "\u0306"
_TONE_MARKS: Final = frozenset((_GRAVE, _ACUTE, _TILDE, _HOOK, _DOT))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --- TCVN3 -------------------------------------------------------------------------------------------

# The letters with a tone, five bytes per vowel in the order grave, hook, tilde, acute, dot below.
_TCVN3_TONED: Final = {
    "a": "\xb5\xb6\xb7\xb8\xb9",
    "ă": "\xbb\xbc\xbd\xbe\xc6",
    "â": "\xc7\xc8\xc9\xca\xcb",
    "e": "\xcc\xce\xcf\xd0\xd1",
    "ê": "\xd2\xd3\xd4\xd5\xd6",
    "i": "\xd7\xd8\xdc\xdd\xde",
    "o": "\xdf\xe1\xe2\xe3\xe4",
    "ô": "\xe5\xe6\xe7\xe8\xe9",
    "ơ": "\xea\xeb\xec\xed\xee",
    "u": "\xef\xf1\xf2\xf3\xf4",
    "ư": "\xf5\xf6\xf7\xf8\xf9",
    "y": "\xfa\xfb\xfc\xfd\xfe",
}
# The modified letters without a tone have both cases; "ư" is the soft hyphen U+00AD.
_TCVN3_UPPER: Final = dict(zip("\xa1\xa2\xa3\xa4\xa5\xa6\xa7", "ĂÂÊÔƠƯĐ", strict=True))
_TCVN3_LOWER: Final = dict(zip("\xa8\xa9\xaa\xab\xac\xad\xae", "ăâêôơưđ", strict=True))
_TCVN3_CASELESS: Final = {
    byte: _nfc(vowel + tone)
    for vowel, toned in _TCVN3_TONED.items()
    for byte, tone in zip(toned, (_GRAVE, _HOOK, _TILDE, _ACUTE, _DOT), strict=True)
}
TCVN3_TABLE: Final[dict[str, str]] = {**_TCVN3_UPPER, **_TCVN3_LOWER, **_TCVN3_CASELESS}
# Characters that are evidence of TCVN3 ("ý" is the same character in both).
_TCVN3_SPECIFIC: Final = frozenset(ch for ch, letter in TCVN3_TABLE.items() if ch != letter)

# --- VNI ---------------------------------------------------------------------------------------------

# The byte after a base letter: (vowel modifier, tone). Lowercase bytes; the uppercase ones are their
# capitals (Windows-1252 has both for every one of them).
_VNI_MARK_LOWER: Final = {
    "ù": ("", _ACUTE),
    "ø": ("", _GRAVE),
    "û": ("", _HOOK),
    "õ": ("", _TILDE),
    "ï": ("", _DOT),
    "â": (_CIRCUMFLEX, ""),
    "á": (_CIRCUMFLEX, _ACUTE),
    "à": (_CIRCUMFLEX, _GRAVE),
    "å": (_CIRCUMFLEX, _HOOK),
    "ã": (_CIRCUMFLEX, _TILDE),
    "ä": (_CIRCUMFLEX, _DOT),
    "ê": (_BREVE, ""),
    "é": (_BREVE, _ACUTE),
    "è": (_BREVE, _GRAVE),
    "ú": (_BREVE, _HOOK),
    "ü": (_BREVE, _TILDE),
    "ë": (_BREVE, _DOT),
}
_VNI_MARK: Final = {**_VNI_MARK_LOWER, **{ch.upper(): marks for ch, marks in _VNI_MARK_LOWER.items()}}
# Base letters and the modifiers they take (every base takes a tone alone).
_VNI_BASE_MODIFIERS: Final = {"a": {"", _CIRCUMFLEX, _BREVE}, "e": {"", _CIRCUMFLEX}, "o": {"", _CIRCUMFLEX}}
_VNI_BASE: Final = {
    **{ch: ch for ch in "aeouy"},
    **{ch: ch for ch in "AEOUY"},
    "ô": "ơ",
    "ö": "ư",
    "Ô": "Ơ",
    "Ö": "Ư",
}
# Letters of one byte: "ơ ư đ", the "i" with a tone (grave and acute are Windows-1252's own) and "ỵ".
_VNI_SINGLE_LOWER: Final = {"ô": "ơ", "ö": "ư", "ñ": "đ", "ì": "ì", "í": "í", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ"}
_VNI_SINGLE: Final = {**_VNI_SINGLE_LOWER, **{ch.upper(): v.upper() for ch, v in _VNI_SINGLE_LOWER.items()}}
_VNI_SPECIFIC: Final = frozenset(_VNI_MARK) | frozenset(ch for ch, letter in _VNI_SINGLE.items() if ch != letter)

_LEGACY: Final = frozenset(TCVN3_TABLE) | frozenset(_VNI_MARK) | frozenset(_VNI_SINGLE)
# Letters only Unicode Vietnamese has (not in Windows-1252), and combining marks (NFD text).
_UNICODE_VIETNAMESE = re.compile(
    "[\u0102\u0103\u0110\u0111\u0128\u0129\u0168\u0169\u01a0\u01a1\u01af\u01b0\u1ea0-\u1ef9\u0300-\u036f]"
)
# A word: letters, and the legacy characters that are not letters in Windows-1252 ("¸", "µ", "§"...).
_WORD = re.compile("(?:[^\\W\\d_]|[" + re.escape("".join(sorted(_LEGACY))) + "])+")
_SENTENCE_END = re.compile(r"[.!?\n]")

# --- Vietnamese syllables ----------------------------------------------------------------------------

_LETTERS: Final = frozenset("abcdđeghiklmnopqrstuvxyăâêôơư")
_VOWELS: Final = frozenset("aeiouyAEIOUY")  # the base letters of every vowel, in NFD
_ONSETS: Final = (
    *("ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr"),
    *("b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", ""),
)
# Rhymes (vowels and final consonant) without the tone.
_RHYME_LIST: Final = """
    a ac ach ai am an ang anh ao ap at au ay ăc ăm ăn ăng ăp ăt âc âm ân âng âp ât âu ây
    e ec em en eng eo ep et ê êch êm ên êng ênh êp êt êu
    i ia ich im in inh ip it iu iêc iêm iên iêng iêp iêt iêu
    o oc oi om on ong op ot oa oac oach oai oam oan oang oanh oao oap oat oay
    oăc oăm oăn oăng oăt oe oen oeo oet
    ô ôc ôi ôm ôn ông ôp ôt ơ ơi ơm ơn ơp ơt
    u ua uc ui um un ung up ut uân uâng uât uây uê uêch uênh uôc uôi uôm uôn uông uôt uơ
    uy uya uych uyên uyêt uynh uyt uyu
    ư ưa ưc ưi ưm ưng ưt ưu ươc ươi ươm ươn ương ươp ươt ươu
    y
"""
_RHYMES: Final = frozenset(_RHYME_LIST.split())
_BARE_RHYMES: Final = _RHYMES | {"yêm", "yên", "yêng", "yêt", "yêu"}  # no initial consonant: "yêu"
_QU_RHYMES: Final = frozenset(r for r in _RHYMES if r[0] not in "ouư") | {
    *("y", "ya", "ych", "ynh", "yt", "yu", "yên", "yêt"),
}
_GI_RHYMES: Final = frozenset(r for r in _RHYMES if r[0] not in "iy")
_STOPS: Final = ("c", "ch", "p", "t")  # a syllable ending in one of them takes the acute or the dot


def _sane_case(word: str) -> bool:
    return word.islower() or word.isupper() or (word[0].isupper() and (len(word) == 1 or word[1:].islower()))


def is_vietnamese_syllable(word: str) -> bool:
    """Whether `word` is one written Vietnamese syllable: initial consonant, rhyme, at most one tone.

    The case must be lower, upper or a capital first; a stop final ("c", "ch", "p", "t") takes only
    the acute or the dot below; spelling rules ("k", "gh", "ngh" before "i e ê y") are checked.
    """
    if not word or not _sane_case(word):
        return False
    tone = ""
    kept: list[str] = []
    for ch in unicodedata.normalize("NFD", word.lower()):
        if ch in _TONE_MARKS:
            if tone or not kept:
                return False
            tone = ch
        else:
            kept.append(ch)
    plain = _nfc("".join(kept))
    if not _LETTERS.issuperset(plain):
        return False
    return any(plain.startswith(onset) and _rhyme_ok(onset, plain[len(onset) :], tone) for onset in _ONSETS)


def _rhyme_ok(onset: str, rhyme: str, tone: str) -> bool:
    if not rhyme:
        return False
    allowed = {"": _BARE_RHYMES, "qu": _QU_RHYMES, "gi": _GI_RHYMES}.get(onset, _RHYMES)
    if rhyme not in allowed:
        return False
    front = rhyme[0] in "ieêy"
    if (onset in ("k", "gh", "ngh") and not front) or (onset in ("c", "ng") and front):
        return False
    if onset == "g" and rhyme[0] in "eêy":
        return False
    return not (rhyme.endswith(_STOPS) and tone not in (_ACUTE, _DOT))


# --- Conversion --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    original: str
    converted: str
    consumed: int  # legacy characters (of the encoding's own) turned into letters
    leftover: int  # non-ASCII characters that are not part of a letter of the encoding


def _words(text: str) -> Iterator[tuple[int, int, str]]:
    for match in _WORD.finditer(text):
        yield match.start(), match.end(), match.group()


def _tcvn3_words(text: str) -> list[_Word]:
    words = list(_words(text))
    cases = [[_case_of(ch) for ch in word] for *_, word in words]
    # All capitals: no lowercase letter anywhere, and one word with two capitals.
    caps = all("lower" not in word for word in cases) and any(word.count("upper") >= 2 for word in cases)
    initials = [word[0] for word in cases]
    # Title case: every word whose first letter has a case starts with a capital.
    title = "upper" in initials and "lower" not in initials
    out: list[_Word] = []
    previous_end = 0
    for start, end, word in words:
        sentence_start = not out or bool(_SENTENCE_END.search(text, previous_end, start))
        converted = _tcvn3_word(word, caps=caps, capital=caps or title or sentence_start)
        consumed = sum(ch in _TCVN3_SPECIFIC for ch in word)
        leftover = sum(not ch.isascii() and ch not in TCVN3_TABLE for ch in word)
        out.append(_Word(start, end, word, converted, consumed, leftover))
        previous_end = end
    return out


def _case_of(ch: str) -> str:
    if ch in _TCVN3_CASELESS:
        return "none"
    if ch in _TCVN3_UPPER or ch.isupper():
        return "upper"
    if ch in _TCVN3_LOWER or ch.islower():
        return "lower"
    return "none"


def _tcvn3_word(word: str, *, caps: bool, capital: bool) -> str:
    if all(ch not in TCVN3_TABLE for ch in word):
        return word
    cases = [_case_of(ch) for ch in word]
    if "lower" in cases or all(ch not in _TCVN3_CASELESS for ch in word):
        upper = False
    else:
        uppers = [i for i, case in enumerate(cases) if case == "upper"]
        upper = len(uppers) >= 2 or (len(uppers) == 1 and uppers[0] > 0) or caps
    letters = []
    for i, ch in enumerate(word):
        letter = TCVN3_TABLE.get(ch, ch)
        if ch in _TCVN3_CASELESS and (upper or (i == 0 and capital)):
            letter = letter.upper()
        letters.append(letter)
    converted = "".join(letters)
    if not is_vietnamese_syllable(converted):
        # The soft hyphen ("ư") is often lost: "Tr\xadêng" arrives as "Trêng". "ơ" after a consonant
        # is not Vietnamese, "ươ" is: put the "ư" back when that gives a syllable.
        match = re.search("(?<=[b-df-hj-np-tv-xzđB-DF-HJ-NP-TV-XZĐ])[ơờởỡớợƠỜỞỠỚỢ]", converted)
        if match:
            horn = "Ư" if match.group().isupper() else "ư"
            mended = converted[: match.start()] + horn + converted[match.start() :]
            if is_vietnamese_syllable(mended):
                return mended
    return converted


def _vni_words(text: str) -> list[_Word]:
    return [_vni_word(start, end, word) for start, end, word in _words(text)]


def _vni_word(start: int, end: int, word: str) -> _Word:
    letters: list[str] = []
    consumed = leftover = 0
    i = 0
    while i < len(word):
        ch = word[i]
        base = _VNI_BASE.get(ch)
        marks = _VNI_MARK.get(word[i + 1]) if i + 1 < len(word) else None
        if base is not None and marks is not None:
            modifier, tone = marks
            if modifier in _VNI_BASE_MODIFIERS.get(base.lower(), {""}):
                letters.append(_nfc(base + modifier + tone))
                consumed += 1 + (ch in _VNI_SPECIFIC)
                i += 2
                continue
        if ch in _VNI_SINGLE:
            letters.append(_VNI_SINGLE[ch])
            consumed += ch in _VNI_SPECIFIC
        else:
            letters.append(ch)
            leftover += not ch.isascii()
        i += 1
    return _Word(start, end, word, "".join(letters), consumed, leftover)


def _convert_words(text: str, encoding: str) -> list[_Word]:
    if encoding == TCVN3:
        return _tcvn3_words(text)
    if encoding == VNI:
        return _vni_words(text)
    raise ValueError(f"unknown legacy encoding {encoding!r}; expected one of {ENCODINGS}")


def convert(text: str, encoding: str) -> str:
    """`text` read as `encoding` ("TCVN3" or "VNI"), in Unicode NFC. Other characters are kept."""
    parts: list[str] = []
    position = 0
    for word in _convert_words(text, encoding):
        parts.append(text[position : word.start])
        parts.append(word.converted)
        position = word.end
    parts.append(text[position:])
    return _nfc("".join(parts))


# --- Detection ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Score:
    valid: int  # changed words that are Vietnamese syllables once converted
    consumed: int  # legacy characters that ended in such a word


def _score(text: str, encoding: str) -> _Score | None:
    specific = _TCVN3_SPECIFIC if encoding == TCVN3 else _VNI_SPECIFIC
    total = sum(ch in specific for ch in text)
    if total == 0:
        return None
    changed = valid = already = consumed = 0
    strong = 0  # evidence: a syllable no European word or Unicode text would give
    strong_alone = 0  # evidence enough for a text of one such word
    for word in _convert_words(text, encoding):
        if not any(ch in specific for ch in word.original):
            continue
        if word.leftover == 0 and _is_acronym(word.converted):
            consumed += word.consumed  # "LĐLĐ", "CĐCS": no evidence either way
            continue
        ok = word.leftover == 0 and is_vietnamese_syllable(word.converted)
        if ok:
            consumed += word.consumed
        if len(word.converted) < 2:
            continue  # "£", "ë", "où": a letter alone is no evidence either way
        changed += 1
        unicode_already = is_vietnamese_syllable(word.original)
        already += unicode_already
        if not ok:
            continue
        valid += 1
        legacy_chars = sum(ch in specific for ch in word.original)
        if not unicode_already and (legacy_chars >= 2 or _anchored(word.original, specific)):
            unusual = _distinctive(word.original, specific)
            strong += unusual or len(word.original) >= 4
            strong_alone += unusual or len(word.original) >= 5
    if (
        changed == 0
        or valid < MIN_VALID_SHARE * changed
        or already > MAX_ALREADY_VIETNAMESE_SHARE * changed
        or consumed < MIN_CONSUMED_SHARE * total
        or strong == 0
        or (changed == 1 and strong_alone == 0)
    ):
        return None
    return _Score(valid, consumed)


def _is_acronym(word: str) -> bool:
    """Capitals without a vowel: "LĐLĐ", "CĐCS", "HĐND"."""
    return len(word) >= 2 and word.isupper() and _VOWELS.isdisjoint(unicodedata.normalize("NFD", word))


def _anchored(word: str, specific: frozenset[str]) -> bool:
    """A legacy character after an ASCII letter of the same word ("NguyÔn", not "µm" or "£5")."""
    seen_letter = False
    for ch in word:
        if seen_letter and ch in specific:
            return True
        seen_letter = seen_letter or (ch.isascii() and ch.isalpha())
    return False


def _distinctive(word: str, specific: frozenset[str]) -> bool:
    """Unlike a word of a European language: "Hµ", "NguyÔn", "Tröôøng"; not "Män", "aoû", "Sèp".

    A legacy character that is not a letter in Windows-1252 ("µ" and "ª" count as symbols), a
    capital after a small letter, or two legacy characters.
    """
    legacy = [ch for ch in word if ch in specific]
    if len(legacy) >= 2 or any(ch < "\xc0" or ch in "\xd7\xf7" for ch in legacy):
        return True
    return any(a.islower() and b in specific and b.isupper() for a, b in pairwise(word))


def detect(text: str) -> str | None:
    """ "TCVN3" or "VNI" when `text` was typed in that encoding, None otherwise.

    Cheap exits first: ASCII text, text without any legacy character, and text with a letter only
    Unicode Vietnamese has ("ă", "ệ", "đ"...) or a combining mark (NFD) are None. Otherwise the text is
    converted with each table, word by word. Of the words that hold a legacy character of the encoding
    (leaving out single letters, "£" or "ë", and acronyms without a vowel, "L§L§"), an encoding is
    accepted only when:

    - at least 80% convert, every character used, to a Vietnamese syllable (`is_vietnamese_syllable`);
    - at most 75% already read as a Unicode Vietnamese syllable (TCVN3 "mét" is "một", and "mét");
    - at least 80% of the legacy characters of the text ended in such a syllable;
    - one is strong: not already Vietnamese, a legacy character after an ASCII letter ("NguyÔn", not
      "µm" or "£5") or two of them ("§øc"), and four characters or more or `_distinctive`. A word
      alone must be `_distinctive` or five characters long ("Hµ" is "Hà"; "Män" and "Sèp" stay).

    When both encodings pass, the one with more syllables wins; a tie is None.
    """
    if text.isascii() or _LEGACY.isdisjoint(text) or _UNICODE_VIETNAMESE.search(text):
        return None
    scores = {encoding: score for encoding in ENCODINGS if (score := _score(text, encoding)) is not None}
    if not scores:
        return None
    if len(scores) == 1:
        return next(iter(scores))
    ranked = sorted(scores.items(), key=lambda item: (item[1].valid, item[1].consumed), reverse=True)
    (best, first), (_, second) = ranked
    return None if (first.valid, first.consumed) == (second.valid, second.consumed) else best


def none_legacy(texts: Iterable[str]) -> bool:
    """Whether `detect` finds no legacy encoding in any of `texts`, with its cheap exits taken for
    all of them at once where it can: a text with a letter only Unicode Vietnamese has is none; the
    others all together ASCII, or without a legacy character, are none either."""
    others = list(filterfalse(_UNICODE_VIETNAMESE.search, texts))
    together = "".join(others)
    if together.isascii() or _LEGACY.isdisjoint(together):
        return True
    return all(repair(text)[1] is None for text in others)


@functools.lru_cache(maxsize=16384)  # the same words ("Có", "Không", names) fill whole columns
def repair(text: str) -> tuple[str, str | None]:
    """(the text in Unicode NFC, "TCVN3" or "VNI") when `detect` finds one; (text, None) otherwise."""
    encoding = detect(text)
    if encoding is None:
        return text, None
    return convert(text, encoding), encoding
