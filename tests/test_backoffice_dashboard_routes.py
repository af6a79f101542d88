"""The dashboard pages through the real app: who may see them, numbers that move, CSV downloads."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import ManualClock
from core.complaints import ComplaintService
from core.feedback import FeedbackService
from core.models import AuditLogRow, BotTurnRow
from tests.backoffice_support import Backoffice, make_backoffice

NOW = datetime(2025, 3, 20, 3, 0, tzinfo=timezone.utc)  # Thursday 10:00 in Hà Nội


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture()
def bo(tmp_path: Path, clock: ManualClock) -> Backoffice:
    return make_backoffice(tmp_path, clock=clock)


def kpi(html: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}"><span class="value">([^<]*)</span>', html)
    assert found, f"no KPI {name}"
    return found.group(1)


def test_roles(bo: Backoffice) -> None:
    assert bo.client(bo.add_user("lan", "officer")).get("/admin/dashboard").status_code == 403
    assert bo.client(bo.add_user("lan2", "officer")).get("/admin/dashboard.csv").status_code == 403
    assert bo.client(bo.add_user("hoa", "supervisor")).get("/admin/dashboard").status_code == 200
    assert bo.client(bo.add_user("root", "admin")).get("/admin/dashboard.csv").status_code == 200
    nobody = bo.client()
    assert nobody.get("/admin/dashboard").headers["location"].startswith("/admin/login")
    assert nobody.get("/admin/dashboard/unanswered.csv").headers["location"].startswith("/admin/login")


def test_numbers_move_and_period_is_respected(bo: Backoffice, clock: ManualClock) -> None:
    supervisor = bo.client(bo.add_user("hoa", "supervisor"))
    before = supervisor.get("/admin/dashboard")
    assert before.status_code == 200
    assert kpi(before.text, "complaints-opened") == "0" and kpi(before.text, "feedback") == "0"
    assert 'value="2025-02-19"' in before.text and 'value="2025-03-20"' in before.text  # last 30 days

    complaints = ComplaintService(bo.engine, clock=clock)
    complaints.submit("Cán bộ <b>quát</b> người dân", channel="telegram", sender_id="42", consent=False)
    feedback = FeedbackService(bo.engine, clock=clock)
    for level in ("rat_hai_long", "khong_hai_long", "khong_hai_long"):
        feedback.record(level, channel="zalo", sender_id="z", conversation_id="zalo:z")
    with Session(bo.engine) as session, session.begin():
        session.add(BotTurnRow(text="nuôi <i>ong</i> cần gì", outcome="not_found", at=clock()))
        session.add(BotTurnRow(text="làm căn cước", outcome="answered", procedure_code="1.001193", at=clock()))

    after = supervisor.get("/admin/dashboard")
    assert kpi(after.text, "complaints-opened") == "1" and kpi(after.text, "feedback") == "3"
    assert kpi(after.text, "understood") == "100,0 %"
    assert re.search(r'data-level="khong_hai_long"><td>Không hài lòng</td><td class="num">2<', after.text)
    assert "<svg" in after.text and "Không hài lòng: 2" in after.text
    assert "nuôi &lt;i&gt;ong&lt;/i&gt; cần gì" in after.text and "<i>ong</i>" not in after.text

    earlier = supervisor.get("/admin/dashboard?from=2025-01-01&to=2025-01-31")
    assert kpi(earlier.text, "complaints-opened") == "0" and kpi(earlier.text, "feedback") == "0"
    bad = supervisor.get("/admin/dashboard?from=2025-03-10&to=2025-03-01")
    assert bad.status_code == 400 and "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc." in bad.text
    assert supervisor.get("/admin/dashboard?from=hôm-qua").status_code == 400


def test_csv_downloads(bo: Backoffice, clock: ManualClock) -> None:
    admin = bo.client(bo.add_user("root", "admin"))
    FeedbackService(bo.engine, clock=clock).record("hai_long", channel="zalo", sender_id="z", conversation_id="c")
    with Session(bo.engine) as session, session.begin():
        session.add(BotTurnRow(text="=cmd|' /C calc'!A0", outcome="fallback", at=clock()))
    response = admin.get("/admin/dashboard.csv?from=2025-03-01&to=2025-03-31")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="thong-ke-2025-03-01-2025-03-31.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["satisfaction", "hai_long", "Hài lòng", "1"] in rows
    assert ["summary", "understood_pct", "Tỷ lệ hiểu được (%)", "0.0"] in rows
    unanswered = list(csv.reader(io.StringIO(admin.get("/admin/dashboard/unanswered.csv").content.decode("utf-8-sig"))))
    assert unanswered[0] == ["text", "count", "outcome", "last_asked"]
    assert unanswered[1][:3] == ["'=cmd|' /C calc'!A0", "1", "fallback"]
    assert admin.get("/admin/dashboard.csv?from=2025-13-01").status_code == 400
    with Session(bo.engine) as session:
        exports = session.scalars(select(AuditLogRow.target_id).where(AuditLogRow.action == "dashboard.export")).all()
    assert list(exports) == ["summary", "unanswered"]
