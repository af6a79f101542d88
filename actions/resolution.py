"""Which procedure a citizen's message is about: a code, the conversation's procedure, or a search.

Decisions, in order:

1. A procedure code in the ``procedure`` entity (a disambiguation button) → that record.
2. No words that could name a procedure ("còn lệ phí thì sao?", "nộp ở đâu?") → the procedure of the
   conversation (slot ``procedure_code``), else ask which procedure.
3. Search the citizen's words (aspect phrases cut out). Best score below the not-found threshold →
   honest "not found" (or, in a follow-up with one stray word, the conversation's procedure).
4. A follow-up naming little (≤ 2 words) whose conversation procedure is still among the close hits
   keeps that procedure.
5. The best hit must be *about* the citizen's words: more than half of them appear in its name,
   citizen terms, summary or field. Otherwise it is a guess → "em chưa chắc", offered as buttons; none
   of them at all → not found. (Search scores of short queries are high even for matches in the body
   only: "bạn" scores 0.74; "con mèo bị ốm" finds "chế độ ốm đau" at 0.5 of its words.)
6. Close results → ask with buttons. Close means the runner-up scores at least ``CLOSE_RATIO`` of the
   best. A ratio rather than an absolute gap because scores of questions typed without diacritics are
   scaled down (folded matches count 0.85), and the same question must behave the same either way.
   0.95 separates, on the built-in catalogue, "làm căn cước" (0.822 vs 0.796: cấp lại / cấp mới
   dưới 14 / từ đủ 14 → ask) and "hộ kinh doanh" (0.833 vs 0.826 → ask) from "làm lại căn cước"
   (0.967 vs 0.830 → answer Cấp lại) and "đăng ký tạm trú" (1.0 vs 0.843). Hits that are the same
   procedure at another level ("… (thực hiện tại cấp tỉnh)") collapse into the best one first, and
   a query that spells out the best hit's whole name ("đăng ký thường trú" vs "xóa đăng ký thường
   trú", 0.90 vs 0.85) is not ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from actions import aspects as asp
from knowledge_base import text as vn
from knowledge_base.catalogue import Catalogue
from knowledge_base.model import Procedure
from knowledge_base.search import EmptyQueryError, SearchHit

CODE_RE = re.compile(r"^\d{1,2}\.\d{6}$")  # 1.004222, 2.001159, 3.000228
CLOSE_RATIO = 0.95
MIN_MENTION_SHARE = 0.5
SEARCH_TOP = 8
MAX_CHOICES = 4
FOLLOW_UP_MAX_WORDS = 2

ANSWER = "answer"  # answer about ``procedure``
CHOOSE = "choose"  # several procedures fit about equally: ask with buttons
UNSURE = "unsure"  # the best hit is not clearly about the citizen's words: ask with buttons
NOT_FOUND = "not_found"  # nothing in the catalogue fits
ASK_WHICH = "ask_which"  # the message names no procedure and there is no conversation procedure


@dataclass(frozen=True)
class Resolution:
    kind: str
    procedure: Procedure | None = None
    candidates: tuple[SearchHit, ...] = field(default_factory=tuple)
    query: str = ""
    from_context: bool = False


def is_code(value: str) -> bool:
    return bool(CODE_RE.match(value.strip()))


def resolve(
    catalogue: Catalogue,
    *,
    text: str,
    entity_values: Sequence[str] = (),
    context_code: str | None = None,
) -> Resolution:
    """Decide which procedure ``text`` (the latest message) is about."""
    for value in entity_values:
        if is_code(value):
            procedure = catalogue.get(value.strip())
            return Resolution(ANSWER, procedure) if procedure else Resolution(NOT_FOUND, query=value)

    if text.startswith("/"):  # a button payload: only its entities count
        text = ""
    query = asp.without_aspect_phrases(text) if text else ""
    words = asp.procedure_words(text) if text else []
    names = [v for v in entity_values if v.strip()]
    if not words and names:
        query = " ".join(names)
        words = asp.procedure_words(query)
    context = catalogue.get(context_code) if context_code else None

    if not words:
        return Resolution(ANSWER, context, from_context=True) if context else Resolution(ASK_WHICH)
    try:
        hits = catalogue.search(query, SEARCH_TOP)
    except EmptyQueryError:
        return Resolution(ANSWER, context, from_context=True) if context else Resolution(ASK_WHICH)

    confident = [h for h in hits if catalogue.searcher.is_confident(h)]
    if not confident:
        if context is not None and len(words) <= 1:
            return Resolution(ANSWER, context, query=query, from_context=True)
        return Resolution(NOT_FOUND, query=text or query)

    top = confident[0]
    if context is not None and len(words) <= FOLLOW_UP_MAX_WORDS:
        same = next((h for h in confident if h.code == context.code), None)
        if same is not None and same.score >= top.score * CLOSE_RATIO:
            return Resolution(ANSWER, context, query=query, from_context=True)

    distinct = _collapse_levels(confident)
    procedure = catalogue.get(top.code)
    if procedure is None:  # index ahead of the store: treat as not found rather than guess
        return Resolution(NOT_FOUND, query=text or query)
    share = mention_share(procedure, words, text or query)
    if share == 0:  # the index matched words the citizen did not mean ("thời tiết" → "thời hạn")
        return Resolution(NOT_FOUND, query=text or query)
    if share <= MIN_MENTION_SHARE:
        return Resolution(UNSURE, candidates=tuple(distinct[: MAX_CHOICES - 1]), query=query)
    close = [h for h in distinct[1:] if h.score >= top.score * CLOSE_RATIO]
    if close and not spells_name(top.name, query):
        return Resolution(CHOOSE, candidates=tuple([top, *close][:MAX_CHOICES]), query=query)
    return Resolution(ANSWER, procedure, query=query)


def base_name(name: str) -> str:
    """ "Cấp lại thẻ căn cước (thực hiện tại cấp tỉnh)" → "cap lai the can cuoc"."""
    return vn.fold(name.split(" (", 1)[0]).strip()


def _collapse_levels(hits: Sequence[SearchHit]) -> list[SearchHit]:
    seen: set[str] = set()
    kept: list[SearchHit] = []
    for hit in hits:
        key = base_name(hit.name)
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


def _folded_words(text: str) -> list[str]:
    return [vn.fold(w) for w in vn.syllables(text)]


def spells_name(name: str, query: str) -> bool:
    """The query contains the procedure's whole name (without its level note), word for word."""
    wanted = base_name(name).split()
    have = _folded_words(vn.expand_abbreviations(query))
    size = len(wanted)
    return bool(size) and any(have[i : i + size] == wanted for i in range(len(have) - size + 1))


def mention_share(procedure: Procedure, words: Sequence[str], text: str) -> float:
    """Share of the citizen's procedure words (a catalogue synonym counts as one word) found in the
    procedure's name, citizen terms, summary or field."""
    vocabulary = set(_folded_words(" ".join([procedure.name, procedure.summary, procedure.field,
                                             *procedure.citizen_terms])))
    wanted = [vn.fold(w) for w in words]
    if not wanted:
        return 1.0
    matched = sum(1 for w in wanted if w in vocabulary)
    for canonical in vn.synonym_expansions(text):
        if all(w in vocabulary for w in _folded_words(canonical)):
            matched += 1
    return min(matched / len(wanted), 1.0)
