"""Messages that could not be delivered to citizens (/admin/deliveries), for every staff role.

The gateway's dispatcher marks an outbox row ``failed`` when the channel refuses it for good (a Zalo user
silent for more than 7 days or not a follower, a Telegram user who blocked the bot) or when its retries
run out; ``last_error`` then holds a Vietnamese reason (connectors/outbox.py ``failure_text``). Staff see
time, channel, the recipient masked, the kind of message, the reason and the attempts, and can "Gửi lại"
(pending again, due now, attempts from zero; the dispatcher is woken) or "Bỏ qua" (``dismissed``).
Both are written to the audit log. The count of failed messages is a badge on the menu.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, StaffUser, require_role
from backoffice.state import client_address, db, get_state
from backoffice.web import NAV_COUNTS, PAGE_SIZE, make_pager, page_number, redirect, render, staff_router
from connectors import outbox
from core.models import OutboxMessageRow

PATH = "/admin/deliveries"
TITLE = "Tin nhắn gửi không thành công"
CHANNEL_LABELS = {"zalo": "Zalo", "telegram": "Telegram", "webchat": "Trang web"}
NOTIFICATION_LABELS = {
    "dossier_status": "Thông báo tình trạng, kết quả hồ sơ",
    "complaint_reply": "Thông báo trả lời phản ánh, kiến nghị",
}
NOTICES = {
    "retried": "Đã đưa tin nhắn vào hàng gửi lại; kết quả sẽ cập nhật sau ít giây.",
    "dismissed": "Đã bỏ qua tin nhắn này.",
    "gone": "Tin nhắn này không còn ở trạng thái gửi lỗi (có thể cán bộ khác đã xử lý).",
}

router = staff_router(tags=["back office: failed deliveries"])
Staff = Annotated[StaffUser, Depends(require_role(OFFICER, SUPERVISOR, ADMIN))]
Db = Annotated[Session, Depends(db)]


def mask_recipient(recipient_id: str) -> str:
    """The recipient's platform id with all but its last 3 characters hidden (an id may be a phone number)."""
    shown = recipient_id[-3:] if len(recipient_id) > 6 else ""
    return f"•••{shown}"


def kind_label(row: OutboxMessageRow) -> str:
    if row.kind:
        return NOTIFICATION_LABELS.get(row.kind, f"Thông báo ({row.kind})")
    if row.author == "bot":
        return "Trả lời của trợ lý ảo"
    if row.author.startswith("officer:"):
        return f"Trả lời của cán bộ {row.author.split(':', 1)[1]}"
    return "Tin hệ thống (chuyển cán bộ, thông báo)"


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    at: datetime
    channel: str
    recipient: str  # masked
    kind: str
    reason: str  # Vietnamese, for staff
    technical: str  # the platform's answer, for the administrator
    attempts: int
    parts_sent: int  # of a long text split in parts, those the citizen already received

    @classmethod
    def of(cls, row: OutboxMessageRow) -> FailedDelivery:
        reason, _, technical = (row.last_error or "").partition(" [")
        return cls(
            id=row.id,
            at=row.created_at,
            channel=CHANNEL_LABELS.get(row.channel, row.channel),
            recipient=mask_recipient(row.recipient_id),
            kind=kind_label(row),
            reason=reason or "Không rõ lý do.",
            technical=technical.removesuffix("]"),
            attempts=row.attempts,
            parts_sent=row.chunks_sent,
        )


def failed_count(request: Request) -> int:
    """The menu badge: failed deliveries waiting for staff (0 when the database cannot say)."""
    try:
        with get_state(request).sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(OutboxMessageRow).where(OutboxMessageRow.status == outbox.FAILED)
                )
                or 0
            )
    except SQLAlchemyError:
        return 0


NAV_COUNTS[PATH] = failed_count


@router.get("/deliveries", response_class=HTMLResponse)
def failed_list(request: Request, user: Staff, session: Db, page: str = "") -> HTMLResponse:
    number = page_number(page)
    rows = session.scalars(
        select(OutboxMessageRow)
        .where(OutboxMessageRow.status == outbox.FAILED)
        .order_by(OutboxMessageRow.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    return render(
        request,
        "deliveries.html",
        title=TITLE,
        items=[FailedDelivery.of(row) for row in rows[:PAGE_SIZE]],
        total=failed_count(request),
        notice=NOTICES.get(request.query_params.get("notice", ""), ""),
        pager=make_pager(request, number, len(rows) > PAGE_SIZE),
    )


def _act(request: Request, user: StaffUser, session: Session, outbox_id: int, action: str) -> bool:
    """Retry or dismiss a failed row and audit it, in one transaction; False when it is no longer failed."""
    row = session.get(OutboxMessageRow, outbox_id)
    if row is None:
        return False
    detail = {"channel": row.channel, "attempts": row.attempts}
    if action == "delivery.retry":
        gateway = getattr(request.app.state, "gateway", None)
        now = gateway.clock() if gateway is not None else get_state(request).clock()  # the dispatcher's "now"
        changed = outbox.retry_failed(session, outbox_id, now)
    else:
        changed = outbox.dismiss_failed(session, outbox_id)
    if not changed:
        session.rollback()
        return False
    audit.record(session, user, action, "outbox", outbox_id, detail, client_address(request))
    session.commit()
    return True


@router.post("/deliveries/{outbox_id}/retry")
async def retry(request: Request, outbox_id: int, user: Staff, session: Db) -> RedirectResponse:
    if not await run_in_threadpool(_act, request, user, session, outbox_id, "delivery.retry"):
        return redirect(PATH, notice="gone")
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.wake_dispatcher()  # from the event loop, where the dispatcher waits
    return redirect(PATH, notice="retried")


@router.post("/deliveries/{outbox_id}/dismiss")
async def dismiss(request: Request, outbox_id: int, user: Staff, session: Db) -> RedirectResponse:
    done = await run_in_threadpool(_act, request, user, session, outbox_id, "delivery.dismiss")
    return redirect(PATH, notice="dismissed" if done else "gone")
