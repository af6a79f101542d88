"""Dashboard figures from the real stores (SQLite and PostgreSQL), the SVG charts and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backoffice.dashboard import Period, PeriodError, compute, to_csv, unanswered_csv
from backoffice.dashboard_charts import bar_chart, daily_chart
from core.clock import ManualClock
from core.complaints import ComplaintService, ComplaintStatus
from core.feedback import FeedbackService
from core.handoff import HandoffService
from core.models import BotTurnRow, ChatMessageRow, ProcedureRow

TZ = "Asia/Ho_Chi_Minh"
HANOI = timezone(timedelta(hours=7))


def hanoi(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2025 in Hà Nội; the 17th is a Monday."""
    return datetime(2025, 3, day, hour, minute, tzinfo=HANOI)


MARCH = Period(date(2025, 3, 1), date(2025, 3, 31), TZ)


def add_message(
    engine: Engine, at: datetime, *, sender: str = "42", direction: str = "in", text: str = "xin chào"
) -> None:
    with Session(engine) as session, session.begin():
        author = "citizen" if direction == "in" else "bot"
        session.add(
            ChatMessageRow(
                channel="telegram", sender_id=sender, direction=direction, author=author, text=text, created_at=at
            )
        )


def add_turn(engine: Engine, at: datetime, text: str, outcome: str = "answered", code: str | None = None) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            BotTurnRow(channel="telegram", sender_id="42", text=text, outcome=outcome, procedure_code=code, at=at)
        )


def test_period_parsing_defaults_and_errors() -> None:
    today = date(2025, 3, 31)
    default = Period.parse(None, "", today=today, tz=TZ)
    assert (default.start, default.end) == (date(2025, 3, 2), today)
    assert len(default.days) == 30
    chosen = Period.parse("2025-03-17", "2025-03-17", today=today, tz=TZ)
    first, after = chosen.bounds()
    assert first == datetime(2025, 3, 16, 17, tzinfo=timezone.utc)  # midnight in Hà Nội
    assert after - first == timedelta(days=1)
    with pytest.raises(PeriodError, match="trước hoặc bằng"):
        Period.parse("2025-03-18", "2025-03-17", today=today, tz=TZ)
    with pytest.raises(PeriodError, match="không hợp lệ"):
        Period.parse("17/03/2025", None, today=today, tz=TZ)
    with pytest.raises(PeriodError, match="tối đa"):
        Period.parse("2020-01-01", "2025-03-17", today=today, tz=TZ)


def test_figures_move_with_new_data(engine: Engine) -> None:
    clock = ManualClock(hanoi(17, 9))
    today = date(2025, 3, 31)
    empty = compute(engine, MARCH, today=today)
    assert (empty.conversations, empty.messages, empty.turns, empty.handoffs) == (0, 0, 0, 0)
    assert empty.understood_pct is None and empty.handoff_rate_pct is None
    assert empty.satisfaction == {"rat_hai_long": 0, "hai_long": 0, "khong_hai_long": 0}
    assert len(empty.daily_messages) == 31 and sum(n for _, n in empty.daily_messages) == 0

    # two conversations, one of them asks for an officer
    handoffs = HandoffService(engine, clock=clock)
    handoffs.touch("telegram", "42")
    handoffs.touch("zalo", "z1")
    handoffs.request("zalo", "z1", reason="muốn gặp cán bộ")
    add_message(engine, hanoi(17, 9))
    add_message(engine, hanoi(17, 9, 1), direction="out")
    add_message(engine, hanoi(18, 0, 30))  # 00:30 on the 18th in Hà Nội is still the 17th in UTC
    add_message(engine, hanoi(1, 0, 5))  # first minutes of the period
    add_message(engine, datetime(2025, 3, 31, 17, 0, tzinfo=timezone.utc))  # 1 April in Hà Nội: outside

    add_turn(engine, hanoi(17, 9), "làm căn cước hết bao nhiêu tiền", code="1.001193")
    add_turn(engine, hanoi(17, 10), "lam can cuoc het bao nhieu", code="1.001193")
    add_turn(engine, hanoi(17, 11), "đăng ký kết hôn", code="1.000894")
    add_turn(engine, hanoi(17, 12), "Nuôi   ong mật cần giấy gì", outcome="not_found")
    add_turn(engine, hanoi(18, 12), "nuoi ong mat can giay gi", outcome="not_found")
    add_turn(engine, hanoi(18, 13), "nuôi ong mật cần giấy gì", outcome="fallback")
    add_turn(engine, hanoi(19, 8), "asdfgh", outcome="fallback")
    add_turn(engine, datetime(2025, 2, 28, 16, 59, tzinfo=timezone.utc), "tháng hai", outcome="fallback")
    with Session(engine) as session, session.begin():
        session.add(ProcedureRow(code="1.001193", name="Cấp thẻ Căn cước", document={}))

    complaints = ComplaintService(engine, clock=clock, tz=TZ)
    first = complaints.submit("Cán bộ quát nạt người dân", channel="telegram", sender_id="42", consent=False)
    complaints.submit("Chờ mãi chưa có kết quả", channel="telegram", sender_id="42", consent=False)
    clock.advance(days=1)
    complaints.set_status(first.code, ComplaintStatus.CLOSED, actor="officer:lan")
    feedback = FeedbackService(engine, clock=clock)
    for level in ("rat_hai_long", "hai_long", "hai_long", "khong_hai_long"):
        feedback.record(level, channel="telegram", sender_id="42", conversation_id="telegram:42")

    stats = compute(engine, MARCH, today=today)
    assert stats.conversations == 2
    assert stats.handoffs == 1 and stats.handoff_rate_pct == 50.0
    assert stats.messages == 4
    by_day = dict(stats.daily_messages)
    assert by_day[date(2025, 3, 17)] == 2 and by_day[date(2025, 3, 18)] == 1 and by_day[date(2025, 3, 1)] == 1
    assert stats.turns == 7
    assert stats.understood == 5 and stats.understood_pct == pytest.approx(71.4)
    assert [(p.code, p.name, p.count) for p in stats.top_procedures] == [
        ("1.001193", "Cấp thẻ Căn cước", 2),
        ("1.000894", "", 1),
    ]
    top = stats.unanswered[0]
    assert (top.text, top.count, top.outcome) == ("nuôi ong mật cần giấy gì", 3, "not_found")
    assert [q.text for q in stats.unanswered] == ["nuôi ong mật cần giấy gì", "asdfgh"]
    # the second complaint is still open past its due date (10 working days from the 17th: the 31st)
    assert (stats.complaints_opened, stats.complaints_closed) == (2, 1)
    assert stats.complaints_overdue == 0
    assert compute(engine, MARCH, today=date(2025, 4, 1)).complaints_overdue == 1
    assert stats.satisfaction == {"rat_hai_long": 1, "hai_long": 2, "khong_hai_long": 1}

    # another period does not see them
    april = compute(engine, Period(date(2025, 4, 1), date(2025, 4, 30), TZ), today=today)
    assert (april.messages, april.turns, april.complaints_opened, april.feedback_total) == (1, 0, 0, 0)


