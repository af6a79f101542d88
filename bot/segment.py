"""Vietnamese tokenisation for the Rasa pipeline, without any Rasa import (unit-testable on 3.11).

Every token keeps ``start``/``end`` offsets into the *original* message, whatever its Unicode form:
tokens are found on the raw text (syllables may carry NFD combining marks), and only the token's
``text`` is normalised with :mod:`knowledge_base.text` (NFC, one tone placement, lower case). Each
token also gets a ``folded`` form (no diacritics, chat abbreviations expanded: "ko" → "khong",
"đc" → "duoc", "j" → "gi") that the pipeline featurises, so "lam cccd can giay to gi" and
"làm CCCD cần giấy tờ gì" give the same features.

Segmenters:
- ``syllable``: one token per syllable (Vietnamese whitespace tokenisation);
- ``underthesea``: syllables grouped into words by underthesea's word segmenter ("giấy_tờ").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from knowledge_base import text as vn

# A syllable: word characters plus any combining mark (NFD input). Codes and numbers with inner
# separators stay whole ("000.00.25.H29-250312-0012", "PA-2026-000123", "091.234.5678", "+84").
_PIECE_RE = re.compile(
    r"(?P<code>\+?[0-9A-Za-z]+(?:[.\-/][0-9A-Za-z]+)+|\+\d+)"
    r"|(?P<word>(?:\w|[\u0300-\u036f])+)",
    re.UNICODE,
)
SEGMENTERS = ("syllable", "underthesea")


@dataclass(frozen=True)
class Piece:
    """One token: original offsets, normalised text and the folded feature form."""

    text: str
    start: int
    end: int
    folded: str
    is_code: bool = False


def _is_code(raw: str) -> bool:
    return any(ch.isdigit() for ch in raw)


@lru_cache(maxsize=1)
def _abbreviations() -> dict[str, str]:
    """Single-word chat abbreviations (folded surface → folded expansion), from knowledge_base.text."""
    return {vn.fold(k): vn.fold(v).replace(" ", "_") for k, v in vn.ABBREVIATIONS.items() if " " not in k}


def _folded(normalised: str) -> str:
    folded = vn.fold(normalised)
    return _abbreviations().get(folded, folded)


def syllable_pieces(text: str) -> list[Piece]:
    """Syllables and codes of ``text`` with offsets into ``text`` itself."""
    pieces: list[Piece] = []
    for match in _PIECE_RE.finditer(text):
        raw = match.group(0)
        if match.group("code") and not _is_code(raw):
            # "cccd/cmnd" is two words, not a code.
            for sub in re.finditer(r"(?:\w|[\u0300-\u036f])+", raw):
                norm = vn.normalize(sub.group(0), lower=False)
                start = match.start() + sub.start()
                pieces.append(Piece(norm, start, start + len(sub.group(0)), _folded(norm)))
            continue
        norm = vn.normalize(raw, lower=False)
        is_code = bool(match.group("code"))
        folded = norm if is_code else _folded(norm)
        pieces.append(Piece(norm, match.start(), match.end(), folded, is_code))
    return pieces


@lru_cache(maxsize=4096)
def _underthesea_words(sentence: str) -> tuple[int, ...]:
    """Number of syllables in each word underthesea finds in ``sentence`` (syllables joined by spaces)."""
    from underthesea import word_tokenize  # heavy import, only for this segmenter

    return tuple(len(word.split()) for word in word_tokenize(sentence))


def _merge(group: list[Piece]) -> Piece:
    if len(group) == 1:
        return group[0]
    return Piece(
        "_".join(p.text for p in group),
        group[0].start,
        group[-1].end,
        "_".join(p.folded for p in group),
    )


def _segment_run(run: list[Piece]) -> list[Piece]:
    sizes = _underthesea_words(" ".join(p.text for p in run))
    if sum(sizes) != len(run) or any(size < 1 for size in sizes):
        return run  # segmenter changed the syllables: keep syllable tokens
    out: list[Piece] = []
    i = 0
    for size in sizes:
        out.append(_merge(run[i : i + size]))
        i += size
    return out


def tokenize(text: str, segmenter: str = "syllable") -> list[Piece]:
    """Tokens of ``text``; offsets always index ``text`` as given."""
    if segmenter not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {segmenter!r}; expected one of {SEGMENTERS}")
    pieces = syllable_pieces(text)
    if segmenter == "syllable":
        return pieces
    out: list[Piece] = []
    run: list[Piece] = []
    for piece in pieces:
        if piece.is_code:
            out.extend(_segment_run(run) if run else [])
            run = []
            out.append(piece)
        else:
            run.append(piece)
    if run:
        out.extend(_segment_run(run))
    return out
