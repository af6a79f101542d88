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

import itertools
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
    "thì cho do vì lần hiện nay mà ở tại là của với và ạ nhé vậy không ko k rồi sau khi được đc cần tự "
    "phải có thế nào gì j hả à ơi nữa mới đã bị dc z vs a vào để"
)
_ASPECT_LEAD = _words("thì là vậy còn có ạ và với hay hoặc đầu")
_ASPECT_TAIL = _words("ạ ad admin vậy nhé hả với vs nha thì không ko k hông hok khong chưa ạh nhỉ được đc dc ơi một")
# ... and, for text typed without diacritics, the folded forms that cannot be a content word at the
# edge of a span ("do" stays: "sổ đỏ"; "the" stays: "thẻ").
_FOLDED_PROCEDURE_LEAD = _words(
    "muon mun can phai hoi ve sau khi de la thi viec cho em e toi minh chau tui thu tuc tthc nhu nao a vay con nen"
)
_FOLDED_PROCEDURE_TAIL = _words(
    "thi cho vi lan hien nay ma o tai la cua voi va a nhe vay z khong ko k roi sau khi duoc dc can "
    "phai co nao gi j ha oi nua moi da bi vao de"
)
_FOLDED_ASPECT_LEAD = _words("thi la vay con co a va voi hay hoac dau")
_FOLDED_ASPECT_TAIL = _words("a ad admin vay z nhe ha voi vs nha thi khong ko k hong hok chua nhi duoc dc oi mot")
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


# Words a procedure name starts with (folded): the verbs above plus verbs that name a procedure on
# their own ("cải chính", "quyết toán", "sang tên").
_NAMING_VERBS = _words(
    "cai chinh;quyet toan;sang ten;chung thuc;cong chung;trich luc;xac nhan;tach thua;chuyen nhuong;"
    "thay doi;dang ki;dang ky lai;khai bao",
    ";",
)
_PROCEDURE_STARTS = _LEFT_VERBS["procedure"] | _NAMING_VERBS


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


def split_at_then(text: str, start: int, end: int, entity: str) -> tuple[int, int]:
    """A span across "thì" holds two phrases: a procedure is the part before, an aspect the part after.

    "[làm thì nộp ở đâu]" → "nộp ở đâu"; "[đăng ký kết hôn thì]" is left to the edge trimming.
    """
    if entity not in _EDGES:
        return start, end
    words = [(m.start() + start, m.end() + start) for m in _WORD_RE.finditer(text[start:end])]
    inner = [i for i, (s, e) in enumerate(words) if 0 < i < len(words) - 1 and vn.fold(text[s:e]).lower() == "thi"]
    if not inner:
        return start, end
    if entity == "procedure":
        return start, words[inner[0] - 1][1]
    return words[inner[-1] + 1][0], end


def _fold_words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), vn.fold(m.group(0)).lower()) for m in _WORD_RE.finditer(text)]


def phrase_ngrams(phrases: list[str], size: int = 2) -> frozenset[str]:
    """Folded word n-grams (2..size words) of known procedure names, for :func:`extend_right`."""
    grams: set[str] = set()
    for phrase in phrases:
        words = vn.fold(phrase).lower().split()
        for n in range(2, size + 1):
            grams.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return frozenset(grams)


def extend_right(
    text: str, start: int, end: int, ngrams: frozenset[str], limit: int, context: int = 1, max_words: int = 10
) -> int:
    """Move ``end`` right while the next word continues a known procedure name.

    DIET often stops inside a long name ("xác nhận tình [trạng hôn nhân]", "cấp sổ [hồng]"); a word is
    added when the last ``context`` words of the span and it form an n-gram of a known name, it is
    not a trailing function word, it is separated by spaces only, and it ends before ``limit`` (the
    next entity).
    """
    if not ngrams:
        return end
    accented = vn.has_diacritics(text)
    words = [w for _, _, w in _fold_words(text[start:end])]
    following = [(s + end, e + end, w) for s, e, w in _fold_words(text[end:])]
    previous_end = end
    for s, e, word in following:
        if len(words) >= max_words or e > limit or text[previous_end:s].strip():
            break
        if _is_edge_word(text[s:e], _PROCEDURE_TAIL, _FOLDED_PROCEDURE_TAIL, accented):
            break
        gram = " ".join([*words[-context:], word])
        if gram not in ngrams:
            break
        words.append(word)
        end = previous_end = e
    return end


