"""Field parsers for records crawled from the national portal (dichvucong.gov.vn).

The crawler flattened the portal's tables into text without separators
("Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp5 Ngày làm việcMiễn phí..."). Each function here
recovers one field's structure and is pure: text in, model objects out. The structured parsers
return ``(value, problems)`` where ``problems`` names what could not be recovered (empty = clean).
"""

from __future__ import annotations

import re

from knowledge_base.model import Case, Channel, ChannelKind, Document, Fee, LegalBasis, ProcessingTime
from knowledge_base.text import nfc

NO_INFO = "Không có thông tin"

# --- cleaning -----------------------------------------------------------------------------------

# Page UI text the crawler captured after the last field ("Từ khóa…Mô tả…Chọn cơ quan thực hiện…").
_UI_TAIL_RE = re.compile(
    r"(?:(?<=\S)Từ khóa|^Từ khóa|Chọn cơ quan thực hiện|Hệ thống chỉ hiển thị những cơ quan"
    r"|-- Chọn (?:Bộ ngành|Tỉnh/ Thành phố|Phường/ Xã|Cơ sở) --).*\Z",
    re.S,
)
_SPACES_RE = re.compile(r"[ \t\u00a0]+")


def cut_ui_tail(text: str) -> str:
    """Drop the portal's page furniture that the crawler glued after a field."""
    return _UI_TAIL_RE.sub("", text)


def clean(value: object) -> str:
    """NFC, no UI tail, trimmed; ``"Không có thông tin"`` (no information) becomes ``""``."""
    if value is None:
        return ""
    text = cut_ui_tail(nfc(str(value))).strip()
    return "" if text.strip(" .:-") in ("", NO_INFO) else text


def one_line(value: object) -> str:
    """``clean`` with all whitespace runs collapsed to one space."""
    return " ".join(clean(value).split())


def _is_empty(text: str) -> bool:
    return text.strip(" .:-;,") in ("", NO_INFO)


# --- lists ---------------------------------------------------------------------------------------


