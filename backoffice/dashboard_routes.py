"""The dashboard pages (/admin/dashboard, its CSV exports), for supervisors and admins.

Officers do not see it: it is the office's management view (every agency, every officer); an officer's
own work is in the complaints queue and the handoff inbox.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, SUPERVISOR, StaffUser, require_role
from backoffice.dashboard import Period, PeriodError, compute, to_csv, unanswered_csv
from backoffice.dashboard_charts import bar_chart, daily_chart
from backoffice.state import BackofficeState, client_address, db, get_state
from backoffice.web import BadRequest, render, staff_router
from core.clock import local_date

router = staff_router(tags=["back office: dashboard"])
Viewer = Annotated[StaffUser, Depends(require_role(SUPERVISOR, ADMIN))]
FromDay = Annotated[str, Query(alias="from")]
ToDay = Annotated[str, Query(alias="to")]
Db = Annotated[Session, Depends(db)]

SATISFACTION_COLOURS = ("#1f6f43", "#4c9a6a", "#c0392b")  # rất hài lòng, hài lòng, không hài lòng


def _today(state: BackofficeState) -> date:
    return local_date(state.clock(), state.settings.timezone)


def _period(state: BackofficeState, raw_from: str, raw_to: str) -> Period:
    return Period.parse(raw_from, raw_to, today=_today(state), tz=state.settings.timezone)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, user: Viewer, raw_from: FromDay = "", raw_to: ToDay = "") -> Response:
    state = get_state(request)
    status, error = 200, ""
    try:
        period = _period(state, raw_from, raw_to)
    except PeriodError as exc:
        status, error = 400, str(exc)
        period = _period(state, "", "")
    stats = compute(state.engine, period, today=_today(state))
    satisfaction_chart = bar_chart(
        [(label, count) for _, label, count in stats.satisfaction_rows()],
        title="Mức độ hài lòng (Nghị định 61/2018/NĐ-CP)",
        colours=SATISFACTION_COLOURS,
    )
    procedures_chart = bar_chart(
        [(item.name or item.code, item.count) for item in stats.top_procedures], title="Thủ tục được hỏi nhiều nhất"
    )
    messages_chart = daily_chart(stats.daily_messages, title="Số tin nhắn mỗi ngày")
    query = f"from={period.start.isoformat()}&to={period.end.isoformat()}"
    return render(
        request,
        "dashboard.html",
        status,
        title="Thống kê",
        error=error,
        stats=stats,
        period=period,
        query=query,
        satisfaction_chart=satisfaction_chart,
        procedures_chart=procedures_chart,
        messages_chart=messages_chart,
    )


def _csv_response(text: str, filename: str) -> Response:
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _csv_period(
    request: Request, session: Session, user: StaffUser, export: str, raw_from: str, raw_to: str
) -> tuple[BackofficeState, Period]:
    """The export's period (400 page when invalid); the export is written to the audit log."""
    state = get_state(request)
    try:
        period = _period(state, raw_from, raw_to)
    except PeriodError as exc:
        raise BadRequest(str(exc)) from None
    detail = {"export": export, "from": period.start.isoformat(), "to": period.end.isoformat()}
    audit.record(session, user, "dashboard.export", "dashboard", export, detail, client_address(request))
    session.commit()
    return state, period


@router.get("/dashboard.csv")
def dashboard_csv(request: Request, user: Viewer, session: Db, raw_from: FromDay = "", raw_to: ToDay = "") -> Response:
    state, period = _csv_period(request, session, user, "summary", raw_from, raw_to)
    stats = compute(state.engine, period, today=_today(state))
    return _csv_response(to_csv(stats), f"thong-ke-{period.start.isoformat()}-{period.end.isoformat()}.csv")


@router.get("/dashboard/unanswered.csv")
def unanswered_export(
    request: Request, user: Viewer, session: Db, raw_from: FromDay = "", raw_to: ToDay = ""
) -> Response:
    state, period = _csv_period(request, session, user, "unanswered", raw_from, raw_to)
    stats = compute(state.engine, period, today=_today(state), unanswered_limit=100_000)
    return _csv_response(
        unanswered_csv(stats), f"cau-hoi-chua-tra-loi-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    )
