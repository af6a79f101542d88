"""Vietnamese text tools shared by search, NLU (bot/, Python 3.10) and actions.

The one place where Vietnamese text is normalised. Pure standard library on purpose: the Rasa
process imports it too. Every function here keeps Python ≥ 3.10 syntax and no heavy imports.

- ``nfc``: Unicode NFC (keyboards and PDFs send decomposed text).
- ``normalize``: NFC + one tone-mark placement (``hoà`` → ``hòa``, ``thuỷ`` → ``thủy``) + one spelling
  where Vietnamese allows two (``kí`` = ``ký``, ``lí`` = ``lý``, ``qui`` = ``quy``) + lower case.
  Length-preserving on NFC input, so entity offsets stay valid.
- ``fold``: ``normalize`` then strip every diacritic (``đ`` → ``d``): "Lái xe" → "lai xe".
- ``syllables``: word-character runs of a normalised text.
- ``expand_synonyms``: abbreviations and citizen words mapped to the catalogue's words, used the
  same way when indexing and when querying.
- ``strip_fillers``: question filler ("cho em hỏi", "như thế nào", "ạ") removed; ``filler_runs``: the
  runs of content words between fillers.
- ``clauses``: a message split at punctuation (a long question names its procedure in one clause).

Search combines these in ``knowledge_base.search.analysis.analyze_query``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền sắc ngã hỏi nặng
_VOWELS = set("aăâeêioôơuưy")
_HATTED = set("ăâêôơư")
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _split_tone(syllable: str) -> tuple[str, str | None]:
    """Return the syllable without its tone mark, and the tone mark (combining char) if any."""
    tone: str | None = None
    base: list[str] = []
    for ch in unicodedata.normalize("NFD", syllable):
        if ch in _TONE_MARKS:
            tone = ch
        else:
            base.append(ch)
    return unicodedata.normalize("NFC", "".join(base)), tone


def _tone_position(base: str) -> int | None:
    """Index in ``base`` (lower-case, toneless, NFC) of the vowel that carries the tone.

    Classic placement, as the national portal writes: hòa, thủy, quý, giữa, người, khuyến.
    """
    n = len(base)
    start = 0
    if base[:2] in ("qu", "gi") and n > 2 and base[2] in _VOWELS:
        start = 2
    while start < n and base[start] not in _VOWELS:
        start += 1
    if start >= n:
        if base in ("gi", "qu"):  # "gì", "quỳ"-like edge: tone on the last vowel
            return n - 1
        return None
    end = start
    while end < n and base[end] in _VOWELS:
        end += 1
    nucleus = base[start:end]
    has_coda = end < n
    if len(nucleus) == 1:
        return start
    if "ươ" in nucleus:
        return start + nucleus.index("ươ") + 1
    hatted = [i for i, ch in enumerate(nucleus) if ch in _HATTED]
    if hatted:
        return start + hatted[-1]
    if has_coda:
        return end - 1
    if len(nucleus) >= 3:
        return start + 1
    return start


# After these onsets a lone final "i" and "y" are two spellings of one syllable (kí/ký, lí/lý, mĩ/mỹ,
# sĩ/sỹ, tỉ/tỷ, hi/hy, quí/quý); both are in use, in the catalogue and in citizens' messages alike.
_Y_ONSETS = frozenset({"h", "k", "l", "m", "s", "t", "qu"})
_I_TO_Y = dict(zip("iíìỉĩị", "yýỳỷỹỵ", strict=True))


def _y_spelling(syllable: str) -> str:
    """"kí" → "ký", "Lí" → "Lý" (same length, same case)."""
    last = syllable[-1:]
    y = _I_TO_Y.get(last.lower())
    if y is None or syllable[:-1].lower() not in _Y_ONSETS:
        return syllable
    return syllable[:-1] + (y.upper() if last.isupper() else y)


@lru_cache(maxsize=65536)
def _canonical_syllable(syllable: str) -> str:
    syllable = _y_spelling(syllable)
    base, tone = _split_tone(syllable)
    if tone is None:
        return syllable
    lower = base.lower()
    pos = _tone_position(lower)
    if pos is None:
        return syllable
    chars = list(base)
    chars[pos] = unicodedata.normalize("NFC", chars[pos] + tone)
    return "".join(chars)


def normalize(text: str, *, lower: bool = True) -> str:
    """NFC, canonical tone placement and (by default) lower case."""
    text = nfc(text)
    if lower:
        text = text.lower()
    return _WORD_RE.sub(lambda m: _canonical_syllable(m.group(0)), text)


_FOLD_TABLE = {ord("đ"): "d", ord("Đ"): "D"}


@lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.translate(_FOLD_TABLE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower case without diacritics: "Đăng ký Lái xe" → "dang ky lai xe"."""
    if len(text) <= 64:  # words and short phrases, folded again and again while searching
        return _fold_short(text)
    return _fold_text(text)


