"""Chat-sized Vietnamese answers about a procedure: what the citizen reads.

Every answer names the procedure and its code and ends with the portal link; messages stay under
``MAX_MESSAGE_CHARS`` (split on line boundaries, long lists trimmed with "…và N giấy tờ khác");
lists are short "• " lines; amounts read "20.000 đồng". No raw field dumps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from actions import aspects as asp
from knowledge_base import text as vn
from knowledge_base.model import CHANNEL_LABELS, Case, Channel, Document, Fee, Procedure, ProcessingTime

MAX_MESSAGE_CHARS = 2000
MAX_MESSAGES = 3
BULLET = "• "
ITEM_CHARS = 220  # one bullet line
CASE_NAME_CHARS = 150
MAX_CASES = 4
MAX_DOCS_PER_CASE = 6
MAX_ITEMS = 8
NOTE_CHARS = 160  # a fee or channel note longer than this is left to the portal page

_SPACES = re.compile(r"\s+")


# --- small pieces -------------------------------------------------------------------------------
def money(amount: int) -> str:
    """20000 → "20.000 đồng"."""
    return f"{amount:,}".replace(",", ".") + " đồng"


def number(value: float) -> str:
    """7.0 → "7", 0.5 → "0,5"."""
    return f"{value:g}".replace(".", ",")


def clean(text: str) -> str:
    """NFC, one line, no leading list dash."""
    text = _SPACES.sub(" ", vn.nfc(text)).strip()
    return text.lstrip("-–• ").strip()


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and end with "…" when longer than ``limit``."""
    text = clean(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.(")
    return cut + "…"


def bullets(items: Iterable[str], *, limit: int = MAX_ITEMS, noun: str = "mục",
            chars: int = ITEM_CHARS) -> list[str]:
    """ "• " lines, at most ``limit`` of them, then "…và N <noun> khác"."""
    lines = [clean(i) for i in items if clean(i)]
    shown = [BULLET + shorten(i, chars) for i in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"…và {len(lines) - limit} {noun} khác")
    return shown


def title(procedure: Procedure) -> str:
    return f"«{procedure.name}» (mã {procedure.code})"


def link_line(procedure: Procedure) -> str:
    if procedure.url:
        return f"Chi tiết trên Cổng Dịch vụ công: {procedure.url}"
    return f"Anh/chị tra mã {procedure.code} trên Cổng Dịch vụ công quốc gia (dichvucong.gov.vn) ạ."


def pack(lines: Sequence[str], *, continuation: str) -> list[str]:
    """Lines into messages of at most MAX_MESSAGE_CHARS; the last line (the link) always survives."""
    if not lines:
        return []
    *body, last = lines
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in body:
        extra = len(line) + (1 if current else 0)
        if current and size + extra > MAX_MESSAGE_CHARS:
            messages.append("\n".join(current))
            current, size = [continuation], len(continuation)
            extra = len(line) + 1
        current.append(line)
        size += extra
    if current and size + len(last) + 1 <= MAX_MESSAGE_CHARS:
        current.append(last)
        messages.append("\n".join(current))
    else:
        if current:
            messages.append("\n".join(current))
        messages.append(last)
    if len(messages) > MAX_MESSAGES:
        kept = messages[: MAX_MESSAGES - 1]
        kept.append("…(còn nữa, anh/chị xem đầy đủ theo đường link)\n" + last)
        messages = kept
    return [m[:MAX_MESSAGE_CHARS] for m in messages]


# --- channels, time and fees ----------------------------------------------------------------------
def channel_label(channel: Channel) -> str:
    return clean(channel.name) or CHANNEL_LABELS.get(channel.kind, "Khác")


def time_text(times: Sequence[ProcessingTime]) -> str:
    parts: list[str] = []
    for t in times:
        if t.text and len(clean(t.text)) <= NOTE_CHARS:
            parts.append(clean(t.text))
        elif t.value is not None and t.unit:
            parts.append(f"{number(t.value)} {t.unit}")
        elif t.text:
            parts.append(shorten(t.text, NOTE_CHARS))
    return "; ".join(dict.fromkeys(parts))


def fee_text(fees: Sequence[Fee], *, notes: bool = True) -> str:
    """ "20.000 đồng", "Miễn phí", or the published wording when no amount is stated."""
    parts: list[str] = []
    for fee in fees:
        note = _fee_note(fee) if notes else ""
        if fee.amount is None:
            parts.append(shorten(fee.description, NOTE_CHARS) if fee.description else "")
        elif fee.amount == 0:
            parts.append("Miễn phí" + (f" ({note})" if note else ""))
        else:
            parts.append(money(fee.amount) + (f" ({note})" if note else ""))
    return "; ".join(p for p in dict.fromkeys(parts) if p)


def _fee_note(fee: Fee) -> str:
    """The short explanation after the amount ("… — Trường hợp nộp trực tuyến thu 10.000 đồng/lần")."""
    description = clean(fee.description)
    if " — " in description:
        description = description.split(" — ", 1)[1]
    elif fee.amount == 0 and description.lower().startswith("miễn phí"):
        description = description[len("miễn phí"):].strip(" ()")
    elif fee.amount and money(fee.amount) in description and len(description) < 40:
        return ""
    description = clean(description)
    if not description or len(description) > NOTE_CHARS:
        return ""
    return description


def _per_channel(procedure: Procedure, render: str, *, short: bool = False) -> list[str]:
    """One line per channel ("Trực tiếp: 20.000 đồng"), or one line when every channel says the same.
    ``short``: amounts only, channel after the value ("20.000 đồng (trực tiếp)")."""
    rows: list[tuple[str, str]] = []
    for channel in procedure.channels:
        value = time_text(channel.times) if render == "time" else fee_text(channel.fees, notes=not short)
        if value:
            rows.append((channel_label(channel), value))
    if not rows:
        return []
    if len({v for _, v in rows}) == 1:
        return [rows[0][1]]
    if short:
        return [f"{value} ({label.lower()})" for label, value in rows]
    return [f"{label}: {value}" for label, value in rows]


# --- one renderer per aspect --------------------------------------------------------------------
def documents_lines(procedure: Procedure, hint: str = "") -> list[str]:
    cases = [c for c in procedure.cases if c.documents]
    if not cases:
        return ["Danh mục chưa ghi thành phần hồ sơ của thủ tục này, anh/chị xem trên trang thủ tục ạ."]
    if len(cases) == 1:
        return _document_bullets(cases[0].documents)
    ordered = _cases_by_hint(cases, hint, ignore=procedure.name)
    lines = [f"Tùy trường hợp, hồ sơ gồm ({len(cases)} trường hợp):"]
    for case in ordered[:MAX_CASES]:
        lines.append(f"▸ {shorten(case.name or 'Trường hợp chung', CASE_NAME_CHARS)}")
        lines.extend(_document_bullets(case.documents))
    if len(ordered) > MAX_CASES:
        lines.append(f"…và {len(ordered) - MAX_CASES} trường hợp khác")
    return lines


def _document_bullets(documents: Sequence[Document]) -> list[str]:
    return bullets((_document_text(d) for d in documents), limit=MAX_DOCS_PER_CASE, noun="giấy tờ")


def _document_text(document: Document) -> str:
    name = shorten(document.name, ITEM_CHARS - 40)
    counts = []
    if document.originals:
        counts.append(f"{document.originals} bản chính")
    if document.copies:
        counts.append(f"{document.copies} bản sao")
    extra = ", ".join(counts)
    if document.form:
        extra = f"{extra}, mẫu {document.form}" if extra else f"mẫu {document.form}"
    return f"{name} ({extra})" if extra else name


def _cases_by_hint(cases: Sequence[Case], hint: str, *, ignore: str = "") -> list[Case]:
    """Cases whose name shares words with the citizen's message first ("nhà thuê" → thuê, mượn, ở nhờ).
    Words of ``ignore`` (the procedure's own name) do not count: every case repeats them."""
    wanted = {vn.fold(w) for w in vn.syllables(vn.strip_fillers(hint))} if hint else set()
    wanted -= {vn.fold(w) for w in vn.syllables(ignore)}
    if not wanted:
        return list(cases)

    def overlap(case: Case) -> int:
        return len(wanted & {vn.fold(w) for w in vn.syllables(case.name)})

    return sorted(cases, key=lambda c: -overlap(c))


def fee_lines(procedure: Procedure) -> list[str]:
    rows = _per_channel(procedure, "fee")
    if not rows:
        return ["Danh mục không ghi lệ phí cho thủ tục này ạ."]
    return [BULLET + r for r in rows]


def duration_lines(procedure: Procedure) -> list[str]:
    rows = _per_channel(procedure, "time")
    if not rows:
        return ["Danh mục không ghi thời hạn giải quyết cho thủ tục này ạ."]
    return [BULLET + r for r in rows]


def place_lines(procedure: Procedure) -> list[str]:
    lines: list[str] = []
    agencies = procedure.implementing_agencies or procedure.competent_agencies
    if agencies:
        lines.append(BULLET + "Cơ quan giải quyết: " + ", ".join(dict.fromkeys(clean(a) for a in agencies)))
    if procedure.submission_address:
        lines.append(BULLET + "Địa chỉ tiếp nhận: " + shorten(procedure.submission_address, ITEM_CHARS))
    ways = []
    for channel in procedure.channels:
        note = _channel_note(channel)
        ways.append(channel_label(channel) + (f": {note}" if note else ""))
    if ways:
        lines.append("Cách nộp:")
        lines.extend(bullets(ways, limit=4, noun="cách"))
    return lines or ["Danh mục chưa ghi nơi nộp hồ sơ của thủ tục này ạ."]


def _channel_note(channel: Channel) -> str:
    """The first sentence of the channel description, when short."""
    description = clean(channel.description)
    if not description:
        return ""
    first = re.split(r"\s-\s|(?<=[.;])\s", description)[0].strip()
    return shorten(first, NOTE_CHARS)


def steps_lines(procedure: Procedure) -> list[str]:
    if not procedure.steps:
        return ["Danh mục chưa ghi các bước thực hiện của thủ tục này ạ."]
    steps = [clean(s) for s in procedure.steps if clean(s)]
    lines = [f"{BULLET}Bước {i}: {shorten(s, ITEM_CHARS)}" for i, s in enumerate(steps[:MAX_ITEMS], 1)]
    if len(steps) > MAX_ITEMS:
        lines.append(f"…và {len(steps) - MAX_ITEMS} bước khác")
    return lines


def conditions_lines(procedure: Procedure) -> list[str]:
    if not procedure.conditions:
        return ["Thủ tục này không nêu điều kiện riêng, chỉ cần đủ hồ sơ theo quy định ạ."]
    return bullets(procedure.conditions, noun="điều kiện")


def legal_basis_lines(procedure: Procedure) -> list[str]:
    if not procedure.legal_basis:
        return ["Danh mục chưa ghi căn cứ pháp lý của thủ tục này ạ."]
    items = []
    for basis in procedure.legal_basis:
        name = shorten(basis.name, 160)
        if basis.number and basis.number not in name:
            name = f"{name} (số {basis.number})"
        items.append(name)
    return bullets(items, limit=6, noun="văn bản")


def result_lines(procedure: Procedure) -> list[str]:
    if not procedure.results:
        return ["Danh mục chưa ghi kết quả của thủ tục này ạ."]
    return bullets(procedure.results, limit=5, noun="kết quả")


def form_lines(procedure: Procedure) -> list[str]:
    forms: dict[str, str] = {}
    for case in procedure.cases:
        for document in case.documents:
            if document.form:
                forms.setdefault(clean(document.form), shorten(document.name, 160))
    if not forms:
        return ["Thủ tục này không có mẫu đơn, tờ khai riêng trong danh mục ạ."]
    return bullets((f"Mẫu {form}: {name}" for form, name in forms.items()), limit=6, noun="mẫu")


RENDERERS = {
    asp.FEE: fee_lines,
    asp.DURATION: duration_lines,
    asp.PLACE: place_lines,
    asp.STEPS: steps_lines,
    asp.CONDITIONS: conditions_lines,
    asp.LEGAL_BASIS: legal_basis_lines,
    asp.RESULT: result_lines,
    asp.FORM: form_lines,
}


def aspect_lines(procedure: Procedure, aspect: str, hint: str = "") -> list[str]:
    if aspect == asp.DOCUMENTS:
        return documents_lines(procedure, hint)
    return RENDERERS[aspect](procedure)


# --- whole answers ------------------------------------------------------------------------------
def aspect_answer(procedure: Procedure, aspects: Sequence[str], hint: str = "") -> list[str]:
    """Messages answering ``aspects`` of ``procedure`` (at least one aspect)."""
    lines: list[str] = []
    if len(aspects) == 1:
        lines.append(f"Dạ, {asp.LABELS[aspects[0]].lower()} của thủ tục {title(procedure)}:")
        lines.extend(aspect_lines(procedure, aspects[0], hint))
    else:
        lines.append(f"Dạ, thủ tục {title(procedure)}:")
        for aspect in aspects:
            lines.append(f"{asp.LABELS[aspect]}:")
            lines.extend(aspect_lines(procedure, aspect, hint))
    lines.append(link_line(procedure))
    return pack(lines, continuation=f"(tiếp) {title(procedure)}:")


def summary_answer(procedure: Procedure) -> list[str]:
    """Name, code, agency, time, fee, ways to submit, then the link."""
    lines = [f"Dạ, thủ tục {title(procedure)}:"]
    if procedure.summary:
        lines.append(shorten(procedure.summary, 300))
    agencies = procedure.implementing_agencies or procedure.competent_agencies
    if agencies:
        lines.append(BULLET + "Cơ quan giải quyết: " + ", ".join(dict.fromkeys(clean(a) for a in agencies)))
    times = _per_channel(procedure, "time", short=True)
    if times:
        lines.append(BULLET + "Thời gian: " + "; ".join(times))
    fees = _per_channel(procedure, "fee", short=True)
    if fees:
        lines.append(BULLET + "Lệ phí: " + "; ".join(fees))
    ways = list(dict.fromkeys(channel_label(c) for c in procedure.channels))
    if ways:
        lines.append(BULLET + "Cách nộp: " + ", ".join(ways))
    lines.append("Anh/chị muốn xem thêm phần nào ạ?")
    lines.append(link_line(procedure))
    return pack(lines, continuation=f"(tiếp) {title(procedure)}:")


def choice_text(candidates: Sequence[tuple[str, str]], aspect: str | None, *, unsure: bool) -> str:
    """Ask which of a few procedures (code, name) the citizen means."""
    about = f" về {asp.LABELS[aspect].lower()}" if aspect else ""
    if unsure:
        head = f"Dạ, em chưa chắc anh/chị hỏi{about} thủ tục nào. Có phải một trong các thủ tục sau không ạ?"
    else:
        head = f"Dạ, câu hỏi{about} của anh/chị gần với mấy thủ tục sau, anh/chị chọn giúp em nhé:"
    lines = [head, *(f"{BULLET}{shorten(name, 150)} (mã {code})" for code, name in candidates)]
    return "\n".join(lines)[:MAX_MESSAGE_CHARS]


def not_found_text(query: str) -> str:
    quoted = shorten(query, 80)
    lines = [
        f"Dạ, em chưa tìm thấy thủ tục nào khớp với «{quoted}» trong danh mục ạ." if quoted
        else "Dạ, em chưa tìm thấy thủ tục phù hợp trong danh mục ạ.",
        "Anh/chị có thể thử:",
        f"{BULLET}Gõ ngắn gọn tên thủ tục hoặc việc cần làm, ví dụ «cấp lại căn cước», «đăng ký thường trú»",
        f"{BULLET}Gõ mã thủ tục nếu có, ví dụ 1.004222",
        f"{BULLET}Hoặc gặp cán bộ Bộ phận Một cửa để được hướng dẫn trực tiếp",
    ]
    return "\n".join(lines)


def which_procedure_text(aspects: Sequence[str]) -> str:
    about = f"{asp.LABELS[aspects[0]].lower()} của " if aspects else ""
    return (
        f"Dạ, anh/chị muốn hỏi {about}thủ tục nào ạ? Anh/chị gõ tên thủ tục hoặc việc cần làm, "
        "ví dụ «đăng ký thường trú» hoặc «cấp lại căn cước»."
    )
