"""One portal record (a dict in the crawler's field names) → a validated ``Procedure``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from knowledge_base.importer import portal
from knowledge_base.importer.readers import RawRecord
from knowledge_base.model import Procedure
from knowledge_base.text import fold

# Folder names used by the crawl → the issuing body's name (as the xlsx export writes it).
MINISTRIES: dict[str, str] = {
    "bo-cong-an": "Bộ Công an",
    "bo-nong-nghiep-mt": "Bộ Nông nghiệp và Môi trường",
    "bo-tai-chinh": "Bộ Tài chính",
    "bo-tu-phap": "Bộ Tư pháp",
    "bo-xay-dung": "Bộ Xây dựng",
    "ngan-hang-nha-nuoc": "Ngân hàng Nhà nước Việt Nam",
    "toa-an-nhan-dan": "Tòa án nhân dân",
}

# The structured fields whose parse is measured, with the sub-problems reported separately.
STRUCTURED_FIELDS = ("cach_thuc_thuc_hien", "thanh_phan_ho_so", "can_cu_phap_ly")
LIST_FIELDS = ("trinh_tu_thuc_hien", "yeu_cau_dieu_kien", "ket_qua_xu_ly")


class RecordError(ValueError):
    """The record cannot become a procedure (missing code or name, bad code, invalid values)."""


@dataclass
class Converted:
    procedure: Procedure
    present: list[str] = field(default_factory=list)  # fields with content in the record
    failures: list[str] = field(default_factory=list)  # "field" or "field.problem"
    warnings: list[str] = field(default_factory=list)


def ministry_name(value: str) -> str:
    """Folder slug or issuing body → one name ("bo-cong-an" / "Bộ công an" → "Bộ Công an")."""
    value = portal.one_line(value)
    if value in MINISTRIES:
        return MINISTRIES[value]
    folded = fold(value)
    for name in MINISTRIES.values():
        if folded.startswith(fold(name)):
            return name
    return value


def convert(raw: RawRecord) -> Converted:
    """Raise ``RecordError`` with the reason when the record must be skipped."""
    data: dict[str, Any] = raw.data or {}
    code = portal.one_line(data.get("ma_thu_tuc"))
    name = portal.one_line(data.get("ten_thu_tuc"))
    if not code:
        raise RecordError("missing procedure code (ma_thu_tuc)")
    if not portal.CODE_RE.fullmatch(code):
        raise RecordError(f"wrong procedure code format: {code[:40]!r}")
    if not name:
        raise RecordError("missing procedure name (ten_thu_tuc)")

    present: list[str] = []
    failures: list[str] = []
    warnings: list[str] = []

    def text(key: str) -> str:
        value = portal.clean(data.get(key))
        if value:
            present.append(key)
        return value

    fields: dict[str, Any] = {"code": code, "name": name}
    fields["field"] = " ".join(text("linh_vuc").split())
    fields["levels"] = portal.parse_levels(text("cap_thuc_hien"))
    fields["procedure_type"] = " ".join(text("loai_thu_tuc").split())
    fields["implementing_agencies"] = portal.split_names(text("co_quan_thuc_hien"))
    fields["competent_agencies"] = portal.split_names(text("co_quan_co_tham_quyen"))
    fields["submission_address"] = text("dia_chi_tiep_nhan")
    fields["subjects"] = portal.split_names(text("doi_tuong_thuc_hien"))

    for key, target, parser in (
        ("trinh_tu_thuc_hien", "steps", portal.parse_steps),
        ("yeu_cau_dieu_kien", "conditions", portal.parse_conditions),
        ("ket_qua_xu_ly", "results", portal.parse_results),
    ):
        raw_value = text(key)
        fields[target] = parser(raw_value)
        if raw_value and not fields[target]:
            failures.append(key)

    for key, target, structured in (
        ("cach_thuc_thuc_hien", "channels", portal.parse_channels),
        ("thanh_phan_ho_so", "cases", portal.parse_cases),
        ("can_cu_phap_ly", "legal_basis", portal.parse_legal_basis),
    ):
        raw_value = text(key)
        value, problems = structured(raw_value)
        fields[target] = value
        if raw_value and (problems or not value):
            failures.append(key)
            failures.extend(f"{key}.{problem}" for problem in problems)

    url = portal.one_line(data.get("detail_url") or data.get("url"))
    fields["url"] = url or None
    decision = portal.one_line(data.get("so_quyet_dinh"))
    fields["decision_number"] = decision or None
    fields["ministry"] = ministry_name(
        str(data.get("_ministry_folder") or data.get("co_quan_ban_hanh") or raw.ministry_hint or "")
    )

    raw_text = data.get("raw_text")
    if isinstance(raw_text, str) and raw_text:
        printed = portal.code_in_raw_text(raw_text)
        if printed and printed != code:
            warnings.append(f"ma_thu_tuc {code} differs from the page's Mã thủ tục {printed}")

    try:
        procedure = Procedure.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise RecordError(f"invalid values ({where}: {first.get('msg', 'invalid')})") from exc
    return Converted(procedure=procedure, present=present, failures=failures, warnings=warnings)