def test_csv_export_is_complete_and_safe(engine: Engine) -> None:
    add_turn(engine, hanoi(17, 9), '=HYPERLINK("http://x")', outcome="fallback")
    add_turn(engine, hanoi(17, 9), "thủ tục nuôi ong", outcome="not_found")
    FeedbackService(engine, clock=ManualClock(hanoi(17, 9))).record(
        "hai_long", channel="zalo", sender_id="z", conversation_id="c"
    )
    stats = compute(engine, MARCH, today=date(2025, 3, 31))
    text = to_csv(stats)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["section", "key", "label", "value"]
    cells = {(r[0], r[1]): r for r in rows[1:]}
    assert cells[("period", "from")][3] == "2025-03-01"
    assert cells[("summary", "understood_pct")][3] == "50.0"
    assert cells[("satisfaction", "hai_long")][2:] == ["Hài lòng", "1"]
    unanswered = [r for r in rows if r[0] == "unanswered"]
    assert ["unanswered", "not_found", "thủ tục nuôi ong", "1"] in unanswered
    assert any(r[2] == '\'=HYPERLINK("http://x")' for r in unanswered)  # not a live formula
    assert len([r for r in rows if r[0] == "daily_messages"]) == 31

    editor = list(csv.reader(io.StringIO(unanswered_csv(stats).lstrip("\ufeff"))))
    assert editor[0] == ["text", "count", "outcome", "last_asked"]
    assert {row[0] for row in editor[1:]} == {'\'=HYPERLINK("http://x")', "thủ tục nuôi ong"}


def test_svg_charts_escape_labels_and_scale_bars() -> None:
    svg = str(bar_chart([("<script>alert(1)</script>", 4), ("Hài lòng & hơn", 2)], title="Mức độ <hài lòng>"))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg and "Hài lòng &amp; hơn" in svg
    assert "<title>Mức độ &lt;hài lòng&gt;</title>" in svg
    widths = [int(w) for w in re.findall(r'<rect x="170" y="[\d.]+" width="(\d+)"', svg)]
    assert widths[0] == 2 * widths[1] > 0  # bars proportional to the values
    empty = str(bar_chart([], title="Trống"))
    assert "Không có dữ liệu" in empty
    days = [(date(2025, 3, 1) + timedelta(n), n % 3) for n in range(31)]
    daily = str(daily_chart(days, title="Tin nhắn mỗi ngày"))
    assert daily.count("<rect") == 31 and "01/03" in daily and "31/03/2025: 0" in daily