def extend_left_known(text: str, start: int, ngrams: frozenset[str], floor: int = 0, max_words: int = 4) -> int:
    """Move ``start`` left while the word before it and the span's first word are a known pair.

    DIET sometimes starts inside a name ("gia [hạn hộ chiếu]", "đăng ký tạm [trú online]"); lead-in
    words ("tôi muốn", "thủ tục", "cho em hỏi") never join, nor does anything before ``floor``.
    """
    if not ngrams:
        return start
    accented = vn.has_diacritics(text)
    before = [w for w in _fold_words(text[:start]) if w[0] >= floor]
    first = _fold_words(text[start:])
    if not first:
        return start
    word = first[0][2]
    for _ in range(max_words):
        if not before or text[before[-1][1] : start].strip():
            break
        s, e, previous = before[-1]
        if _is_edge_word(text[s:e], _PROCEDURE_LEAD, _FOLDED_PROCEDURE_LEAD, accented):
            break
        if f"{previous} {word}" not in ngrams:
            break
        start, word = s, previous
        before.pop()
    return start


def recover_procedure(text: str, entities: list[dict[str, Any]], ngrams: frozenset[str]) -> dict[str, Any] | None:
    """A procedure span DIET missed: the first procedure verb ("làm", "cấp lại", "đăng ký" …) outside
    other entities that starts a known name of at least two words (used for ``ask_procedure``)."""
    if not ngrams:
        return None
    words = _fold_words(text)
    taken = [(e["start"], e["end"]) for e in entities]
    for i, (start, _, _) in enumerate(words):
        if any(a <= start < b for a, b in taken):
            continue
        for size in (2, 1):
            verb = " ".join(w for _, _, w in words[i : i + size])
            if len(words[i : i + size]) < size or verb not in _PROCEDURE_STARTS:
                continue
            verb_end = words[i + size - 1][1]
            limit = min((a for a, _ in taken if a >= verb_end), default=len(text))
            end = extend_right(text, start, verb_end, ngrams, limit)
            if end == verb_end and verb not in _NAMING_VERBS:
                continue
            span = trim_span(text, start, end, "procedure")
            if span is None or not plausible("procedure", text[span[0] : span[1]]):
                continue
            return {
                "entity": "procedure",
                "start": span[0],
                "end": span[1],
                "value": text[span[0] : span[1]],
                "extractor": "EntityCleaner",
            }
    return None


# Synonyms too generic to mark an aspect on their own ("hồ sơ vay ngân hàng", "nộp online").
_GENERIC_ASPECT_PHRASES = _words(
    "ho so;online;truc tuyen;qua mang;ket qua;thoi gian;huong dan;van ban;quy dinh;yeu cau;chuan bi;"
    "mang theo;nop o;duoc cap;bao gio;can cu;doi tuong;the nao;nhung gi;dap ung;tien",
    ";",
)
# Generic question frames: an aspect only when no aspect noun is there ("[các bước] ra sao").
_WEAK_ASPECT_PHRASES = _words("ra sao;the nao;nhu the nao;lam sao;ntn;lam the nao;xu ly sao", ";")
_QUESTION_WORDS = frozenset({"gi", "j", "nao", "dau", "gi?", "bao nhieu"})


def recover_aspect(text: str, entities: list[dict[str, Any]], phrases: frozenset[str]) -> tuple[int, int] | None:
    """The span of an aspect DIET missed: the longest known aspect phrase (folded, two words or more,
    rightmost among equals) outside other entities, with its verb ("gồm [mấy bước]") and a trailing
    question word ("[hồ sơ gồm] gì")."""
    strong = frozenset(p for p in phrases if p not in _WEAK_ASPECT_PHRASES)
    return _find_aspect(text, entities, strong) or _find_aspect(text, entities, phrases)


def _find_aspect(text: str, entities: list[dict[str, Any]], phrases: frozenset[str]) -> tuple[int, int] | None:
    words = _fold_words(text)
    taken = [(e["start"], e["end"]) for e in entities]
    longest = max((len(p.split()) for p in phrases), default=0)
    for size in range(min(longest, len(words)), 1, -1):
        for i in range(len(words) - size, -1, -1):
            phrase = " ".join(w for _, _, w in words[i : i + size])
            start, end = words[i][0], words[i + size - 1][1]
            if phrase not in phrases or phrase in _GENERIC_ASPECT_PHRASES:
                continue
            if any(a < end and start < b for a, b in taken) or re.search(r"[^\w\s\u0300-\u036f]", text[start:end]):
                continue
            following = words[i + size] if i + size < len(words) else None
            if following and following[2] in _QUESTION_WORDS and not text[end : following[0]].strip():
                end = following[1]
            span = trim_span(text, extend_left(text, start, "aspect"), end, "aspect")
            if span is not None and not any(a < span[1] and span[0] < b for a, b in taken):
                return span
    return None


def prefer_aspect_noun(text: str, start: int, end: int, phrases: frozenset[str]) -> tuple[int, int]:
    """A generic question frame right after an aspect noun gives way to the noun:
    "các bước [ra sao]" → "[các bước] ra sao" (the convention in the module docstring)."""
    if " ".join(w for _, _, w in _fold_words(text[start:end])) not in _WEAK_ASPECT_PHRASES:
        return start, end
    before = _fold_words(text[:start])
    for size in range(min(4, len(before)), 0, -1):
        words = before[-size:]
        phrase = " ".join(w for _, _, w in words)
        if phrase in phrases and phrase not in _WEAK_ASPECT_PHRASES and not text[words[-1][1] : start].strip():
            return words[0][0], words[-1][1]
    return start, end


