"""The official "Danh sách TTHC" export (.xlsx): a title block, a header row, one procedure per row.

Only a few columns (Mã số, Tên, Cơ quan ban hành, Cơ quan thực hiện, Lĩnh vực), so rows become
*partial* records in the portal's field names: the store only overwrites what a row carries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from knowledge_base.importer.readers import RawRecord
from knowledge_base.text import fold

# folded header text → portal field name
HEADER_FIELDS: dict[str, str] = {
    "ma so": "ma_thu_tuc",
    "ma thu tuc": "ma_thu_tuc",
    "ma tthc": "ma_thu_tuc",
    "ten": "ten_thu_tuc",
    "ten thu tuc": "ten_thu_tuc",
    "ten tthc": "ten_thu_tuc",
    "co quan ban hanh": "co_quan_ban_hanh",
    "co quan thuc hien": "co_quan_thuc_hien",
    "linh vuc": "linh_vuc",
    "cap thuc hien": "cap_thuc_hien",
    "so quyet dinh": "so_quyet_dinh",
    "loai thu tuc": "loai_thu_tuc",
}
_MAX_HEADER_SEARCH = 30


def _header_map(row: tuple[object, ...]) -> dict[int, str] | None:
    mapping: dict[int, str] = {}
    for i, cell in enumerate(row):
        if isinstance(cell, str):
            key = " ".join(fold(cell).split())
            if key in HEADER_FIELDS:
                mapping[i] = HEADER_FIELDS[key]
    fields = set(mapping.values())
    return mapping if {"ma_thu_tuc", "ten_thu_tuc"} <= fields else None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def iter_xlsx(path: Path) -> Iterator[RawRecord]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise ValueError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        for sheet in workbook.worksheets:
            header: dict[int, str] | None = None
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                source = f"{path.name}:{sheet.title}:{number}"
                if header is None:
                    if number > _MAX_HEADER_SEARCH:
                        break
                    header = _header_map(tuple(row))
                    continue
                if all(_cell(v).strip() == "" for v in row):
                    continue
                data = {field: _cell(row[i]) for i, field in header.items() if i < len(row)}
                yield RawRecord(source, data, partial=True)
    finally:
        workbook.close()
