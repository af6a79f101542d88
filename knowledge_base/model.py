"""Typed model of an administrative procedure (thủ tục hành chính) as the portal publishes it.

The same model carries the fields we write ourselves for the built-in catalogue
(``citizen_terms``: the words and situations citizens use; ``summary``: a plain-language
one-liner). Importing an official record refreshes the official fields and keeps ours.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field


class ChannelKind(str, Enum):
    """Cách thức thực hiện."""

    DIRECT = "direct"  # Trực tiếp
    ONLINE = "online"  # Trực tuyến
    POSTAL = "postal"  # Dịch vụ bưu chính
    OTHER = "other"


CHANNEL_LABELS: dict[ChannelKind, str] = {
    ChannelKind.DIRECT: "Trực tiếp",
    ChannelKind.ONLINE: "Trực tuyến",
    ChannelKind.POSTAL: "Dịch vụ bưu chính",
    ChannelKind.OTHER: "Khác",
}


class ProcessingTime(BaseModel):
    """Thời hạn giải quyết: value + unit, e.g. 3 ngày làm việc."""

    value: float | None = None
    unit: str | None = None  # "ngày làm việc" | "ngày" | "giờ" | "tháng" | ...
    text: str = ""  # the description as published (may explain conditions)


class Fee(BaseModel):
    """Phí, lệ phí."""

    amount: int | None = None  # in đồng; None when the fee is described, not stated
    currency: str = "VND"
    description: str = ""  # e.g. "Lệ phí: 20.000 đồng" or "Miễn lệ phí"


class Channel(BaseModel):
    """One submission channel with its processing time and fees."""

    kind: ChannelKind
    name: str = ""  # label as published ("Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính")
    times: list[ProcessingTime] = Field(default_factory=list)
    fees: list[Fee] = Field(default_factory=list)
    description: str = ""


class Document(BaseModel):
    """Thành phần hồ sơ: a required document."""

    name: str
    originals: int | None = None  # số bản chính
    copies: int | None = None  # số bản sao
    form: str | None = None  # mẫu đơn, tờ khai (template name)


class Case(BaseModel):
    """Trường hợp: a case of the procedure with its own document list."""

    name: str = ""  # "" when the procedure has one case only
    documents: list[Document] = Field(default_factory=list)


class LegalBasis(BaseModel):
    """Căn cứ pháp lý."""

    name: str
    number: str | None = None  # e.g. 53/2025/TT-BCA


class Procedure(BaseModel):
    """Thủ tục hành chính."""

    code: str  # mã thủ tục, e.g. 1.004222
    name: str  # tên thủ tục
    field: str = ""  # lĩnh vực
    levels: list[str] = Field(default_factory=list)  # cấp thực hiện: "Cấp xã", "Cấp tỉnh", ...
    procedure_type: str = ""  # loại thủ tục
    implementing_agencies: list[str] = Field(default_factory=list)  # cơ quan thực hiện
    competent_agencies: list[str] = Field(default_factory=list)  # cơ quan có thẩm quyền
    submission_address: str = ""  # địa chỉ tiếp nhận hồ sơ
    subjects: list[str] = Field(default_factory=list)  # đối tượng thực hiện
    steps: list[str] = Field(default_factory=list)  # trình tự thực hiện
    channels: list[Channel] = Field(default_factory=list)  # cách thức thực hiện
    cases: list[Case] = Field(default_factory=list)  # thành phần hồ sơ, per case
    conditions: list[str] = Field(default_factory=list)  # yêu cầu, điều kiện
    legal_basis: list[LegalBasis] = Field(default_factory=list)  # căn cứ pháp lý
    results: list[str] = Field(default_factory=list)  # kết quả thực hiện
    url: str | None = None  # portal page
    decision_number: str | None = None  # số quyết định công bố
    ministry: str = ""  # ministry folder / issuing body when known

    # Written by us (never overwritten by an import):
    summary: str = ""  # one plain-language sentence for citizens
    citizen_terms: list[str] = Field(default_factory=list)  # words & situations citizens use
    builtin: bool = False  # part of the project's own catalogue

    def official_fields(self) -> dict[str, object]:
        """Everything except what we write ourselves."""
        return self.model_dump(exclude={"summary", "citizen_terms", "builtin"})

    def with_official(self, official: Procedure) -> Procedure:
        """Refresh the official fields from ``official`` and keep our own words."""
        merged = official.model_copy(
            update={
                "summary": self.summary or official.summary,
                "citizen_terms": _union(self.citizen_terms, official.citizen_terms),
                "builtin": self.builtin or official.builtin,
            }
        )
        return merged


def _union(first: list[str], second: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in [*first, *second]:
        seen.setdefault(item, None)
    return list(seen)
