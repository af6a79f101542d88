"""Entity span conventions after DIET and the regex extractor, without any Rasa import.

Used by :class:`bot.entities.EntityCleaner`; pure functions so they are unit-tested on Python 3.11.
The annotation convention (docs/nlu_pipelines.md) in short:

- ``procedure``: the verb and the thing that names the procedure ("làm CCCD", "cấp lại hộ chiếu",
  "đăng ký khai sinh"); no lead-in ("tôi muốn", "thủ tục", "cần") and no circumstance after it
  ("cho con", "lần đầu", "do mất ví", "hiện nay", "thì"). A single syllable is a procedure only when it
  is an acronym ("cccd", "gplx", "passport").
- ``aspect``: the question phrase with its verb or noun ("cần giấy tờ gì", "nộp ở đâu", "mất bao lâu",
  "lệ phí"); no particles ("ạ", "vậy", "ad"), no yes/no frame ("có ... không", "được không").
- codes and phones: a regex match wins over DIET; a DIET code must at least look like one.
"""

from __future__ import annotations

import re
from typing import Any

from knowledge_base import text as vn

CODE_ENTITIES = frozenset({"dossier_code", "complaint_code", "phone"})
REGEX_EXTRACTOR = "RegexEntityExtractor"

_WORD_RE = re.compile(r"(?:\w|[\u0300-\u036f])+", re.UNICODE)


def _words(words: str, sep: str | None = None) -> frozenset[str]:
    return frozenset(words.split(sep))


# Edge words, written with diacritics (matched on the normalised token) ...
_PROCEDURE_LEAD = _words(
    "muốn mún cần phải hỏi về sau khi để là thì việc cho em tôi mình cháu tui thủ tục tthc như nào thế ạ vậy còn nên"
)
_PROCEDURE_TAIL = _words(
    "thì cho do vì lần hiện nay mà ở tại là của với và ạ nhé vậy không ko k rồi sau khi được đc cần "
    "phải có thế nào gì j hả à ơi nữa mới đã bị dc z vs a"
)
_ASPECT_LEAD = _words("thì là vậy còn có ạ và với hay hoặc")
_ASPECT_TAIL = _words("ạ ad admin vậy nhé hả với vs nha thì không ko k hông hok khong chưa ạh nhỉ được đc dc ơi")
# ... and, for text typed without diacritics, the folded forms that cannot be a content word at the
# edge of a span ("do" stays: "sổ đỏ"; "the" stays: "thẻ").
_FOLDED_PROCEDURE_LEAD = _words(
    "muon mun can phai hoi ve sau khi de la thi viec cho em e toi minh chau tui thu tuc tthc nhu nao a vay con nen"
)
_FOLDED_PROCEDURE_TAIL = _words(
    "thi cho vi lan hien nay ma o tai la cua voi va a nhe vay z khong ko k roi sau khi duoc dc can "
    "phai co nao gi j ha oi nua moi da bi"
)
_FOLDED_ASPECT_LEAD = _words("thi la vay con co a va voi hay hoac")
_FOLDED_ASPECT_TAIL = _words("a ad admin vay z nhe ha voi vs nha thi khong ko k hong hok chua nhi duoc dc oi")
_EDGES: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]] = {
    "procedure": (_PROCEDURE_LEAD, _PROCEDURE_TAIL, _FOLDED_PROCEDURE_LEAD, _FOLDED_PROCEDURE_TAIL),
    "aspect": (_ASPECT_LEAD, _ASPECT_TAIL, _FOLDED_ASPECT_LEAD, _FOLDED_ASPECT_TAIL),
}
_ACRONYM_WORDS = frozenset({"passport", "visa", "vneid"})

# Verbs that belong to the span when DIET stopped right after them ("[mất] [bao lâu]" → "mất bao lâu",
# "xin [phép xây dựng]" → "xin phép xây dựng"). Folded, as phrases of one or two syllables.
_LEFT_VERBS: dict[str, frozenset[str]] = {
    "aspect": _words("mat;het;ton;can;gom;nhan;nop;lam;khai;phai;mang;dong;lay;bo sung;chuan bi;can bo sung", ";"),
    "procedure": _words("xin;lam;cap;doi;mo;dang ky;dk;dky;gia han;lam lai;cap lai;cap doi", ";"),
}


def _is_edge_word(word: str, marked: frozenset[str], folded: frozenset[str], accented: bool) -> bool:
    """In a message typed with diacritics "do" is "do" (because), without them it may be "đỏ"."""
    norm = vn.normalize(word)
    return norm in marked if accented else norm in folded


