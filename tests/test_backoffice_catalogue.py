"""Catalogue admin through the real app: browse, search, view, upload a portal export (background job
with progress and the import report), reindex; admins only; audit-logged."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.catalogue_admin_jobs import safe_filename, upload_suffix
from core.models import AuditLogRow
from knowledge_base.catalogue import Catalogue
from knowledge_base.model import Procedure
from tests.backoffice_support import Backoffice, StaffClient, make_backoffice
from tests.test_importer import record


@pytest.fixture()
def bo(tmp_path: Path) -> Iterator[Backoffice]:
    backoffice = make_backoffice(tmp_path)
    catalogue = Catalogue.from_settings(backoffice.settings)
    backoffice.app.state.catalogue = catalogue  # what the app's lifespan does
    yield backoffice
    jobs_of_app = getattr(backoffice.app.state, "catalogue_jobs", None)
    if jobs_of_app is not None:
        jobs_of_app.wait(60)
    catalogue.searcher.backend.close()


@pytest.fixture()
def admin(bo: Backoffice) -> StaffClient:
    return bo.client(bo.add_user("root", "admin"))


def wait_for_job(client: StaffClient, job_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"{job_url}/status").json()
        if not status["running"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_url} still running after {timeout}s")


def audit(bo: Backoffice) -> list[tuple[str, str, dict]]:
    with Session(bo.engine) as session:
        rows = session.scalars(
            select(AuditLogRow).where(AuditLogRow.action.startswith("catalogue.")).order_by(AuditLogRow.id)
        )
        return [(row.actor, row.action, row.detail) for row in rows]


def test_only_admins(bo: Backoffice) -> None:
    for role in ("officer", "supervisor"):
        client = bo.client(bo.add_user(f"u-{role}", role))
        assert client.get("/admin/catalogue").status_code == 403
        assert client.get("/admin/catalogue/procedures/1.001193").status_code == 403
        assert client.form("/admin/catalogue/reindex").status_code == 403
        files = {"file": ("a.jsonl", b"{}\n", "application/json")}
        assert client.post("/admin/catalogue/import", data={"csrf_token": client.csrf}, files=files).status_code == 403
    nobody = bo.client()
    assert nobody.get("/admin/catalogue").headers["location"].startswith("/admin/login")
    assert nobody.post("/admin/catalogue/reindex").status_code == 401


def test_browse_search_and_view(bo: Backoffice, admin: StaffClient) -> None:
    catalogue: Catalogue = bo.app.state.catalogue
    total = catalogue.store.count()
    listing = admin.get("/admin/catalogue")
    assert listing.status_code == 200 and f"{total} thủ tục trong cơ sở dữ liệu" in listing.text
    first = next(catalogue.store.all())
    assert first.code in listing.text and first.name in listing.text

    found = admin.get("/admin/catalogue", params={"q": "làm lại căn cước"})
    assert found.status_code == 200 and "Điểm tìm kiếm" in found.text and "Cấp lại thẻ căn cước" in found.text
    assert "Không tìm thấy thủ tục nào." in admin.get("/admin/catalogue", params={"q": "zzqqxx"}).text

    bad = Procedure(code="9.990001", name="Thủ tục <img src=x onerror=alert(1)>", url="javascript:alert(1)")
    catalogue.store.upsert_official(bad)
    page = admin.get("/admin/catalogue/procedures/9.990001")
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert 'href="javascript:' not in page.text
    view = admin.get(f"/admin/catalogue/procedures/{first.code}")
    assert view.status_code == 200 and first.name in view.text
    assert admin.get("/admin/catalogue/procedures/0.000000").status_code == 404


def test_upload_imports_in_the_background_with_report_and_reindex(bo: Backoffice, admin: StaffClient) -> None:
    lines = [
        json.dumps(record("9.900001", "Cấp giấy phép nuôi ong mật thử nghiệm"), ensure_ascii=False),
        json.dumps(record("9.900002", "Đăng ký chăn nuôi chim yến thử nghiệm"), ensure_ascii=False),
        '{"ten_thu_tuc": "không có mã"}',
        "{không phải JSON",
    ]
    payload = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))
    response = admin.post(
        "/admin/catalogue/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("Danh sách TTHC.jsonl.gz", io.BytesIO(payload), "application/gzip")},
    )
    assert response.status_code == 303
    job_url = response.headers["location"]
    assert job_url.startswith("/admin/catalogue/jobs/")
    status = wait_for_job(admin, job_url)
    assert status["state"] == "done" and status["percent"] == 100
    assert (status["processed"], status["total"]) == (2, 4)
    report = status["report"]
    assert (report["read"], report["imported"], report["skipped"]) == (4, 2, 2)
    assert all("uploads" not in issue["source"] for issue in report["skipped_records"])
    assert status["indexed"] == bo.app.state.catalogue.store.count()

    page = admin.get(job_url)
    assert "Báo cáo nhập" in page.text and 'id="report-imported">2<' in page.text
    assert "missing procedure code" in page.text and "Danh sách TTHC.jsonl.gz" in page.text
    hits = admin.get("/admin/catalogue", params={"q": "nuôi ong mật"})
    assert "9.900001" in hits.text
    assert not list((bo.settings.data_dir / "uploads").rglob("*.gz"))  # the upload is removed afterwards

    again = admin.post(
        "/admin/catalogue/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("lan-hai.jsonl.gz", io.BytesIO(payload), "application/gzip")},
    )
    second = wait_for_job(admin, again.headers["location"])
    assert (second["report"]["unchanged"], second["indexed"]) == (2, None)  # nothing changed: no reindex

    actions = [(actor, action) for actor, action, _ in audit(bo)]
    assert actions == [("root", "catalogue.import"), ("root", "catalogue.import_finished")] * 2
    finished = audit(bo)[1][2]
    assert (finished["imported"], finished["skipped"], finished["state"]) == (2, 2, "done")


def test_reindex_button(bo: Backoffice, admin: StaffClient) -> None:
    response = admin.form("/admin/catalogue/reindex")
    assert response.status_code == 303
    status = wait_for_job(admin, response.headers["location"])
    assert status["state"] == "done" and status["indexed"] == bo.app.state.catalogue.store.count()
    assert "Lập lại chỉ mục tìm kiếm" in admin.get(response.headers["location"]).text
    assert [action for _, action, _ in audit(bo)] == ["catalogue.reindex", "catalogue.reindex_finished"]
    assert admin.post("/admin/catalogue/reindex").status_code == 403  # no CSRF token


def test_bad_uploads_get_clear_answers(admin: StaffClient, bo: Backoffice) -> None:
    csv_upload = admin.post(
        "/admin/catalogue/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("ds.csv", b"a,b\n", "text/csv")},
    )
    assert csv_upload.status_code == 400 and "Định dạng tệp không được hỗ trợ" in csv_upload.text
    empty = admin.post(
        "/admin/catalogue/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("empty.jsonl", b"", "application/json")},
    )
    assert empty.status_code == 400 and "Tệp tải lên đang trống." in empty.text
    broken = admin.post(
        "/admin/catalogue/import",
        data={"csrf_token": admin.csrf},
        files={"file": ("broken.tar.gz", b"not a tar archive", "application/gzip")},
    )
    status = wait_for_job(admin, broken.headers["location"])
    assert status["state"] == "failed" and "Không đọc được tệp" in status["error"]
    assert "Không đọc được tệp" in admin.get(broken.headers["location"]).text
    assert admin.get("/admin/catalogue/jobs/999").status_code == 404


def test_upload_names() -> None:
    assert upload_suffix("Danh sách.XLSX") == ".xlsx"
    assert upload_suffix("export.tar.gz") == ".tar.gz"
    assert safe_filename("../../Danh sách TTHC.jsonl.gz", ".jsonl.gz") == "danh-sach-tthc.jsonl.gz"
    assert safe_filename("", ".json") == "upload.json"
