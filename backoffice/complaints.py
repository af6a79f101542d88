"""Complaints triage (/admin/complaints): the queue, the detail view and the staff actions.

Who sees what (enforced on every route, detail URLs included): admins everything; supervisors the
complaints of their agency (all of them when they have no agency: the office's own supervisors);
officers those of their agency or assigned to them. A complaint outside the scope is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, StaffUser, require_role
from backoffice.state import client_address, db, get_state
from backoffice.web import PAGE_SIZE, BadRequest, PageNotFound, make_pager, page_number, redirect, render, staff_router
from connectors import outbox
from connectors.base import OutgoingMessage
from core.complaints import (
    CATEGORY_LABELS,
    PRIORITY_LABELS,
    SORTS,
    STATUS_LABELS,
    ComplaintError,
    ComplaintQuery,
    ComplaintScope,
    ComplaintService,
    ComplaintStatus,
    UnknownComplaint,
    complaint_service_from_settings,
)
from core.models import ChatMessageRow, ComplaintRow, StaffUserRow

router = staff_router(tags=["back office: complaints"])
any_staff = require_role(OFFICER, SUPERVISOR, ADMIN)
assigners = require_role(SUPERVISOR, ADMIN)

AGENCY_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
TRANSCRIPT_BEFORE = timedelta(hours=24)  # the chat that led to a complaint: this long before it ...
TRANSCRIPT_AFTER = timedelta(minutes=10)  # ... until shortly after (the bot's confirmation)
TRANSCRIPT_LIMIT = 60
SORT_LABELS = {
    "due": "Hạn trả lời (gần nhất trước)",
    "priority": "Ưu tiên",
    "-received": "Mới nhận trước",
    "received": "Nhận sớm nhất trước",
    "status": "Trạng thái",
}
ComplaintChange = Callable[[ComplaintService, str], None]  # (service, complaint code)
NOTICES = {
    "assigned": "Đã phân công phản ánh.",
    "transferred": "Đã chuyển phản ánh cho cơ quan khác; phản ánh không còn trong danh sách của anh/chị.",
    "classified": "Đã cập nhật phân loại và mức ưu tiên.",
    "in_progress": "Đã chuyển sang trạng thái đang xử lý.",
    "replied": "Đã gửi trả lời cho người dân.",
    "closed": "Đã đóng phản ánh.",
    "noted": "Đã thêm ghi chú nội bộ.",
}


def service(request: Request) -> ComplaintService:
    state = get_state(request)
    return complaint_service_from_settings(state.settings, state.engine, clock=state.clock)


def scope_for(user: StaffUser) -> ComplaintScope | None:
    """None: every complaint."""
    if user.is_admin or (user.is_supervisor and not user.agency):
        return None
    return ComplaintScope(agency=user.agency, username=user.username)


def visible_complaint(request: Request, user: StaffUser, code: str) -> ComplaintRow:
    """The complaint if this user may see it; a 404 otherwise (its existence is not revealed)."""
    row = service(request).get(code)
    scope = scope_for(user)
    if row is None or (scope is not None and not scope.allows(row)):
        raise PageNotFound("Không tìm thấy phản ánh này, hoặc phản ánh không thuộc phạm vi của anh/chị.")
    return row


@dataclass(frozen=True)
class Assignee:
    username: str
    label: str
    agency: str | None


def assignees(session: Session, user: StaffUser) -> list[Assignee]:
    """Whom ``user`` may assign complaints to: active officers and supervisors (of their agency, for a
    supervisor that has one)."""
    stmt = select(StaffUserRow).where(StaffUserRow.active.is_(True), StaffUserRow.role.in_((OFFICER, SUPERVISOR)))
    if user.is_supervisor and user.agency:
        stmt = stmt.where(StaffUserRow.agency == user.agency)
    rows = session.scalars(stmt.order_by(StaffUserRow.agency, StaffUserRow.username))
    result = []
    for r in rows:
        where = f", {r.agency}" if r.agency else ""
        result.append(Assignee(r.username, f"{r.full_name or r.username} ({r.username}{where})", r.agency))
    return result


def known_agencies(session: Session) -> list[str]:
    staff = session.scalars(select(StaffUserRow.agency).where(StaffUserRow.agency.is_not(None)).distinct())
    handling = session.scalars(
        select(ComplaintRow.assigned_agency).where(ComplaintRow.assigned_agency.is_not(None)).distinct()
    )
    return sorted({a for a in [*staff, *handling] if a})


def transcript(session: Session, row: ComplaintRow) -> list[ChatMessageRow]:
    """The chat that led to the complaint (same channel and sender, around the time it was received)."""
    rows = session.scalars(
        select(ChatMessageRow)
        .where(
            ChatMessageRow.channel == row.channel,
            ChatMessageRow.sender_id == row.sender_id,
            ChatMessageRow.created_at >= row.received_at - TRANSCRIPT_BEFORE,
            ChatMessageRow.created_at <= row.received_at + TRANSCRIPT_AFTER,
        )
        .order_by(ChatMessageRow.id.desc())
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    return list(reversed(rows))


def is_link(attachment: str) -> bool:
    """Only http(s) URLs become links (a "javascript:" attachment stays text)."""
    return bool(re.match(r"^https?://[^\s\"'<>]+$", attachment or ""))


# --- the queue -------------------------------------------------------------------------------------------


@router.get("/complaints", response_class=HTMLResponse)
def queue(
    request: Request,
    user: Annotated[StaffUser, Depends(any_staff)],
    session: Annotated[Session, Depends(db)],
    status: str = "",
    category: str = "",
    agency: str = "",
    overdue: str = "",
    q: str = "",
    sort: str = "due",
    page: str = "",
) -> HTMLResponse:
    number = page_number(page)
    svc = service(request)
    query = ComplaintQuery(
        scope=scope_for(user),
        statuses=(status,) if status in STATUS_LABELS else (),
        category=category if category in CATEGORY_LABELS else None,
        agency=agency.strip().upper() or None,
        overdue=bool(overdue),
        text=q[:200],
        sort=sort if sort in SORTS else "due",
        limit=PAGE_SIZE + 1,
        offset=(number - 1) * PAGE_SIZE,
    )
    rows = svc.search(query)
    items = [(row, svc.due_state(row.status, row.due_date)) for row in rows[:PAGE_SIZE]]
    return render(
        request,
        "complaints/queue.html",
        title="Phản ánh, kiến nghị",
        items=items,
        filters=dict(status=status, category=category, agency=agency, overdue=bool(overdue), q=q, sort=query.sort),
        statuses=STATUS_LABELS,
        categories=CATEGORY_LABELS,
        priorities=PRIORITY_LABELS,
        sorts=SORT_LABELS,
        agencies=known_agencies(session),
        pager=make_pager(request, number, len(rows) > PAGE_SIZE),
    )


# --- the detail view -------------------------------------------------------------------------------------


def _detail(
    request: Request, user: StaffUser, session: Session, code: str, *, status_code: int = 200, error: str = ""
) -> HTMLResponse:
    row = visible_complaint(request, user, code)
    svc = service(request)
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    return render(
        request,
        "complaints/detail.html",
        status_code,
        title=f"Phản ánh {row.code}",
        c=row,
        due_state=svc.due_state(row.status, row.due_date),
        notes=svc.notes(row.id),
        transcript=transcript(session, row),
        statuses=STATUS_LABELS,
        categories=CATEGORY_LABELS,
        priorities=PRIORITY_LABELS,
        assignees=assignees(session, user) if user.role in (SUPERVISOR, ADMIN) else [],
        agencies=known_agencies(session),
        can_assign=user.role in (SUPERVISOR, ADMIN),
        is_open=row.status != ComplaintStatus.CLOSED.value,
        is_link=is_link,
        notice=notice,
        error=error,
    )


@router.get("/complaints/{code}", response_class=HTMLResponse)
def detail(
    request: Request,
    code: str,
    user: Annotated[StaffUser, Depends(any_staff)],
    session: Annotated[Session, Depends(db)],
) -> HTMLResponse:
    return _detail(request, user, session, code)


@dataclass(frozen=True)
class Staff:
    """A staff member acting on complaints: their request, account and SQL session (a route dependency)."""

    request: Request
    user: StaffUser
    session: Session

    def act(
        self, code: str, action: str, change: ComplaintChange, notice: str, detail: dict[str, str] | None = None
    ) -> Response:
        """Run ``change(service, complaint_code)`` on a complaint this user may see, audit it, and go back
        to the detail page, or show the detail page again with the error (``ComplaintService`` refuses,
        among others, every change to a closed complaint, with the same ``ComplaintClosed`` message)."""
        request, user, session = self.request, self.user, self.session
        row = visible_complaint(request, user, code)
        try:
            change(service(request), row.code)
        except ComplaintError as exc:
            return _detail(request, user, session, row.code, status_code=400, error=str(exc))
        except UnknownComplaint:
            raise PageNotFound() from None
        at = get_state(request).clock()
        audit.record(session, user, action, "complaint", row.code, detail, client_address(request), at=at)
        session.commit()
        after = service(request).get(row.code)
        scope = scope_for(user)
        if after is not None and scope is not None and not scope.allows(after):
            return redirect("/admin/complaints", notice="transferred")
        return redirect(f"/admin/complaints/{row.code}", notice=notice)


def _staff(role: Callable[..., StaffUser]) -> Any:
    role_dependency = Depends(role)  # a default value: an annotation could not name this closure's ``role``

    def dependency(
        request: Request, session: Annotated[Session, Depends(db)], user: StaffUser = role_dependency
    ) -> Staff:
        return Staff(request, user, session)

    return Depends(dependency)


AnyStaff = Annotated[Staff, _staff(any_staff)]
Assigner = Annotated[Staff, _staff(assigners)]
FormText = Annotated[str, Form(max_length=10_000)]


@router.post("/complaints/{code}/assign")
def assign(code: str, staff: Assigner, officer: FormText = "", agency: FormText = "", note: FormText = "") -> Response:
    user, officer, agency_code = staff.user, officer.strip(), agency.strip().upper()
    if officer:
        target = next((a for a in assignees(staff.session, user) if a.username == officer), None)
        if target is None:
            raise BadRequest("Cán bộ được chọn không tồn tại hoặc không thuộc cơ quan của anh/chị.")
        to_agency = target.agency or (user.agency if user.is_supervisor else None) or ""

        def change(svc: ComplaintService, c: str) -> None:
            svc.assign(c, officer, actor=user.username, note=note, agency=to_agency)

        return staff.act(code, "complaint.assign", change, "assigned", {"officer": officer})
    if not AGENCY_RE.fullmatch(agency_code):
        raise BadRequest("Cần chọn cán bộ hoặc nhập mã cơ quan xử lý (chữ, số, dấu . _ -).")

    def transfer(svc: ComplaintService, c: str) -> None:
        svc.assign_agency(c, agency_code, actor=user.username, note=note)

    return staff.act(code, "complaint.assign", transfer, "assigned", {"agency": agency_code})


@router.post("/complaints/{code}/classify")
def classify(code: str, staff: AnyStaff, category: FormText = "", priority: FormText = "") -> Response:
    if category not in CATEGORY_LABELS or priority not in PRIORITY_LABELS:
        raise BadRequest("Phân loại hoặc mức ưu tiên không hợp lệ.")

    def change(svc: ComplaintService, c: str) -> None:
        svc.classify(c, category=category, priority=priority, actor=staff.user.username)

    return staff.act(code, "complaint.classify", change, "classified", {"category": category, "priority": priority})


@router.post("/complaints/{code}/start")
def start(code: str, staff: AnyStaff, note: FormText = "") -> Response:
    def change(svc: ComplaintService, c: str) -> None:
        svc.set_status(c, ComplaintStatus.IN_PROGRESS, actor=staff.user.username, note=note)

    return staff.act(code, "complaint.start", change, "in_progress")


@router.post("/complaints/{code}/reply")
def reply(code: str, staff: AnyStaff, text: FormText = "") -> Response:
    author = f"officer:{staff.user.username}"

    def deliver(tx: Session, channel: str, recipient: str, message: str) -> None:
        outbox.enqueue(tx, OutgoingMessage(channel, recipient, text=message, author=author))

    def change(svc: ComplaintService, c: str) -> None:
        svc.reply(c, text, actor=staff.user.username, deliver=deliver)

    return staff.act(code, "complaint.reply", change, "replied", {"chars": str(len(text))})


@router.post("/complaints/{code}/close")
def close(code: str, staff: AnyStaff, outcome: FormText = "") -> Response:
    def change(svc: ComplaintService, c: str) -> None:
        svc.close(c, outcome, actor=staff.user.username)

    return staff.act(code, "complaint.close", change, "closed")


@router.post("/complaints/{code}/notes")
def add_note(code: str, staff: AnyStaff, text: FormText = "") -> Response:
    def change(svc: ComplaintService, c: str) -> None:
        svc.add_note(c, text, author=staff.user.username)

    return staff.act(code, "complaint.note", change, "noted")
