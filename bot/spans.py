"""Entity span conventions after DIET and the regex extractor, without any Rasa import.

Used by :class:`bot.entities.EntityCleaner`; pure functions so they are unit-tested on Python 3.11.
The annotation convention (docs/nlu_pipelines.md) in short:

- ``procedure``: the verb and the thing that names the procedure, with its kind ("làm CCCD", "cấp lại
  hộ chiếu", "đăng ký xe máy điện"); no lead-in ("tôi muốn", "thủ tục", "cần") and no circumstance
  from a preposition or situation word on ("cho con", "lần đầu", "do mất ví", "từ sổ gốc", "trong
  nước", "hiện nay", "thì"), except a foreign element ("… với người nước ngoài"). One procedure per
  message. A single syllable is a procedure only when it is an acronym ("cccd", "gplx", "passport").
- ``aspect``: the question phrase with its modal, verb and question noun ("cần giấy tờ gì", "phải nộp
  ở chỗ nào", "được cấp mấy bản giấy chứng nhận", "lệ phí"); no particles ("ạ", "vậy", "ad"), no
  yes/no frame ("có ... không", "được không"), no per-unit tail ("một trang").
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
    "muốn mún cần phải hỏi về sau khi để là thì việc cho em tôi mình cháu tui thủ tục tthc như nào thế ạ vậy còn nên "
    "giờ"
)
_PROCEDURE_TAIL = _words(
    "thì cho do vì lần hiện nay mà ở tại là của với và ạ nhé vậy không ko k rồi sau khi được đc cần tự "
    "phải có thế nào gì j hả à ơi nữa mới đã bị dc z vs a vào để từ trong còn quá về hết"
)
_ASPECT_LEAD = _words("thì là vậy còn có ạ và với hay hoặc đầu đến tới")
_ASPECT_TAIL = _words("ạ ad admin vậy nhé hả với vs nha thì không ko k hông hok khong chưa ạh nhỉ được đc dc ơi một")
# ... and, for text typed without diacritics, the folded forms that cannot be a content word at the
# edge of a span ("do" stays: "sổ đỏ"; "the" stays: "thẻ").
_FOLDED_PROCEDURE_LEAD = _words(
    "muon mun can phai hoi ve sau khi de la thi viec cho em e toi minh chau tui thu tuc tthc nhu nao a vay con nen "
    "gio"
)
_FOLDED_PROCEDURE_TAIL = _words(
    "thi cho vi lan hien nay ma o tai la cua voi va a nhe vay z khong ko k roi sau khi duoc dc can "
    "phai co nao gi j ha oi nua moi da bi vao de trong qua ve het"
)
_FOLDED_ASPECT_LEAD = _words("thi la vay con co a va voi hay hoac dau den toi")
_FOLDED_ASPECT_TAIL = _words("a ad admin vay z nhe ha voi vs nha thi khong ko k hong hok chua nhi duoc dc oi mot")
_EDGES: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]] = {
    "procedure": (_PROCEDURE_LEAD, _PROCEDURE_TAIL, _FOLDED_PROCEDURE_LEAD, _FOLDED_PROCEDURE_TAIL),
    "aspect": (_ASPECT_LEAD, _ASPECT_TAIL, _FOLDED_ASPECT_LEAD, _FOLDED_ASPECT_TAIL),
}
_ACRONYM_WORDS = frozenset({"passport", "visa", "vneid"})



def _phrases(spec: str) -> frozenset[str]:
    """Phrases written with diacritics plus their folded forms (see :func:`_phrase_key`)."""
    accented = {" ".join(vn.normalize(p).split()) for p in spec.split(";")}
    return frozenset(accented | {vn.fold(p).lower() for p in accented})


def _phrase_key(text: str) -> str:
    """A word typed with diacritics keeps them ("động" is not "đóng"), one typed without is folded."""
    return " ".join(vn.normalize(w) if vn.has_diacritics(w) else vn.fold(w).lower() for w in text.split())


# Verbs that belong to the span when DIET stopped right after them ("[mất] [bao lâu]" → "mất bao lâu",
# "xin [phép xây dựng]" → "xin phép xây dựng"), as phrases of one or two syllables.
_LEFT_VERBS: dict[str, frozenset[str]] = {
    "aspect": _phrases(
        "mất;hết;tốn;cần;gồm;nhận;nộp;làm;khai;phải;mang;đóng;lấy;bổ sung;chuẩn bị;cần bổ sung"
    ),
    "procedure": _phrases("xin;làm;cấp;đổi;mở;đăng ký;đk;dk;dky;đky;gia hạn;làm lại;cấp lại;cấp đổi"),
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


# Endings made of edge words that are still part of a name.
_NAME_ENDINGS = frozenset({"mot lan", "nha o", "dat o", "o to"})
# Starts made of edge words that are still part of a phrase ("co quan nao" is "cơ quan nào").
_PHRASE_STARTS = frozenset({"co quan"})


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
        if len(words) > 1 and f"{vn.fold(words[0][2]).lower()} {vn.fold(words[1][2]).lower()}" in _PHRASE_STARTS:
            break
        words.pop(0)
    while words and _is_edge_word(words[-1][2], tail, folded_tail, accented):
        if len(words) > 1 and f"{vn.fold(words[-2][2]).lower()} {vn.fold(words[-1][2]).lower()}" in _NAME_ENDINGS:
            break  # "rút bảo hiểm xã hội một lần": a fixed part of the name
        words.pop()
    if entity == "aspect" and len(words) > 2 and vn.fold(words[-2][2]).lower() in {"mot", "1", "moi"}:
        return trim_span(text, words[0][0], words[-3][1], entity)  # "[phí bao nhiêu] một trang"
    if not words:
        return None
    return words[0][0], words[-1][1]


# An aspect's verb may come with a modal before it and a preposition or a quantifier after it:
# "[được quy định ở] nghị định nào", "[phải đóng những khoản] phí nào". The bridge words join only
# when a verb (or modal) comes before them; a span never starts with a bridge word.
_ASPECT_MODALS = _phrases("được;phải;cần;sẽ;nên;đc;dc")
_ASPECT_BRIDGES = _phrases("ở;tại;theo;bằng;những;các;khoản;loại;những khoản;các khoản;những loại;các loại")
_ASPECT_VERBS = _phrases("quy định;hướng dẫn;cấp;điền;ghi;áp dụng;trả;đóng tiền")


_PASSIVE = _phrases("bị")


def extend_left(text: str, start: int, entity: str, floor: int = 0, end: int | None = None) -> int:
    """Move ``start`` left over the entity's verbs directly before it (see ``_LEFT_VERBS``), never
    before ``floor`` (the end of the entity before it). Aspects also take a modal before the verb
    and bridge words (prepositions, quantifiers) between the verb and the span."""
    verbs = _LEFT_VERBS.get(entity)
    if not verbs:
        return start
    modals: frozenset[str] = frozenset()
    bridges: frozenset[str] = frozenset()
    if entity == "aspect":
        if end is not None and _fold_key(text[start:end]) in _WEAK_ASPECT_PHRASES:
            return start  # "phải [làm sao]": a bare question frame takes nothing
        verbs = verbs | _ASPECT_VERBS
        modals, bridges = _ASPECT_MODALS, _ASPECT_BRIDGES
    before = [(m.start(), _phrase_key(m.group(0))) for m in _WORD_RE.finditer(text[:start]) if m.start() >= floor]
    first = _WORD_RE.match(text, start)
    has_verb = bool(first and _phrase_key(first.group(0)) in verbs)
    cursor = start  # leftmost word reached, bridges included; ``start`` moves only onto a verb or modal
    while before:
        gap = text[before[-1][0] : cursor]
        if not re.fullmatch(r"(?:\w|[\u0300-\u036f])+\s+", gap, re.UNICODE):
            break  # punctuation between: not one phrase
        for size in (2, 1):
            phrase = " ".join(w for _, w in before[-size:])
            if len(before) < size:
                continue
            # A verb never doubles ("do bị mất [mất bao lâu]"); once there is one, only modals join.
            # A passive verb is the citizen's situation: "bị mất [mấy ngày thì có]".
            passive = len(before) > size and before[-size - 1][1] in _PASSIVE
            if not passive and (phrase in modals or (not has_verb and (phrase in verbs or phrase in bridges))):
                cursor = before[-size][0]
                if phrase in verbs or phrase in modals:
                    start, has_verb = cursor, True
                del before[-size:]
                break
        else:
            break
    return start


def _fold_key(surface: str) -> str:
    return " ".join(vn.fold(surface).lower().split())


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
    after = _fold_words(text[words[inner[-1] + 1][0] : end])
    if not any(w in _QUESTION_WORDS or w in _QUANTIFIERS or w == "sao" for _, _, w in after):
        return start, end  # "[bao lâu thì có]", "[mấy ngày thì xong]": one question
    return words[inner[-1] + 1][0], end


def _fold_words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), vn.fold(m.group(0)).lower()) for m in _WORD_RE.finditer(text)]


def name_core(phrase: str) -> str:
    """A known name cut by the span convention: from its procedure verb ("giờ làm lại căn cước" →
    "làm lại căn cước") up to its first circumstance word ("nhận con nuôi trong nước" → "nhận con
    nuôi", "bản sao khai sinh từ sổ gốc" → "bản sao khai sinh"). The lookup table holds citizens'
    phrases, circumstances included."""
    accented = vn.has_diacritics(phrase)
    words = phrase.split()
    keys = [_phrase_key(w) for w in words]

    def starts_at(i: int) -> bool:
        return keys[i] in _LEFT_VERBS["procedure"] or " ".join(keys[i : i + 2]) in _PROCEDURE_STARTS

    if words and not starts_at(0):
        verb = next((i for i in range(1, len(words)) if starts_at(i)), 0)
        words = words[verb:]
    for i, word in enumerate(words[1:], start=1):
        if _is_edge_word(word, _PROCEDURE_TAIL, _FOLDED_PROCEDURE_TAIL, accented):
            return " ".join(words[:i])
    return " ".join(words)


def known_names(phrases: list[str]) -> list[str]:
    """Names without the unaccented twin of an accented one ("cap ban sao tu so goc" beside "cấp bản
    sao từ sổ gốc"): only the accented form tells "từ" (a circumstance) from "tư" ("tư pháp")."""
    accented = {vn.fold(p).lower() for p in phrases if vn.has_diacritics(p)}
    return [p for p in phrases if vn.has_diacritics(p) or vn.fold(p).lower() not in accented]


def phrase_ngrams(phrases: list[str], size: int = 2) -> frozenset[str]:
    """Folded word n-grams (2..size words) of known procedure names (their :func:`name_core`), for
    :func:`extend_right`."""
    grams: set[str] = set()
    for phrase in known_names(phrases):
        words = vn.fold(name_core(phrase)).lower().split()
        for n in range(2, size + 1):
            grams.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return frozenset(grams)


def _next_pair(following: list[tuple[int, int, str]], start: int, word: str) -> str:
    """``word`` (at ``start``) and the word after it, folded: "o to" is "ô tô"."""
    after = [w for s, _, w in following if s > start]
    return f"{word} {after[0]}" if after else word


# Nouns a number belongs to inside a name: "lý lịch tư pháp số 2", "giấy phép lái xe hạng B2".
_NUMBERED = frozenset({"so", "hang", "mau", "loai"})


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
        if _is_edge_word(text[s:e], _PROCEDURE_TAIL, _FOLDED_PROCEDURE_TAIL, accented) and not (
            not vn.has_diacritics(text[s:e]) and _next_pair(following, s, word) in _NAME_ENDINGS
        ):
            break
        if words[-2:] == ["nuoc", "ngoai"]:
            break  # the foreign element ends a name (see extend_foreign)
        if any(ch.isdigit() for ch in word) and words[-1] not in _NUMBERED:
            break  # "xin giấy phép xây dựng [nhà 3 tầng]": a count is a circumstance
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
        pair_before = f"{before[-2][2]} {previous}" if len(before) > 1 else previous
        if previous in _GENERIC_PROCEDURES or pair_before in _GENERIC_PROCEDURES:
            break  # "nơi nộp hồ sơ [đăng ký khai tử]": a generic noun is no part of the name
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
            floor = max((b for _, b in taken if b <= start), default=0)
            span = trim_span(text, extend_left(text, start, "aspect", floor, end), end, "aspect")
            if span is not None and not any(a < span[1] and span[0] < b for a, b in taken):
                return span
    return None


def prefer_aspect_noun(
    text: str, start: int, end: int, phrases: frozenset[str], floor: int = 0
) -> tuple[int, int]:
    """A generic question frame right after an aspect noun gives way to the noun:
    "các bước [ra sao]" → "[các bước] ra sao" (the convention in the module docstring). So does a frame inside the span:
    "[các bước ra sao]" → "[các bước] ra sao"."""
    inside = _fold_words(text[start:end])
    for cut in range(1, len(inside)):
        head = " ".join(w for _, _, w in inside[:cut])
        frame = " ".join(w for _, _, w in inside[cut:])
        if frame in _WEAK_ASPECT_PHRASES and head in phrases and head not in _WEAK_ASPECT_PHRASES:
            return start, start + inside[cut - 1][1]
    if " ".join(w for _, _, w in inside) not in _WEAK_ASPECT_PHRASES:
        return start, end
    before = [w for w in _fold_words(text[:start]) if w[0] >= floor]  # not into the entity before
    for size in range(min(4, len(before)), 0, -1):
        words = before[-size:]
        phrase = " ".join(w for _, _, w in words)
        if phrase in phrases and phrase not in _WEAK_ASPECT_PHRASES and not text[words[-1][1] : start].strip():
            return words[0][0], words[-1][1]
    return start, end


def complete_aspect(
    text: str, start: int, end: int, value: str, synonyms: dict[str, str], floor: int = 0, limit: int | None = None
) -> tuple[int, int]:
    """An aspect span with the rest of its phrase, by the known synonyms (folded keys → value):

    - left, a word that starts a known phrase with the span's first word, when no phrase starts with
      that word alone ("hô [sơ gồm những gì]" → "hô sơ gồm những gì", a typo of "hồ sơ");
    - right, an adjacent phrase of the same value ("[lấy ngay] trong buổi": both ask how fast).
    """
    limit = len(text) if limit is None else limit
    inside = _fold_words(text[start:end])
    if not inside:
        return start, end
    starts = {key.split()[0] for key in synonyms}
    pairs = {" ".join(key.split()[:2]) for key in synonyms if len(key.split()) > 1}
    before = [w for w in _fold_words(text[:start]) if w[0] >= floor]
    if (
        inside[0][2] not in starts
        and before
        and f"{before[-1][2]} {inside[0][2]}" in pairs
        and not text[before[-1][1] : start].strip()
    ):
        start = before[-1][0]
    before = [w for w in _fold_words(text[:start]) if w[0] >= floor]
    for size in (3, 2, 1):  # "lấy ngay [trong buổi]": the same question said twice
        words = before[-size:]
        if len(words) < size or re.search(r"[^\w\s\u0300-\u036f]", text[words[0][0] : start]):
            continue
        phrase = " ".join(w for _, _, w in words)
        if synonyms.get(phrase) == value and phrase not in _WEAK_ASPECT_PHRASES:
            start = words[0][0]
            break
    following = [(s + end, e + end, w) for s, e, w in _fold_words(text[end:limit])]
    for size in (3, 2, 1):
        words = following[:size]
        if len(words) < size or text[end : words[-1][1]].strip() != text[words[0][0] : words[-1][1]]:
            continue
        if re.search(r"[^\w\s\u0300-\u036f]", text[end : words[-1][1]]):
            continue
        phrase = " ".join(w for _, _, w in words)
        if synonyms.get(phrase) == value and phrase not in _WEAK_ASPECT_PHRASES:  # "[các bước] ra sao"
            return start, words[-1][1]
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
        words = folded.split()
        for generic in _GENERIC_ASPECTS:
            size = len(generic.split())
            if len(words) > size and " ".join(words[-size:]) == generic:
                # "[nộp online]" asks where/how to file; "bán đồ [ăn online]" asks nothing
                return " ".join(words[:-size][-1:]) in _LEFT_VERBS["aspect"]
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
    # A procedure fragment that starts with a question word ("[bao nhiêu một bản]") is DIET noise; one
    # that is an aspect noun ("Xin [mẫu tờ khai] cấp căn cước") is an aspect.
    kept = [e for e in kept if e["entity"] != "procedure" or not _starts_with_question(text[e["start"] : e["end"]])]
    for entity in list(kept):
        if entity["entity"] != "procedure":
            continue
        if _fold_key(text[entity["start"] : entity["end"]]) in _ASPECT_NOUNS:
            entity["entity"] = "aspect"
            continue
        head = _aspect_noun_head(text, entity["start"], entity["end"])
        if head is not None:
            kept.append({**entity, "entity": "aspect", "end": head[0], "value": text[entity["start"] : head[0]]})
            entity["start"], entity["value"] = head[1], text[head[1] : entity["end"]]
    kept.sort(key=lambda e: e["start"])
    merged: list[dict[str, Any]] = []
    for entity in kept:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and entity["entity"] in merge
            and previous["entity"] == entity["entity"]
            and previous["end"] <= entity["start"]
            and _joinable_gap(text[previous["end"] : entity["start"]], entity["entity"])
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
            if trimmed is not None and entity["entity"] == "procedure":
                trimmed = cut_circumstance(text, trimmed[0], trimmed[1], procedure_ngrams)
            if trimmed is None:
                continue
            # Verbs join from the left up to the entity of another type before it; a fragment of the
            # same type it runs into is dropped below ("[Gia] hạn [hộ chiếu]").
            other_floor = max(
                (e["end"] for e in out if e["end"] <= trimmed[0] and e["entity"] != entity["entity"]), default=0
            )
            limit = min(
                (
                    e["start"]
                    for e in merged[index + 1 :]
                    if e["start"] >= trimmed[1] and (e["entity"] != "procedure" or entity["entity"] != "procedure")
                ),
                default=len(text),
            )
            span = (extend_left(text, trimmed[0], entity["entity"], other_floor, trimmed[1]), trimmed[1])
            if entity["entity"] == "procedure":
                floor = max((e["end"] for e in out if e["end"] <= span[0]), default=0)
                span = (extend_left_known(text, span[0], procedure_ngrams, floor), span[1])
                span = (span[0], _complete_procedure(text, span, merged[index + 1 :], procedure_ngrams))
                span = (span[0], extend_foreign(text, span[1], limit))
            else:
                span = (span[0], extend_quantity(text, span[0], extend_how_much(text, span[1], limit), limit))
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
    out = _drop_overlapping(out)
    procedures = [e for e in out if e["entity"] == "procedure"]
    if len(procedures) > 1:
        # A message asks about one procedure; a second name ("người [nhận nuôi]") is a circumstance.
        # The longest span names it most completely, the first one among equals.
        best = max(procedures, key=lambda e: (len(_WORD_RE.findall(text[e["start"] : e["end"]])), -e["start"]))
        out = [e for e in out if e["entity"] != "procedure" or e is best]
    return out


# Nouns that ask about a procedure and never name one.
_ASPECT_NOUNS = _words(
    "mau to khai;to khai;mau don;bieu mau;le phi;thanh phan ho so;thoi han giai quyet;dieu kien;can cu phap ly", ";"
)
# Words that start a circumstance inside a span DIET drew too long ("[nhận con nuôi trong nước]").
# Typed without diacritics some are content words too ("tu": tư pháp, "o": ô tô, "ve": vệ sinh);
# those cut only where they do not continue a known name.
_CIRCUMSTANCE = _words("cho do vì từ trong tại ở để khi lần thì quá về hết còn vào sau")
_FOLDED_CIRCUMSTANCE = _words("cho trong khi lan thi het vao sau")
_FOLDED_AMBIGUOUS = _words("tu o de tai ve vi con qua")


def cut_circumstance(text: str, start: int, end: int, ngrams: frozenset[str]) -> tuple[int, int]:
    """A procedure span up to its first inner circumstance word (the guideline in the module
    docstring); a foreign element ("cho người nước ngoài") and nouns like "nhà ở" stay."""
    words = _fold_words(text[start:end])
    for i in range(1, len(words)):
        s, e, folded = words[i]
        surface = text[start + s : start + e]
        rest = " ".join(w for _, _, w in words[i:])
        if any(rest.startswith(tail) for tail in _FOREIGN_TAILS):
            break
        pairs = (f"{words[i - 1][2]} {folded}", " ".join(w for _, _, w in words[i : i + 2]))
        if any(pair in _NAME_ENDINGS for pair in pairs):
            continue  # "xây dựng nhà ở", "sang tên ô tô"
        if vn.has_diacritics(surface):
            cut = vn.normalize(surface) in _CIRCUMSTANCE
        elif folded in _FOLDED_AMBIGUOUS:
            cut = f"{words[i - 1][2]} {folded}" not in ngrams and bool(ngrams)
        else:
            cut = folded in _FOLDED_CIRCUMSTANCE
        if cut:
            return start, start + words[i - 1][1]
    return start, end


def _aspect_noun_head(text: str, start: int, end: int) -> tuple[int, int] | None:
    """(end of the aspect noun, start of the verb) when a span is an aspect noun followed by a
    procedure verb: "[mẫu tờ khai cấp căn cước]" → "mẫu tờ khai" + "cấp căn cước"."""
    words = _fold_words(text[start:end])
    for size in (4, 3, 2, 1):
        if len(words) > size and " ".join(w for _, _, w in words[:size]) in _ASPECT_NOUNS:
            rest = [w for _, _, w in words[size:]]
            if rest[0] in _PROCEDURE_STARTS or " ".join(rest[:2]) in _PROCEDURE_STARTS:
                return start + words[size - 1][1], start + words[size][0]
    return None


def _starts_with_question(surface: str) -> bool:
    words = vn.fold(surface).lower().split()
    return bool(words) and (words[0] in {"bn", "gi", "j"} or words[:2] == ["bao", "nhieu"])


def _drop_overlapping(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of two overlapping spans of one type (a fragment completed into its neighbour: "[Gia hạn]" and
    "[Gia hạn hộ chiếu]"), the longer one stays."""
    kept: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: e["start"] - e["end"]):
        if not any(k["entity"] == entity["entity"] and _overlap(k, entity) for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e["start"])


# Words that separate two questions ("[cần gì] và [mất bao lâu]"): fragments across them stay apart.
_SEPARATORS = _words("va;voi;hoac;hay;con;thi;roi;la;a;nhe;vay;khong;ko;k;sau;truoc", ";")
# Quantifier nouns inside one question: "[phải đóng những] khoản [phí nào]" is one aspect; a
# preposition is not ("[nhận kq] bằng [cách] nào" are two phrases).
_GAP_WORDS = _words("khoan;loai;nhung;cac;may", ";")


def _joinable_gap(gap: str, entity: str) -> bool:
    """Whether two fragments of one entity with ``gap`` between them are one phrase: adjacent, or,
    for an aspect, one or two quantifier nouns between ("[phải đóng những] khoản [phí nào]")."""
    if not gap.strip():
        return True
    if entity != "aspect" or re.search(r"[^\w\s\u0300-\u036f]", gap):
        return False
    words = [vn.fold(w).lower() for w in _WORD_RE.findall(gap)]
    return 0 < len(words) <= 2 and all(w in _GAP_WORDS for w in words)


# A foreign element makes another catalogue procedure (other authority, documents and fee), so it is
# part of the name: "đăng ký kết hôn [với người nước ngoài]", "khai tử [cho người nước ngoài]".
_FOREIGN_TAILS = _words(
    "cho nguoi nuoc ngoai;voi nguoi nuoc ngoai;co yeu to nuoc ngoai;cua nguoi nuoc ngoai", ";"
)


def extend_foreign(text: str, end: int, limit: int) -> int:
    """``end`` moved over a foreign-element qualifier right after a procedure name (see above)."""
    following = _fold_words(text[end:limit])[:4]
    if (
        len(following) == 4
        and " ".join(w for _, _, w in following) in _FOREIGN_TAILS
        and not re.search(r"[^\w\s\u0300-\u036f]", text[end : end + following[-1][1]])
    ):
        return end + following[-1][1]
    return end


# "[được cấp mấy bản] giấy chứng nhận": a quantity question's noun phrase runs to the end of the clause.
_QUANTIFIERS = frozenset({"may", "nhieu", "bn"})
_CLAUSE_END = re.compile(r"[,.;:!?\n]|$")


def extend_how_much(text: str, end: int, limit: int) -> int:
    """``end`` of an aspect moved over "bao nhiêu"/"bn" right after it ("[tiền] bao nhiêu")."""
    following = _fold_words(text[end:limit])[:2]
    if following and not text[end : end + following[0][0]].strip():
        if following[0][2] == "bn":
            return end + following[0][1]
        if [w for _, _, w in following] == ["bao", "nhieu"] and not text[
            end + following[0][1] : end + following[1][0]
        ].strip():
            return end + following[1][1]
    return end


def extend_quantity(text: str, start: int, end: int, limit: int, max_words: int = 4) -> int:
    """``end`` of an aspect that ends with "mấy/bao nhiêu + noun" moved to the end of the clause, when
    the rest is a short noun phrase (no particle, no other entity, at most ``max_words`` words)."""
    words = _fold_words(text[start:end])
    if len(words) < 2 or words[-2][2] not in _QUANTIFIERS:
        return end
    found = _CLAUSE_END.search(text, end)
    clause_end = found.start() if found else len(text)
    rest = _fold_words(text[end:clause_end])
    if not rest or len(rest) > max_words or clause_end > limit:
        return end
    tail = _ASPECT_TAIL | _FOLDED_ASPECT_TAIL | _SEPARATORS
    if any(w in tail or vn.normalize(text[end + s : end + e]) in tail for s, e, w in rest):
        return end
    return end + rest[-1][1]


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