def trim_span(text: str, start: int, end: int, entity: str) -> tuple[int, int] | None:
    """The span without lead-in/trailing function words (None when nothing is left)."""
    edges = _EDGES.get(entity)
    if edges is None:
        return start, end
    lead, tail, folded_lead, folded_tail = edges
    accented = vn.has_diacritics(text)
    words = [(m.start() + start, m.end() + start, m.group(0)) for m in _WORD_RE.finditer(text[start:end])]
    # Two-syllable lead-ins ("thủ tục") are two lead words; stop at the first content word.
    while words and _is_edge_word(words[0][2], lead, folded_lead, accented):
        words.pop(0)
    while words and _is_edge_word(words[-1][2], tail, folded_tail, accented):
        words.pop()
    if not words:
        return None
    return words[0][0], words[-1][1]


def extend_left(text: str, start: int, entity: str) -> int:
    """Move ``start`` left over the entity's verbs directly before it (see ``_LEFT_VERBS``)."""
    verbs = _LEFT_VERBS.get(entity)
    if not verbs:
        return start
    before = [(m.start(), vn.fold(m.group(0)).lower()) for m in _WORD_RE.finditer(text[:start])]
    while before:
        gap = text[before[-1][0] : start]
        if not re.fullmatch(r"(?:\w|[\u0300-\u036f])+\s+", gap, re.UNICODE):
            break  # punctuation between: not one phrase
        for size in (2, 1):
            if len(before) >= size and " ".join(w for _, w in before[-size:]) in verbs:
                start = before[-size][0]
                del before[-size:]
                break
        else:
            break
    return start


def _is_acronym(word: str) -> bool:
    folded = vn.fold(word)
    return folded in _ACRONYM_WORDS or (len(folded) >= 3 and not re.search(r"[aeiou]", folded))


def plausible(entity: str, surface: str) -> bool:
    """Whether a span found by DIET can be an entity of this type at all."""
    digits = sum(ch.isdigit() for ch in surface)
    if entity == "phone":
        return 9 <= digits <= 12 and re.fullmatch(r"\+?[\d\s.\-]+", surface.strip()) is not None
    if entity == "dossier_code":
        return digits >= 8 and re.search(r"[.\-]", surface) is not None
    if entity == "complaint_code":
        return digits >= 6 and re.search(r"[A-Za-z]", surface) is not None
    if entity == "procedure":
        words = _WORD_RE.findall(surface)
        return len(words) > 1 or (len(words) == 1 and _is_acronym(words[0]))
    return True


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def clean_entities(text: str, entities: list[dict[str, Any]], merge: frozenset[str]) -> list[dict[str, Any]]:
    """Entities following the convention above: regex codes first, fragments merged, edges trimmed."""
    regex_codes = [e for e in entities if e["entity"] in CODE_ENTITIES and e.get("extractor") == REGEX_EXTRACTOR]
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    for entity in sorted(entities, key=lambda e: (e["start"], e.get("extractor") != REGEX_EXTRACTOR)):
        key = (entity["entity"], entity["start"], entity["end"])
        if key in seen:
            continue
        from_regex = entity.get("extractor") == REGEX_EXTRACTOR
        if entity["entity"] in CODE_ENTITIES and not from_regex:
            if any(_overlap(entity, r) for r in regex_codes):
                continue
            if not plausible(entity["entity"], text[entity["start"] : entity["end"]]):
                continue
        seen.add(key)
        kept.append(dict(entity))
    merged: list[dict[str, Any]] = []
    for entity in kept:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and entity["entity"] in merge
            and previous["entity"] == entity["entity"]
            and previous["end"] <= entity["start"]
            and not text[previous["end"] : entity["start"]].strip()
        ):
            previous["end"] = entity["end"]
            previous["value"] = text[previous["start"] : previous["end"]]
            continue
        merged.append(entity)
    out: list[dict[str, Any]] = []
    for entity in merged:
        if entity["entity"] in _EDGES:
            span = trim_span(text, entity["start"], entity["end"], entity["entity"])
            if span is None:
                continue
            span = (extend_left(text, span[0], entity["entity"]), span[1])
            if span != (entity["start"], entity["end"]):
                entity["start"], entity["end"] = span
                entity["value"] = text[span[0] : span[1]]
            if not plausible(entity["entity"], text[entity["start"] : entity["end"]]):
                continue
        out.append(entity)
    return out
