"""Which part of a procedure the citizen asks about ("giấy tờ gì", "lệ phí", "bao lâu", "nộp ở đâu"…).

Phrases are written once, with diacritics; ``knowledge_base.text.PhraseMatcher`` matches them on whole
words and honours diacritics when the citizen typed them ("lai" matches "lại", "lại" does not match
"lái"). The same matcher tells which words of a message are left once aspect phrases, question filler
and conversational follow-up words ("còn … thì sao?") are removed: if nothing is left, the message
does not name a procedure.
"""

from __future__ import annotations

from functools import lru_cache

from knowledge_base import text as vn

DOCUMENTS = "documents"
FEE = "fee"
DURATION = "duration"
PLACE = "place"
STEPS = "steps"
CONDITIONS = "conditions"
LEGAL_BASIS = "legal_basis"
RESULT = "result"
FORM = "form"

ASPECTS: tuple[str, ...] = (DOCUMENTS, FEE, DURATION, PLACE, STEPS, CONDITIONS, LEGAL_BASIS, RESULT, FORM)

# What the citizen reads on a button and in a heading.
LABELS: dict[str, str] = {
    DOCUMENTS: "Giấy tờ cần nộp",
    FEE: "Lệ phí",
    DURATION: "Thời gian giải quyết",
    PLACE: "Nơi nộp hồ sơ",
    STEPS: "Các bước thực hiện",
    CONDITIONS: "Điều kiện",
    LEGAL_BASIS: "Căn cứ pháp lý",
    RESULT: "Kết quả nhận được",
    FORM: "Mẫu đơn, tờ khai",
}

# Short button titles.
BUTTON_TITLES: dict[str, str] = {
    DOCUMENTS: "Giấy tờ cần nộp",
    FEE: "Lệ phí",
    DURATION: "Thời gian",
    PLACE: "Nơi nộp",
    STEPS: "Các bước",
    CONDITIONS: "Điều kiện",
    LEGAL_BASIS: "Căn cứ pháp lý",
    RESULT: "Kết quả",
    FORM: "Mẫu đơn",
}

# Citizen phrases per aspect. The longest phrase starting at a word wins, so "khi nào có kết quả"
# (duration) beats "kết quả" (result) and "nộp hồ sơ ở đâu" (place) beats "hồ sơ" (documents).
# Left out on purpose because they collide with procedure names when typed without diacritics or
# are part of names: "giá" (gia hạn), bare "trực tuyến" (Đăng ký xe … trực tuyến), bare "mẫu" (mau),
# "tiền" (tiền sử dụng đất), "địa chỉ" (đổi địa chỉ), "bản sao" (cấp bản sao trích lục), "yêu cầu".
# NEUTRAL phrases are cut from the query but ask nothing: "nộp hồ sơ đăng ký thường trú ở đâu" asks
# the place, not the documents.
PHRASES: dict[str, tuple[str, ...]] = {
    DOCUMENTS: (
        "giấy tờ", "giấy tờ gì", "giấy gì", "cần giấy tờ", "cần giấy tờ gì", "hồ sơ", "hồ sơ gồm",
        "hồ sơ cần", "thành phần hồ sơ", "bộ hồ sơ", "chuẩn bị gì", "chuẩn bị những gì", "cần chuẩn bị",
        "mang theo", "mang gì", "cần mang", "cần những gì", "cần gì", "giấy tờ cần nộp",
    ),
    FEE: (
        "lệ phí", "phí", "chi phí", "mức phí", "mức thu", "bao nhiêu tiền", "mất tiền", "tốn tiền",
        "hết bao nhiêu", "hết bao nhiêu tiền", "tốn bao nhiêu", "tốn bao nhiêu tiền", "mất bao nhiêu tiền",
        "miễn phí", "đóng tiền", "nộp tiền", "có mất phí", "mất phí", "tốn phí",
    ),
    DURATION: (
        "bao lâu", "mất bao lâu", "trong bao lâu", "thời gian", "thời hạn", "thời gian giải quyết",
        "mấy ngày", "bao nhiêu ngày", "bao giờ có", "khi nào có", "khi nào xong", "bao giờ xong",
        "bao giờ nhận", "khi nào nhận", "lâu không", "có lâu không", "nhanh không", "bao giờ có kết quả",
        "khi nào có kết quả", "mấy hôm", "bao nhiêu hôm",
    ),
    PLACE: (
        "ở đâu", "nộp ở đâu", "làm ở đâu", "nộp hồ sơ ở đâu", "chỗ nào", "nơi nào", "nơi nộp",
        "địa chỉ nộp", "địa chỉ ở đâu", "cơ quan nào", "đến đâu", "ra đâu", "nộp online", "làm online",
        "online được không", "nộp trực tuyến", "làm trực tuyến", "qua mạng", "bưu điện", "bưu chính",
        "nộp qua", "cách nộp", "hình thức nộp", "ai giải quyết", "cơ quan giải quyết", "nơi giải quyết",
        "nơi tiếp nhận",
    ),
    STEPS: (
        "các bước", "mấy bước", "những bước", "trình tự", "quy trình", "cách làm", "làm thế nào",
        "làm như thế nào", "làm sao", "thủ tục thế nào", "thực hiện thế nào", "thực hiện như thế nào",
        "hướng dẫn", "tiến hành",
    ),
    CONDITIONS: (
        "điều kiện", "đủ điều kiện", "điều kiện gì", "yêu cầu gì", "đối tượng nào", "ai được",
        "ai được làm",
    ),
    LEGAL_BASIS: (
        "căn cứ", "căn cứ pháp lý", "cơ sở pháp lý", "văn bản nào", "văn bản pháp luật", "luật nào",
        "quy định nào", "nghị định nào", "thông tư nào", "theo luật", "văn bản quy định",
    ),
    RESULT: (
        "kết quả", "kết quả là gì", "nhận được gì", "được cấp gì", "nhận gì", "trả kết quả", "được nhận gì",
    ),
    FORM: (
        "mẫu đơn", "tờ khai", "mẫu tờ khai", "biểu mẫu", "mẫu số", "mẫu nào", "đơn mẫu", "tải mẫu",
    ),
}