def _fold_text(text: str) -> str:
    return _WORD_RE.sub(lambda m: _fold_word(m.group(0)), normalize(text))


@lru_cache(maxsize=65536)
def _fold_short(text: str) -> str:
    return _fold_text(text)


def has_diacritics(text: str) -> bool:
    norm = normalize(text)
    return norm != fold(norm)


def syllables(text: str) -> list[str]:
    """Word-character runs of ``normalize(text)`` ("Cấp lại CCCD?" → ["cấp", "lại", "cccd"])."""
    return _WORD_RE.findall(normalize(text))


# --- abbreviations, synonyms and citizen words -------------------------------------------------
# Each entry: surface forms (any diacritics or none, matched on folded whole words) → the words the
# catalogue uses. Applied both to indexed text and to queries (`expand_synonyms`), so a query for
# "cccd" finds "thẻ căn cước" and a procedure that mentions "sổ đỏ" is found by "giấy chứng nhận".
SYNONYMS: dict[str, tuple[str, ...]] = {
    "căn cước": ("cccd", "căn cước công dân", "thẻ căn cước", "thẻ cc", "cc công dân",
                 "chứng minh nhân dân", "cmnd", "chứng minh thư", "cmt", "thẻ căn cước công dân"),
    "giấy phép lái xe": ("gplx", "bằng lái", "bằng lái xe", "giấy phép lái", "bang lai", "blx",
                         "lái xe", "bằng xe máy", "bằng ô tô", "bằng b2", "bằng a1", "bằng b1", "bằng c"),
    "hộ chiếu": ("passport", "hc phổ thông", "pass port", "hộ chiếu phổ thông"),
    "giấy chứng nhận quyền sử dụng đất": ("sổ đỏ", "sổ hồng", "gcn qsdđ", "gcnqsdđ", "qsdđ",
                                          "sổ đất", "bìa đỏ", "giấy chứng nhận quyền sử dụng đất",
                                          "sổ nhà đất"),
    "cư trú": ("hộ khẩu", "sổ hộ khẩu", "khẩu"),
    "đăng ký kinh doanh": ("đkkd", "giấy phép kinh doanh", "gpkd", "mở cửa hàng", "mở quán"),
    "bảo hiểm xã hội": ("bhxh",),
    "bảo hiểm y tế": ("bhyt", "thẻ bảo hiểm", "thẻ bh"),
    "lý lịch tư pháp": ("lltp", "lý lịch", "lí lịch tư pháp", "phiếu lý lịch", "ll tư pháp"),
    "cấp lại": ("làm lại", "xin lại", "cấp lại", "bị mất", "đánh mất", "làm mất", "mất ví"),
    "cấp đổi": ("đổi", "đổi lại", "làm mới"),
    "đăng ký khai sinh": ("làm giấy khai sinh", "làm khai sinh", "khai sanh", "giấy khai sinh",
                          "con mới sinh", "mới sinh con", "đẻ con", "em bé mới sinh"),
    "đăng ký khai tử": ("báo tử", "giấy báo tử", "chứng tử", "qua đời", "đã mất", "mất rồi", "từ trần",
                        "khai tử"),
    "đăng ký kết hôn": ("đăng ký kết hôn", "giấy đăng ký kết hôn", "đkkh", "cưới", "lấy vợ", "lấy chồng",
                        "cưới vợ", "cưới chồng", "giấy kết hôn"),
    "xác nhận tình trạng hôn nhân": ("giấy xác nhận độc thân", "xác nhận độc thân", "độc thân",
                                    "xác nhận tthn", "tình trạng hôn nhân"),
    "đăng ký xe": ("cà vẹt", "cavet", "cà vẹt xe", "giấy đăng ký xe", "biển số", "đăng ký xe"),
    "sang tên": ("chuyển tên", "sang tên đổi chủ", "đổi chủ", "mua xe cũ", "mua lại xe", "bán xe"),
    "chứng thực": ("công chứng", "sao y", "sao y bản chính", "photo công chứng"),
    "hộ kinh doanh": ("hkd", "hộ kd", "kinh doanh cá thể", "cá thể"),
    "doanh nghiệp": ("công ty", "cty", "dn", "doanh nghiep"),
    "giấy phép xây dựng": ("gpxd", "phép xây dựng", "xin phép xây", "xây nhà", "sửa nhà", "xin phép xây nhà"),
    "mã số thuế": ("mst", "mã thuế"),
    "tạm trú": ("đăng ký tạm trú", "kt3", "ở trọ", "thuê trọ", "nhà trọ", "tạm trú"),
    "thường trú": ("nhập hộ khẩu", "chuyển hộ khẩu", "thường trú", "tách khẩu", "tách hộ khẩu"),
    "tạm vắng": ("khai báo tạm vắng", "vắng mặt ở địa phương", "tạm vắng"),
    "trợ cấp xã hội": ("trợ cấp", "bảo trợ xã hội", "tiền trợ cấp", "hỗ trợ hàng tháng"),
    "số điện thoại": ("sđt", "sdt", "điện thoại"),
    "có yếu tố nước ngoài": ("việt kiều", "người nước ngoài", "nước ngoài", "ngoại quốc", "lấy chồng nước ngoài",
                             "lấy vợ nước ngoài", "quốc tịch nước ngoài", "ngoại kiều", "chồng tây", "vợ tây",
                             # The nationalities Vietnamese citizens most often marry or adopt from.
                             "người trung quốc", "người hàn quốc", "người hàn", "người đài loan", "người nhật",
                             "người nhật bản", "người mỹ", "người lào", "người campuchia", "người thái lan",
                             "người úc", "người pháp", "người đức", "người anh", "người canada", "người nga",
                             "người singapore", "người malaysia"),
    "người gốc việt nam": ("nguồn gốc việt nam", "gốc việt", "gốc việt nam"),
    # Older or everyday names of things the catalogue now calls otherwise.
    "chứng thư chữ ký điện tử": ("chứng thư số", "chứng thư chữ ký số", "chứng thư điện tử"),
    "chữ ký điện tử": ("chữ ký số",),
    "thị thực": ("visa",),
    "trực tuyến": ("online", "qua mạng", "trên mạng"),
}

