"""Dossier registry admin: the JSON status API (API keys), CSV upload with per-line errors, the list."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.apikeys import create_api_key, revoke_api_key
from core.clock import ManualClock
from core.dossiers import SqlDossierRegistry
from core.models import AuditLogRow, DossierRow, NotificationRow
from core.notifications import subscribe
from tests.backoffice_support import Backoffice, make_backoffice

NOW = datetime(2025, 3, 14, 3, 0, tzinfo=timezone.utc)
CODE = "H29.22-250312-0012"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture()
def bo(tmp_path: Path, clock: ManualClock) -> Backoffice:
    backoffice = make_backoffice(tmp_path, clock=clock)
    registry = SqlDossierRegistry(backoffice.engine, clock=clock)
    registry.create(code=CODE, procedure_code="1.013229", procedure_name="Cấp giấy phép xây dựng",
                    applicant_name="Lê Hoàng Cường", applicant_phone="0358246810",
                    appointment_date=date(2025, 4, 1), current_unit="Phòng Quản lý đô thị")  # fmt: skip
    with Session(backoffice.engine) as session:
        subscribe(session, CODE, "telegram", "7001", clock=clock)
        session.commit()
    return backoffice


@pytest.fixture()
def api_key(bo: Backoffice) -> str:
    with Session(bo.engine) as session:
        key = create_api_key(session, "hcm-motcua", now=NOW)
        session.commit()
    return key


def notifications(bo: Backoffice) -> list[NotificationRow]:
    with Session(bo.engine) as session:
        return list(session.scalars(select(NotificationRow).order_by(NotificationRow.id)))


def dossier(bo: Backoffice, code: str = CODE) -> DossierRow:
    with Session(bo.engine) as session:
        return session.scalars(select(DossierRow).where(DossierRow.code == code)).one()


# --- JSON API -------------------------------------------------------------------------------------------


def test_api_needs_a_valid_key(bo: Backoffice, api_key: str) -> None:
    client = bo.client()
    body = {"code": CODE, "status": "result_ready"}
    assert client.post("/api/dossiers/status", json=body).status_code == 401
    wrong = client.post("/api/dossiers/status", json=body, headers={"X-API-Key": api_key + "x"})
    assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["error"]
    with Session(bo.engine) as session:
        revoke_api_key(session, "hcm-motcua", now=NOW)
        session.commit()
    assert client.post("/api/dossiers/status", json=body, headers={"X-API-Key": api_key}).status_code == 401
    assert dossier(bo).status == "received" and notifications(bo) == []


def test_api_status_change_notifies_subscribers(bo: Backoffice, api_key: str) -> None:
    client = bo.client()
    body = {"code": CODE.lower(), "status": "Đã có kết quả", "pickup_info": "Quầy số 3", "at": "2025-03-14T10:00:00"}
    response = client.post("/api/dossiers/status", json=body, headers={"X-API-Key": api_key})
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "code": CODE, "outcome": "updated", "notified": 1}
    row = dossier(bo)
    assert (row.status, row.pickup_info) == ("result_ready", "Quầy số 3")
    [sent] = notifications(bo)
    assert (sent.channel, sent.sender_id, sent.kind) == ("telegram", "7001", "dossier_status")
    assert "đã có kết quả" in sent.text and "Quầy số 3" in sent.text and "Cường" not in sent.text
    again = client.post("/api/dossiers/status", json=body, headers={"X-API-Key": api_key})
    assert again.json()["outcome"] == "unchanged" and len(notifications(bo)) == 1
    with Session(bo.engine) as session:
        audit = session.scalars(select(AuditLogRow)).one()
        assert (audit.actor, audit.action, audit.target_id) == ("api:hcm-motcua", "dossier.status", CODE)


def test_api_reports_bad_items_without_failing_the_good_ones(bo: Backoffice, api_key: str) -> None:
    client = bo.client()
    headers = {"X-API-Key": api_key}
    items = [
        {"code": CODE, "status": "processing", "unit": "Phòng Tài nguyên"},
        {"code": "NO-SUCH-CODE", "status": "processing"},
        {"code": CODE, "status": "flying"},
        {"status": "processing"},
        "not an object",
        {"code": CODE, "status": "needs_supplement", "note": "Bản vẽ mặt bằng", "appointment_date": "31/02/2025"},
    ]
    response = client.post("/api/dossiers/status", json={"items": items}, headers=headers)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, False, False, False]
    assert "Không có hồ sơ mã NO-SUCH-CODE" in results[1]["error"]
    assert "Trạng thái “flying” không hợp lệ" in results[2]["error"]
    assert "Thiếu mã hồ sơ" in results[3]["error"]
    assert "Ngày hẹn trả “31/02/2025”" in results[5]["error"]
    assert response.json()["failed"] == 5
    assert dossier(bo).current_unit == "Phòng Tài nguyên"
    single = client.post("/api/dossiers/status", json={"code": CODE, "status": ""}, headers=headers)
    assert single.status_code == 422 and "Thiếu trạng thái" in single.json()["error"]
    for raw in (b"{not json", b"\xff\xfe", b"[]", b"42", b'{"items": 5}'):
        bad = client.post("/api/dossiers/status", content=raw, headers={**headers, "Content-Type": "application/json"})
        assert bad.status_code == 400, raw


def test_api_registers_a_new_dossier_when_given_its_details(bo: Backoffice, api_key: str) -> None:
    body = {"code": "000.00.25.H29-250401-0001", "status": "received", "procedure_code": "1.001193",
            "procedure_name": "Đăng ký khai sinh", "applicant_name": "Nguyễn Văn An",
            "applicant_phone": "0912 345 678", "appointment_date": "2025-03-17"}  # fmt: skip
    response = bo.client().post("/api/dossiers/status", json=body, headers={"X-API-Key": api_key})
    assert response.json()["outcome"] == "created"
    row = dossier(bo, "000.00.25.H29-250401-0001")
    assert (row.applicant_phone, row.appointment_date) == ("+84912345678", date(2025, 3, 17))
    bad_phone = {**body, "code": "X-2", "applicant_phone": "12"}
    result = bo.client().post("/api/dossiers/status", json=bad_phone, headers={"X-API-Key": api_key})
    assert result.status_code == 422 and result.json()["error"]


# --- CSV upload -----------------------------------------------------------------------------------------


def upload(bo: Backoffice, data: bytes, role: str = "supervisor"):  # type: ignore[no-untyped-def]
    user = bo.add_user(f"{role}{len(data)}", role)
    client = bo.client(user)
    return client.post(
        "/admin/dossiers/upload", data={"csrf_token": client.csrf}, files={"file": ("trang-thai.csv", data, "text/csv")}
    )


def test_csv_upload_applies_good_rows_and_reports_errors_per_line(bo: Backoffice) -> None:
    csv_text = (
        "Mã hồ sơ;Trạng thái;Ghi chú;Nơi nhận kết quả\n"
        f"{CODE};đã có kết quả;;Quầy số 3\n"
        "\n"
        "NO-SUCH-CODE;đang xử lý;;\n"
        f"{CODE};bay lên trời;;\n"
        ";đang xử lý;;\n"
        f"{CODE};received;;;extra;cells\n"
    )
    response = upload(bo, csv_text.encode("utf-8-sig"))
    assert response.status_code == 200
    page = response.text
    assert "Đã đọc 4 dòng: 0 hồ sơ mới, 1 cập nhật" in page and "1 thông báo" in page and "4 lỗi" in page
    for line, message in [
        (4, "Không có hồ sơ mã NO-SUCH-CODE"),
        (5, "Trạng thái “bay lên trời” không hợp lệ"),
        (6, "Thiếu mã hồ sơ."),
        (7, "Dòng có 6 ô, nhiều hơn 4 cột"),
    ]:
        assert f"<tr><td>{line}</td><td>{message}" in page, (line, message)
    assert dossier(bo).status == "result_ready" and len(notifications(bo)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Tệp trống."),
        (b"ma,trang thai\n", "không có dòng dữ liệu"),
        (b"code,status\nM\xe3 h\xf4 s\xf4,\xf0ang x\xfd l\xfd\n", "không phải văn bản UTF-8"),  # Latin-1
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "không phải"),
        (b"foo,bar\n1,2\n", "Thiếu cột bắt buộc: code, status"),
        (b'code,status\n"unterminated,processing\n', "Thiếu trạng thái"),
    ],
)
def test_csv_upload_of_a_bad_file_is_a_clear_error_not_a_crash(bo: Backoffice, data: bytes, message: str) -> None:
    response = upload(bo, data)
    assert response.status_code == 400
    assert message in response.text
    assert dossier(bo).status == "received"


def test_csv_upload_without_a_file_or_as_an_officer(bo: Backoffice) -> None:
    user = bo.add_user("lead", "supervisor")
    client = bo.client(user)
    response = client.post("/admin/dossiers/upload", data={"csrf_token": client.csrf})
    assert response.status_code == 400 and "Tệp trống." in response.text
    assert upload(bo, f"code,status\n{CODE},processing\n".encode(), role="officer").status_code == 403
    assert dossier(bo).status == "received"


def test_dossier_list_and_search(bo: Backoffice, clock: ManualClock) -> None:
    SqlDossierRegistry(bo.engine, clock=clock).create(
        code="G01.2025.001234", procedure_code="3.000333", procedure_name="Cấp Phiếu lý lịch tư pháp",
        applicant_name="Hoàng Minh Đức", applicant_phone="0868975310", appointment_date=date(2025, 3, 1),
    )  # fmt: skip
    officer = bo.client(bo.add_user("viewer", "officer"))
    page = officer.get("/admin/dossiers").text
    assert CODE in page and "G01.2025.001234" in page and "quá hạn" in page  # appointment 1/3 has passed
    assert 'action="/admin/dossiers/upload"' not in page  # officers cannot upload
    found = officer.get("/admin/dossiers?q=g01.2025").text
    assert "G01.2025.001234" in found and CODE not in found
    assert CODE in officer.get("/admin/dossiers?q=Cường").text
    assert "Không có hồ sơ nào phù hợp." in officer.get("/admin/dossiers?status=returned").text