NEUTRAL: tuple[str, ...] = ("nộp hồ sơ", "làm hồ sơ", "hồ sơ của", "làm thủ tục")

# Words that carry no procedure: conversation around a follow-up question ("thế còn … thì sao bạn?").
# Only used to decide whether a message names a procedure, never to shorten the search query.
FOLLOW_UP_WORDS: tuple[str, ...] = (
    "còn", "thế còn", "vậy còn", "còn về", "thế", "thì", "sao", "thì sao", "vậy", "nữa", "bạn", "ad",
    "admin", "shop", "nhỉ", "nha", "nhé", "luôn", "đó", "này", "kia", "ấy", "thủ tục đó", "thủ tục này",
    "thủ tục", "cái đó", "cái này", "như vậy", "cụ thể", "chi tiết", "xem", "thêm", "hỏi thêm", "bao nhiêu",
    "mất", "hết", "tốn", "nộp", "làm", "cần", "phải", "gì", "những", "cho", "ở", "đâu", "nào", "mình",
    "ạ", "dạ", "vâng", "ok", "ừ", "thế nào", "ra sao", "cách", "được", "không", "có", "là", "em", "anh",
    "chị", "tôi", "mấy", "bao", "lâu", "ơi", "với", "nhiêu", "đi", "chứ", "hả", "à", "thôi", "luôn ạ",
    "như thế nào", "bây giờ", "giờ", "thì sao ạ", "vậy ạ", "sao ạ", "ạ ơi",
)

# A contrastive follow-up asks the previous aspect again: "còn tạm trú thì sao?". Openers count only at
# the start ("con" typed without diacritics is also "child"); closers anywhere.
CONTRAST_OPENERS: tuple[str, ...] = ("còn", "thế còn", "vậy còn", "còn về", "thế thì", "vậy thì")
CONTRAST_CLOSERS: tuple[str, ...] = ("thì sao", "thế thì sao", "thì thế nào", "thì như thế nào")


@lru_cache(maxsize=1)
def _aspect_matcher() -> vn.PhraseMatcher:
    phrases = {phrase: aspect for aspect, items in PHRASES.items() for phrase in items}
    phrases.update(dict.fromkeys(NEUTRAL, ""))
    return vn.PhraseMatcher(phrases)


@lru_cache(maxsize=1)
def _follow_up_matcher() -> vn.PhraseMatcher:
    return vn.PhraseMatcher(dict.fromkeys(FOLLOW_UP_WORDS, "follow-up"))


@lru_cache(maxsize=1)
def _contrast_matcher() -> vn.PhraseMatcher:
    phrases = {**dict.fromkeys(CONTRAST_OPENERS, "opener"), **dict.fromkeys(CONTRAST_CLOSERS, "closer")}
    return vn.PhraseMatcher(phrases)


def _words(text: str) -> list[str]:
    """Normalised words with chat abbreviations expanded ("gt" → "giấy tờ", "bn" → "bao nhiêu")."""
    return vn.syllables(vn.expand_abbreviations(text))


def _scan(words: list[str], matcher: vn.PhraseMatcher) -> tuple[list[str], list[str]]:
    """(values of the phrases found, in order; words not covered by a phrase)."""
    found: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(words):
        hit = matcher.match_at(words, i)
        if hit:
            found.append(hit[1])
            i += hit[0]
        else:
            rest.append(words[i])
            i += 1
    return found, rest


def normalize_aspect(value: object) -> str | None:
    """An aspect entity value as Rasa extracted it, or None when it is not one of ours."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if value in ASPECTS else None


def detect_aspects(text: str) -> list[str]:
    """Aspects asked in ``text``, in the order they appear, without repeats."""
    found, _ = _scan(_words(text), _aspect_matcher())
    return [aspect for aspect in dict.fromkeys(found) if aspect]


def without_aspect_phrases(text: str) -> str:
    """``text`` (normalised, abbreviations expanded) with the aspect phrases cut out: the search query."""
    _, rest = _scan(_words(text), _aspect_matcher())
    return " ".join(rest)


def procedure_words(text: str) -> list[str]:
    """Words of ``text`` that could name a procedure: aspect phrases, question filler and follow-up
    words removed. Empty for "còn lệ phí thì sao ạ?" or "nộp ở đâu?"."""
    _, rest = _scan(_words(text), _aspect_matcher())
    content = vn.syllables(vn.strip_fillers(" ".join(rest))) if rest else []
    _, left = _scan(content, _follow_up_matcher())
    return left


def is_contrastive(text: str) -> bool:
    """ "còn … thì sao?": the citizen asks the same question about something else."""
    words = _words(text)
    matcher = _contrast_matcher()
    if words and matcher.match_at(words, 0):
        return True
    found, _ = _scan(words, matcher)
    return "closer" in found