# Compounds that contain a synonym form but mean something else: matched first (longest match wins)
# and expanded to nothing, so "thay đổi" (amend) is not "đổi" (cấp đổi) and "nhập khẩu" (import) is
# not "khẩu" (household register). Without them hundreds of catalogue names gain the wrong words.
NOT_SYNONYMS: tuple[str, ...] = (
    "thay đổi", "sửa đổi", "chuyển đổi", "trao đổi", "hoán đổi", "biến đổi", "quy đổi",
    "xuất khẩu", "nhập khẩu", "cửa khẩu", "khẩu trang",
    "đối với",  # typed without diacritics, "doi voi" would otherwise read as "đổi"
)

# Chat abbreviations and teencode, mapped word for word (folded surface → normalised word).
ABBREVIATIONS: dict[str, str] = {
    "ko": "không", "k": "không", "kh": "không", "khong": "không", "hok": "không", "hong": "không",
    "dc": "được", "đc": "được", "duoc": "được", "j": "gì", "gi": "gì", "z": "vậy", "v": "vậy",
    "ntn": "như thế nào", "bn": "bao nhiêu", "bnhieu": "bao nhiêu", "mk": "mình", "mn": "mọi người",
    "e": "em", "ad": "admin", "r": "rồi", "ui": "ơi", "oi": "ơi",
    "tks": "cảm ơn", "thanks": "cảm ơn", "thank": "cảm ơn", "cmon": "cảm ơn", "vs": "với",
    "ng": "người", "nguoi": "người", "dk": "đăng ký", "đk": "đăng ký", "dky": "đăng ký", "đky": "đăng ký",
    "tp": "thành phố", "ubnd": "ủy ban nhân dân", "xa": "xã", "tt": "thủ tục", "ks": "khai sinh",
    "kq": "kết quả", "hs": "hồ sơ", "gt": "giấy tờ", "trc": "trước", "ns": "nói", "bh": "bao giờ",
}