def keep_for_intent(
    entities: list[dict[str, Any]], intent: str | None, scoped: dict[str, frozenset[str]]
) -> list[dict[str, Any]]:
    """Drop entities the intent does not take ("procedure"/"aspect" only with ``ask_procedure``):
    a dossier or complaint message names a procedure only as a circumstance."""
    if intent is None:
        return entities
    return [e for e in entities if e["entity"] not in scoped or intent in scoped[e["entity"]]]


_GENERIC_PROCEDURES = frozenset({"ho so", "giay to", "thu tuc", "hs", "tthc", "thu tuc hanh chinh"})
_GENERIC_ASPECTS = frozenset({"online", "truc tuyen", "qua mang", "onl"})


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
    folded = " ".join(vn.fold(surface).lower().split())
    if entity == "procedure":
        words = _WORD_RE.findall(surface)
        if folded in _GENERIC_PROCEDURES:
            return False
        return len(words) > 1 or (len(words) == 1 and _is_acronym(words[0]))
    if entity == "aspect":
        return folded not in _GENERIC_ASPECTS
    return True


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def clean_entities(
    text: str,
    entities: list[dict[str, Any]],
    merge: frozenset[str],
    procedure_ngrams: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Entities following the convention above: regex codes first, fragments merged, edges trimmed,
    procedure names completed with ``procedure_ngrams`` (see :func:`extend_right`)."""
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
    for index, entity in enumerate(merged):
        if entity["start"] >= entity["end"]:
            continue  # swallowed by the procedure before it
        if entity["entity"] in _EDGES:
            split = split_at_then(text, entity["start"], entity["end"], entity["entity"])
            trimmed = trim_span(text, split[0], split[1], entity["entity"])
            if trimmed is None:
                continue
            span = (extend_left(text, trimmed[0], entity["entity"]), trimmed[1])
            if entity["entity"] == "procedure":
                floor = max((e["end"] for e in out if e["end"] <= span[0]), default=0)
                span = (extend_left_known(text, span[0], procedure_ngrams, floor), span[1])
                span = (span[0], _complete_procedure(text, span, merged[index + 1 :], procedure_ngrams))
            if span != (entity["start"], entity["end"]):
                entity["start"], entity["end"] = span
                entity["value"] = text[span[0] : span[1]]
            if not plausible(entity["entity"], text[entity["start"] : entity["end"]]):
                continue
        out.append(entity)
    procedures = [e for e in out if e["entity"] == "procedure"]
    if len(procedures) > 1 and procedure_ngrams:
        # "đăng ký khai sinh cho hai con [sinh đôi]": a second span that shares no word pair with any
        # known procedure name is a circumstance, not another procedure.
        unknown = [e for e in procedures if not _has_known_pair(text[e["start"] : e["end"]], procedure_ngrams)]
        if len(unknown) < len(procedures):
            out = [e for e in out if not any(e is u for u in unknown)]
    procedures = [e for e in out if e["entity"] == "procedure"]
    named = [e for e in procedures if _starts_with_verb(text[e["start"] : e["end"]])]
    if named and len(named) < len(procedures):
        # "sau khi [mua đất], [đăng ký sang tên sổ đỏ]": the span that starts with a procedure verb
        # names the procedure; the others are circumstances ("căn hộ chung cư", "trẻ dưới 6 tuổi").
        out = [e for e in out if e["entity"] != "procedure" or any(e is n for n in named)]
    return out


def _starts_with_verb(surface: str) -> bool:
    words = vn.fold(surface).lower().split()
    return any(" ".join(words[:size]) in _PROCEDURE_STARTS for size in (1, 2)) or _is_acronym(words[0] if words else "")


def _complete_procedure(
    text: str, span: tuple[int, int], following: list[dict[str, Any]], ngrams: frozenset[str]
) -> int:
    """The end of a procedure span extended over the rest of a known name (:func:`extend_right`).

    It stops before the next entity of another type; a later procedure fragment it runs into is
    swallowed (DIET often cuts one name into pieces: "[đăng ký người] phụ [thuộc]").
    """
    limit = min(
        (e["start"] for e in following if e["entity"] != "procedure" and e["start"] >= span[1]), default=len(text)
    )
    end = extend_right(text, span[0], span[1], ngrams, limit)
    for other in following:
        if other["entity"] == "procedure" and other["start"] < end:
            other["start"] = min(max(other["start"], end), other["end"])
            other["value"] = text[other["start"] : other["end"]]
    return end


def _has_known_pair(surface: str, ngrams: frozenset[str]) -> bool:
    words = vn.fold(surface).lower().split()
    return len(words) == 1 or any(f"{a} {b}" in ngrams for a, b in itertools.pairwise(words))