def _split_outside_parens(text: str, separators: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        if ch in separators and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def split_names(value: object) -> list[str]:
    """Agencies or subjects: one per line, or comma-separated where the next item starts upper case.

    "Công dân Việt Nam, Cán bộ, công chức, viên chức" → ["Công dân Việt Nam", "Cán bộ, công chức,
    viên chức"]; a comma inside parentheses never splits.
    """
    text = clean(value)
    names: list[str] = []
    for line in text.splitlines():
        merged: list[str] = []
        for piece in _split_outside_parens(line, ",;"):
            item = piece.strip()
            if not item:
                continue
            if merged and not item[0].isupper() and not item[0].isdigit():
                merged[-1] = f"{merged[-1]}, {item}"
            else:
                merged.append(item)
        names.extend(" ".join(name.strip(" -+*•").split()) for name in merged)
    return _unique(name for name in names if not _is_empty(name))


def parse_levels(value: object) -> list[str]:
    """Cấp thực hiện: "Cấp bộ, Cấp tỉnh" → ["Cấp bộ", "Cấp tỉnh"]."""
    return _unique(" ".join(p.split()) for p in re.split(r"[,;\n]", clean(value)) if not _is_empty(p))


def _unique(items: object) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:  # type: ignore[attr-defined]
        if item:
            seen.setdefault(item, None)
    return list(seen)


# --- steps and conditions --------------------------------------------------------------------------

_BULLET_RE = re.compile(r"^(?:[-+*•–]|\d+[.)]|[a-zđ][)]|Bước\s*\d+)")
_STEP_RE = re.compile(r"(?:(?<=\n)|^)[ \t]*[-+*•]?[ \t]*Bước[ \t]*(\d+)[ \t]*[:.\-–)]?[ \t]*", re.I)
_STEP_INLINE_RE = re.compile(r"Bước[ \t]*(\d+)[ \t]*[:.\-–)][ \t]*")


def _join_wrapped(lines: list[str]) -> list[str]:
    """Re-join lines that were hard-wrapped mid-sentence (a line starting lower case continues)."""
    out: list[str] = []
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        if out and line[0].islower() and not _BULLET_RE.match(line):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def parse_steps(value: object) -> list[str]:
    """Trình tự thực hiện: one item per "Bước N" (label removed), else one per line."""
    text = clean(value)
    if not text:
        return []
    matches = list(_STEP_RE.finditer(text))
    if len(matches) < 2:
        matches = list(_STEP_INLINE_RE.finditer(text))
    if len(matches) >= 2 or (matches and matches[0].start() == 0):
        pieces = [text[: matches[0].start()]]
        pieces += [text[m.end() : n.start()] for m, n in zip(matches, [*matches[1:], None], strict=False)
                   if n is not None]
        pieces.append(text[matches[-1].end() :])
        steps = ["\n".join(_join_wrapped(piece.splitlines())) for piece in pieces]
        return [step.strip(" -+*•") for step in steps if not _is_empty(step)]
    return [line.strip(" -+*•") for line in _join_wrapped(text.splitlines()) if not _is_empty(line)]


def parse_conditions(value: object) -> list[str]:
    """Yêu cầu, điều kiện: one item per bullet or line."""
    lines = _join_wrapped(clean(value).splitlines())
    return [line.strip(" -+*•") for line in lines if not _is_empty(line.strip(" -+*•"))]


# --- results -------------------------------------------------------------------------------------

_RESULT_CODE_RE = re.compile(r"Mã\s*:\s*(?:KQ(?:\.[A-Z]*\d+)+|[A-Za-z0-9.\-]+\s*\Z)")


def parse_results(value: object) -> list[str]:
    """Kết quả thực hiện: names before each "Mã: KQ.G01.00262" marker; UI tail dropped."""
    text = clean(value)
    if not text:
        return []
    if _RESULT_CODE_RE.search(text):
        pieces = _RESULT_CODE_RE.split(text)
        if pieces and (_is_empty(pieces[-1]) or pieces[-1].startswith("Mô tả")):
            pieces = pieces[:-1]
    else:
        pieces = text.splitlines()
    pieces = [re.sub(r"Mô tả(?:Không có thông tin)?\s*\Z", "", p) for p in pieces]
    return _unique(" ".join(p.split()).strip(" -+*•;") for p in pieces if not _is_empty(p))


# --- channels: cách thức thực hiện -----------------------------------------------------------------

CHANNEL_HEADER = "Hình thức nộpThời gianPhí, lệ phíMô tả"
_CHANNEL_KINDS = {
    "Trực tiếp": ChannelKind.DIRECT,
    "Trực tuyến": ChannelKind.ONLINE,
    "Dịch vụ bưu chính": ChannelKind.POSTAL,
}
_ROW_RE = re.compile(r"(Trực tiếp|Trực tuyến|Dịch vụ bưu chính)(?=[^\s:,.;)(])")
_UNIT_RE = (
    r"(?:[Nn]gày làm việc|[Nn]gày|[Gg]iờ làm việc|[Gg]iờ|[Tt]háng|[Nn]ăm|[Tt]uần|[Pp]hút|[Qq]uý)"
)
_TIME_RE = re.compile(rf"(?P<value>\d+(?:[.,]\d+)?)\s*(?P<unit>{_UNIT_RE})")
_CURRENCY_RE = r"(?:Việt Nam Đồng|VNĐ|VND|USD|EUR|Đồng|đồng)"
_FEE_HEAD_RE = re.compile(
    rf"(?P<free>Miễn phí)|(?P<noinfo>{NO_INFO})|(?P<amount>\d[\d.,]*)\s*(?P<currency>{_CURRENCY_RE})"
)
_GLUED_AMOUNT_RE = re.compile(rf"(?P<digits>\d[\d.,]*)\s*(?P<currency>{_CURRENCY_RE})")
_LABELLED_FEE_SPLIT_RE = re.compile(r"\s{2,}(?=(?:Lệ phí|Phí)\s*:)")
_LABELLED_AMOUNT_RE = re.compile(r"(?:Lệ phí|Phí)?\s*:?\s*(\d[\d.,]*)")
_MAX_TIME_TEXT = 160


def _to_int(amount: str) -> int | None:
    digits = re.sub(r"[.,\s]", "", amount)
    return int(digits) if digits.isdigit() else None


def _to_float(value: str) -> float:
    return float(value.replace(",", "."))


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def _balanced_paren(text: str, start: int) -> int:
    """Index just after the parenthesis group opening at ``start`` (or the end if unbalanced)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _split_glued_amount(digits: str) -> tuple[str, str]:
    """``"1100"`` (time 1 glued to fee 100) → ``("1", "100")``; grouped ``"12,500,000"`` kept whole."""
    if re.search(r"[.,]\d{3}\Z", digits):
        for cut in (2, 1):  # the longest time prefix that leaves a well-formed amount
            if re.fullmatch(rf"\d{{{cut}}}[1-9]\d{{0,2}}(?:[.,]\d{{3}})+", digits):
                return digits[:cut], digits[cut:]
        return "", digits
    if len(digits) >= 2:
        return digits[0], digits[1:]
    return "", digits


def _head(body: str) -> tuple[ProcessingTime | None, re.Match[str] | str | None, int, str]:
    """Parse "<time><fee head>" at the start of a row body.

    Returns (time, fee head match or glued amount, offset after the head, time problem or "").
    """
    time: ProcessingTime | None = None
    offset = 0
    m = _TIME_RE.match(body)
    if m:
        time = ProcessingTime(
            value=_to_float(m.group("value")), unit=m.group("unit").lower(), text=" ".join(m.group(0).split())
        )
        offset = m.end()
    elif body.startswith(NO_INFO) and _FEE_HEAD_RE.match(body, len(NO_INFO)):
        offset = len(NO_INFO)
        time = ProcessingTime(text="")
    else:
        glued = _GLUED_AMOUNT_RE.match(body)
        if glued and not re.match(r"\d+(?:Miễn phí|Không có thông tin)", body):
            value, amount = _split_glued_amount(glued.group("digits"))
            if value:
                time = ProcessingTime(value=_to_float(value), text=value)
            return time, f"{amount} {glued.group('currency')}", glued.end(), "" if value else "time"
        digits = re.match(r"\d+(?:[.,]\d+)?", body)
        if digits:
            time = ProcessingTime(value=_to_float(digits.group(0)), text=digits.group(0))
            offset = digits.end()
        else:
            fee = _FEE_HEAD_RE.search(body, 0, _MAX_TIME_TEXT)
            if fee and fee.start() > 0 and not re.search(r"\d", body[: fee.start()]):
                time = ProcessingTime(text=body[: fee.start()].strip())
                offset = fee.start()
    fee_match = _FEE_HEAD_RE.match(body, offset)
    problem = "" if time is not None else "time"
    return time, fee_match, (fee_match.end() if fee_match else offset), problem


def _fee_from_head(head: re.Match[str] | str, note: str) -> list[Fee]:
    """Fees for one channel from the fee cell and its parenthesised note."""
    if isinstance(head, str):
        amount_text, currency = head.split(" ", 1)
        free = noinfo = False
    else:
        free, noinfo = bool(head.group("free")), bool(head.group("noinfo"))
        amount_text, currency = head.group("amount") or "", head.group("currency") or ""
    items = [" ".join(i.split()) for i in _LABELLED_FEE_SPLIT_RE.split(note)] if note else []
    if noinfo:
        return [Fee(description=" ".join(note.split()))] if note else []
    if free:
        head_fee = Fee(amount=0, description=f"Miễn phí ({items[0]})" if items else "Miễn phí")
    else:
        amount = _to_int(amount_text)
        cur = "USD" if currency == "USD" else "EUR" if currency == "EUR" else "VND"
        thousands = amount is not None and 0 < amount < 1000 and any(_vnd(amount * 1000) in i for i in items)
        if thousands and amount is not None and cur == "VND":
            amount *= 1000  # the portal sometimes states thousands ("40 VNĐ (40.000đ/giấy)")
        label = f"{_vnd(amount)} đồng" if amount is not None and cur == "VND" else f"{amount_text} {cur}"
        head_fee = Fee(amount=amount, currency=cur, description=f"{label} ({items[0]})" if items else label)
    fees = [head_fee]
    for item in items[1:]:
        m = _LABELLED_AMOUNT_RE.match(item)
        fees.append(Fee(amount=_to_int(m.group(1)) if m else None, description=item))
    return fees


def parse_channels(value: object) -> tuple[list[Channel], list[str]]:
    """Cách thức thực hiện → channels with processing times and fees.

    Problems: "rows" (no row found or text before the first row), "time" (a channel without a
    processing time), "fee" (a channel whose fee cell was not recognised).
    """
    text = clean(value)
    if not text:
        return [], []
    problems: set[str] = set()
    body = text[len(CHANNEL_HEADER) :] if text.startswith(CHANNEL_HEADER) else text
    starts = [m for m in _ROW_RE.finditer(body) if _is_row_start(body, m)]
    if not starts:
        return [], ["rows"]
    if body[: starts[0].start()].strip():
        problems.add("rows")
    channels: list[Channel] = []
    for m, nxt in zip(starts, [*starts[1:], None], strict=False):
        row = body[m.end() : nxt.start() if nxt else len(body)]
        time, fee_head, offset, time_problem = _head(row)
        if time_problem:
            problems.add(time_problem)
        note = ""
        has_fee = fee_head is not None and not (isinstance(fee_head, re.Match) and fee_head.group("noinfo"))
        if offset < len(row) and row[offset] == "(" and has_fee:
            end = _balanced_paren(row, offset)
            note = row[offset + 1 : end - 1 if row[end - 1 : end] == ")" else end].strip()
            offset = end
        if fee_head is None:
            problems.add("fee")
            fees: list[Fee] = []
        else:
            fees = _fee_from_head(fee_head, note)
        description = "\n".join(_join_wrapped(row[offset:].splitlines()))
        label = m.group(1)
        channels.append(
            Channel(
                kind=_CHANNEL_KINDS[label],
                name=label,
                times=[time] if time is not None and (time.value is not None or time.text) else [],
                fees=fees,
                description="" if _is_empty(description) else description.strip(),
            )
        )
    return channels, sorted(problems)


def _is_row_start(body: str, m: re.Match[str]) -> bool:
    if m.start() == 0:
        return True
    rest = body[m.end() : m.end() + _MAX_TIME_TEXT]
    if rest[:1].isdigit() or rest.startswith((NO_INFO, "Miễn phí")):
        return True
    fee = _FEE_HEAD_RE.search(rest)
    return bool(fee and fee.start() > 0 and rest[0].isupper() and not re.search(r"\d", rest[: fee.start()]))


# --- documents: thành phần hồ sơ -----------------------------------------------------------------

DOCUMENT_HEADER = "Tên giấy tờMẫu đơn, tờ khaiSố lượng"
_COUNT_RE = re.compile(
    r"(?:(?P<n1>\d+)\s*bản\s*(?P<k1>chính|sao|chụp)(?:\s*[,;]\s*(?P<n2>\d+)\s*bản\s*(?P<k2>chính|sao|chụp))?"
    r"|[Bb]ản chính\s*:\s*(?P<o>\d+)\s*[,;]?\s*[Bb]ản sao\s*:\s*(?P<c>\d+))"
    r"(?=[^\s)\];,.:]|\Z|\.(?=[^\s\d]))"
)
_FORM_EXT_RE = re.compile(r"\.(?:docx?|xlsx?|pdf|rtf|odt|ods|zip|rar|png|jpe?g)\s*\Z", re.I)
_FORM_WORD_RE = re.compile(
    r"(?<=[^\s(])(?:mẫu|mau|Mẫu|Mau|Mu|Mus|Phụ lục|Phu luc|Phụ Lục|PHỤ LỤC|PL|Tờ khai|To khai|TK|Đơn|Don|BM"
    r"|Biểu mẫu|Bieu mau|Phiếu|Phieu|Form|Giấy|Danh sách|Báo cáo|Bản khai|Văn bản|Van ban|Tờ trình)"
)


# A glued boundary before a template name: ".Mẫu", ";Mus08", ".31-Mẫu", ")Mẫu" (not ").doc", ")-2014").
_FORM_BOUNDARY_RE = re.compile(r"[.;:](?=[^\s.;:\d])|[.;:](?=\d[^/\s]*[^\d\s/])|\)(?=[^\s\-.,;:()])")
_CAMEL_RE = re.compile(r"(?<=[a-zà-ỹđ])(?=[A-ZĐ])|(?<=[A-ZĐ])(?=[A-ZĐ][a-zà-ỹđ])")


def _count_value(digits: str) -> tuple[int, str]:
    """A count glued to the name: "Mẫu số 181 bản chính" → (1, "18"). Returns (count, spill-over)."""
    if len(digits) >= 3 or (len(digits) == 2 and not digits.startswith("0")):
        return int(digits[-1]), digits[:-1]
    return int(digits), ""


def split_form(text: str) -> tuple[str, str | None]:
    """Split a template file name glued after the document name ("…NĐ-CPMẫu số 01.docx")."""
    text = text.strip()
    if not _FORM_EXT_RE.search(text):
        return text, None
    window_start = max(0, len(text) - 160)
    candidates: list[int] = []
    punct = [
        m.end()
        for m in _FORM_BOUNDARY_RE.finditer(text)
        if m.end() >= window_start and not _FORM_EXT_RE.match(text[m.end() - 1 :])
    ]
    if punct:
        candidates.append(punct[0])
    words = [m.start() for m in _FORM_WORD_RE.finditer(text) if m.start() >= window_start]
    if words:
        candidates.append(words[0])
    if not candidates:
        camel = [m.start() for m in _CAMEL_RE.finditer(text) if m.start() >= window_start]
        if not camel:
            return text, None
        candidates.append(camel[-1])
    start = min(candidates)
    numbered = re.search(r"(?<=[^\s\d])\d+[-.]\Z", text[:start])  # "…(mẫu UQ)73-Mẫu AH2.doc"
    if numbered:
        start = numbered.start()
    name, form = text[:start].strip(" ;,"), text[start:].strip()
    if not name:
        return text, None
    return name, form


def _document(text: str, originals: int | None, copies: int | None) -> Document | None:
    name, form = split_form(" ".join(text.split()))
    name = name.strip(" -+*•;,.")
    if _is_empty(name):
        return None
    return Document(name=name, originals=originals, copies=copies, form=form)


def _documents(section: str) -> tuple[list[Document], str, bool]:
    """Documents in one case section; returns (documents, trailing text, clean)."""
    docs: list[Document] = []
    position = 0
    for m in _COUNT_RE.finditer(section):
        name_text = section[position : m.start()]
        originals = copies = None
        if m.group("o") is not None:
            originals, copies = int(m.group("o")), int(m.group("c"))
        else:
            first, spill = _count_value(m.group("n1"))
            name_text += spill
            for n, kind in ((first, m.group("k1")), (m.group("n2"), m.group("k2"))):
                if kind is None:
                    continue
                if kind == "chính":
                    originals = int(n)
                else:
                    copies = int(n)
            if originals is None and copies is not None:
                originals = 0
        doc = _document(name_text, originals, copies)
        if doc is not None:
            docs.append(doc)
        position = m.end()
    return docs, section[position:], True


def parse_cases(value: object) -> tuple[list[Case], list[str]]:
    """Thành phần hồ sơ → cases with their documents (one unnamed case when there are no cases).

    Problems: "rows" (no document found), "counts" (trailing document without a count).
    """
    text = clean(value)
    if not text:
        return [], []
    problems: set[str] = set()
    parts = text.split(DOCUMENT_HEADER)
    if len(parts) == 1:
        parts = ["", text]
    case_name = parts[0]
    cases: list[Case] = []
    for i, section in enumerate(parts[1:], start=1):
        docs, tail, _ = _documents(section)
        last = i == len(parts) - 1
        if last and not _is_empty(tail):
            doc = _document(tail, None, None)
            if doc is not None:
                docs.append(doc)
                problems.add("counts")
        name = " ".join(case_name.split()).strip(" -+*•:")
        if docs or name:
            cases.append(Case(name=name, documents=docs))
        case_name = "" if last else tail
    if not any(case.documents for case in cases):
        problems.add("rows")
    return _merge_cases(cases), sorted(problems)


def _merge_cases(cases: list[Case]) -> list[Case]:
    """Unnamed sections that follow each other are one case."""
    merged: list[Case] = []
    for case in cases:
        if merged and not case.name and not merged[-1].name:
            merged[-1] = Case(name="", documents=[*merged[-1].documents, *case.documents])
        else:
            merged.append(case)
    return merged


# --- legal basis: căn cứ pháp lý -------------------------------------------------------------------

LEGAL_HEADER = "Tên văn bản pháp lýMã văn bản"
_SEGMENT = r"(?:[A-ZĐ]*QH\d{1,2}|TTg|[A-ZĐ]+)"
_NUMBER_RE = re.compile(
    rf"\d+(?:/\d{{4}})?/{_SEGMENT}(?:[-/]{_SEGMENT})*|\d+/(?:19|20)\d\d(?=[^\d/]|\Z)|\d+-CP(?=[^\d/]|\Z)"
)
_DOC_TYPE_TAIL_RE = re.compile(
    r"(?<=[^\s(])(?:Luật|Nghị định|Thông tư liên tịch|Thông tư|Quyết định|Nghị quyết|Pháp lệnh|Văn bản"
    r"|Công văn|NĐ|TT|QĐ)\s*(?:số\s*)?\Z"
)


def _number_end(text: str, m: re.Match[str]) -> int:
    """End of a number, giving back a capital that starts the next name ("NĐ-CPNghị" → "NĐ-CP")."""
    end = m.end()
    while end < len(text) and text[end].islower() and end - 1 > m.start() and text[end - 1].isupper():
        if text[end - 2] in "-/":
            break
        end -= 1
    return end


def parse_legal_basis(value: object) -> tuple[list[LegalBasis], list[str]]:
    """Căn cứ pháp lý → [(name, number)] from "Luật Cư trú68/2020/QH14Thông tư…53/2025/TT-BCA".

    An entry ends with its number glued to the next name (or the end of the text); a number
    followed by a space or a digit is part of a name. Problems: "number" (an entry without one).
    """
    text = clean(value)
    if not text:
        return [], []
    body = text[len(LEGAL_HEADER) :] if text.startswith(LEGAL_HEADER) else text
    body = " ".join(body.split())
    entries: list[LegalBasis] = []
    problems: set[str] = set()
    position = 0
    for m in _NUMBER_RE.finditer(body):
        end = _number_end(body, m)
        following = body[end : end + 1]
        if following and not following.isalpha():
            continue
        start = m.start()
        if start > 0 and body[start - 1] == "/" and end - start > 4:
            year = re.match(r"(?:19|20)\d\d(?=\d)", body[start:end])
            if year:
                start += 4  # "ngày 29/6/202443/2024/QH15": the date's year is glued to the number
        number = body[start:end]
        name = body[position:start].strip(" ;,.-")
        name = _DOC_TYPE_TAIL_RE.sub("", name).strip(" ;,.-") if _DOC_TYPE_TAIL_RE.search(name) else name
        position = end
        if not name:
            if entries and entries[-1].number is not None:
                continue  # a repeated number
            name = number
        entries.append(LegalBasis(name=name, number=number))
    tail = body[position:].strip(" ;,.-")
    if tail:
        entries.append(LegalBasis(name=tail, number=None))
        problems.add("number")
    return entries, sorted(problems)


# --- identity ------------------------------------------------------------------------------------

CODE_RE = re.compile(r"\d{1,2}\.\d{6}")
_RAW_CODE_RE = re.compile(r"Mã thủ tục\s*(\S+?)\s*Số quyết định")


def code_in_raw_text(raw_text: str) -> str | None:
    """The "Mã thủ tục" printed in the page text, when the crawler kept it."""
    m = _RAW_CODE_RE.search(nfc(raw_text or ""))
    return m.group(1) if m else None