# Question filler: whole phrases, matched on folded words, removed from search queries.
FILLERS: tuple[str, ...] = (
    "cho em hỏi", "cho tôi hỏi", "cho mình hỏi", "cho cháu hỏi", "cho hỏi", "xin hỏi", "em muốn hỏi",
    "tôi muốn hỏi", "muốn hỏi", "cho em xin", "cho tôi xin", "cho mình xin", "xin cho biết",
    "đề nghị cho biết", "như thế nào", "thế nào", "ra sao", "làm sao", "làm thế nào", "là gì",
    "bao nhiêu", "bao lâu", "ở đâu", "được không", "có được không", "có phải", "hay không", "không ạ",
    "vậy ạ", "với ạ", "thủ tục", "tthc", "hồ sơ", "giấy tờ", "những gì", "cần gì", "gồm gì", "gồm những",
    "admin", "anh chị", "mọi người", "thế thì", "vậy thì", "thì sao", "của mình", "bạn ơi",
    # Single words. Not here on purpose, because without diacritics they collide with content words:
    # đang (đăng), bạn (bán, bản), mà (mã), do/đó (đỏ), thì (thi), sao (bản sao), vì (vi phạm),
    # xin (xin phép), thế (thẻ), chị (chi trả), mình (chứng minh), tớ (tờ), nha (nhà).
    "ạ", "à", "ơi", "nhé", "vậy", "là", "và", "của", "cho", "em", "tôi", "cháu", "anh", "tui", "ạh",
    "nhỉ", "hả", "với", "rồi", "muốn", "cần", "phải", "có", "được", "không", "gì", "nào", "đâu", "khi",
    "này", "ấy", "các", "những", "một", "nên", "để", "ở", "tại", "về", "theo", "cũng", "đã", "sẽ", "hỏi",
    "giúp", "biết", "nếu", "trường hợp", "nhưng", "bị", "nữa", "rất", "sắp",
    # What the question asks *about* a procedure, in the portal's own words: FAQ questions name the
    # aspect ("thời gian giải quyết", "cơ quan có thẩm quyền") beside the procedure, and those words
    # would otherwise match whichever procedure name happens to contain them ("Giải quyết …").
    "thời gian giải quyết", "thời hạn giải quyết", "thời gian thực hiện", "thời hạn thực hiện",
    "thành phần", "số lượng hồ sơ", "trình tự thực hiện", "cách thức thực hiện",
    "trình tự", "cơ quan có thẩm quyền", "cơ quan thực hiện", "cơ quan nào", "tiếp nhận hồ sơ",
    "căn cứ pháp lý", "yêu cầu điều kiện", "lệ phí", "mức thu", "bao nhiêu tiền", "mất bao lâu",
    "bao nhiêu ngày", "mấy ngày", "chuẩn bị", "nộp ở đâu", "làm ở đâu", "xử lý như thế nào",
)


def _fold_phrase(phrase: str) -> tuple[str, ...]:
    return tuple(fold(phrase).split())


def _word_matches(word: str, pattern: str) -> bool:
    """A normalised query word matches a normalised pattern word exactly, or folded when the citizen
    typed it without diacritics ("lai" matches "lái" and "lại"; "lại" matches only "lại")."""
    return word == pattern or (word == _fold_word(word) and _fold_word(pattern) == word)


class PhraseMatcher:
    """Longest-first whole-word phrase lookup that honours diacritics when they were typed."""

    def __init__(self, phrases: dict[str, str]) -> None:
        self._index: dict[tuple[str, ...], list[tuple[tuple[str, ...], str]]] = {}
        for phrase, value in phrases.items():
            words = tuple(syllables(phrase))
            if words:
                self._index.setdefault(tuple(_fold_word(w) for w in words), []).append((words, value))
        # Phrase lengths by folded first word, longest first: most words start no phrase at all, and
        # the others are tried only at the lengths some phrase has (hot path of every query).
        sizes: dict[str, set[int]] = {}
        for key in self._index:
            sizes.setdefault(key[0], set()).add(len(key))
        self._sizes = {first: tuple(sorted(found, reverse=True)) for first, found in sizes.items()}

    def match_at(self, words: list[str], i: int) -> tuple[int, str] | None:
        """(length, value) of the longest phrase starting at ``words[i]``, if any."""
        sizes = self._sizes.get(_fold_word(words[i]))
        if not sizes:
            return None
        room = len(words) - i
        for size in sizes:
            if size > room:
                continue
            window = words[i : i + size]
            for pattern, value in self._index.get(tuple(_fold_word(w) for w in window), ()):
                if all(_word_matches(w, p) for w, p in zip(window, pattern)):
                    return size, value
        return None

    def hits(self, words: list[str]) -> Iterator[tuple[int, int, str]]:
        """(start, length, value) of each phrase in ``words``, scanning left to right; the longest phrase
        at a position consumes its words ("thay đổi" is one phrase, not also "đổi")."""
        i = 0
        while i < len(words):
            hit = self.match_at(words, i)
            if hit:
                yield i, hit[0], hit[1]
                i += hit[0]
            else:
                i += 1


@lru_cache(maxsize=1)
def _synonyms() -> PhraseMatcher:
    phrases: dict[str, str] = dict.fromkeys(NOT_SYNONYMS, "")
    for canonical, forms in SYNONYMS.items():
        for form in (canonical, *forms):
            phrases.setdefault(form, canonical)
    return PhraseMatcher(phrases)


@lru_cache(maxsize=1)
def _abbreviations() -> PhraseMatcher:
    return PhraseMatcher(ABBREVIATIONS)


@lru_cache(maxsize=1)
def _fillers() -> PhraseMatcher:
    return PhraseMatcher({p: "" for p in FILLERS})


def expand_abbreviations(text: str) -> str:
    """Replace chat abbreviations word for word: "ko đc" → "không được". Keeps everything else."""
    matcher = _abbreviations()
    words = syllables(text)
    out: list[str] = []
    for i, word in enumerate(words):
        hit = matcher.match_at(words, i)
        out.append(hit[1] if hit else _chat_spelling(word))
    return " ".join(out)


# A Vietnamese rhyme, folded: vowels, then at most one of the finals Vietnamese allows.
_RHYME = re.compile(r"[aeiouy]+(?:c|ch|m|n|ng|nh|p|t)?")


def _chat_spelling(word: str) -> str:
    """Chat writes "ph" as "f" ("fải", "xin fép", "fường"): no Vietnamese word starts with f, so an f
    before a Vietnamese rhyme is ph. Loanwords keep their f ("file", "fax", "form" are no rhymes)."""
    if word[:1] == "f" and _RHYME.fullmatch(_fold_word(word[1:])):
        return "ph" + word[1:]
    return word


def synonym_expansions(text: str) -> list[str]:
    """Canonical catalogue phrases for every synonym found in ``text``."""
    # "" marks a compound that is no synonym (NOT_SYNONYMS)
    return list(dict.fromkeys(canonical for _, _, canonical in _synonyms().hits(syllables(text)) if canonical))


def synonym_aliases(words: list[str]) -> dict[str, str]:
    """Folded words that only stand for a catalogue phrase ("online" → "trực tuyến", "đỏ" of "sổ đỏ"
    → "giấy chứng nhận quyền sử dụng đất"), each with the canonical phrase it stands for."""
    aliases: dict[str, str] = {}
    for start, length, canonical in _synonyms().hits(words):
        if not canonical:  # a compound that is no synonym (NOT_SYNONYMS)
            continue
        own = set(fold(canonical).split())
        for word in words[start : start + length]:
            if fold(word) not in own:
                aliases.setdefault(fold(word), canonical)
    return aliases


def expand_synonyms(text: str) -> str:
    """``text`` followed by the canonical phrases of the synonyms it contains."""
    present = fold(text)
    extra = [c for c in synonym_expansions(text) if fold(c) not in present]
    return " ".join([text, *extra]) if extra else text


def filler_runs(words: list[str]) -> list[list[str]]:
    """Runs of consecutive non-filler words (fillers removed, each one ending a run)."""
    matcher = _fillers()
    runs: list[list[str]] = [[]]
    i = 0
    while i < len(words):
        hit = matcher.match_at(words, i)
        if hit:
            i += hit[0]
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(words[i])
            i += 1
    return [run for run in runs if run]


def strip_fillers(text: str) -> str:
    """Remove question filler phrases; keeps the content words in their normalised form."""
    return " ".join(word for run in filler_runs(syllables(text)) for word in run)


# Where a clause ends: , ; : ! ? brackets, line breaks, and a full stop followed by a space or the end
# (not the dots of "1.5" or of "82/2017/NĐ-CP"-like numbers).
_CLAUSE_BREAK = re.compile(r"[,;:!?()\[\]\n\u2026\u201c\u201d\"]+|\.+(?=\s|$)")


def clauses(text: str) -> list[str]:
    """The clauses of a message, split at punctuation ("Con vào lớp 1, trường đòi giấy xác nhận cư
    trú." → ["Con vào lớp 1", " trường đòi giấy xác nhận cư trú"]); empty ones dropped."""
    return [part for part in _CLAUSE_BREAK.split(nfc(text)) if part.strip()]

