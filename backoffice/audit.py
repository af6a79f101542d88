"""The audit log of staff actions (who, what, when, on which record) and its admin page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.auth import ADMIN, StaffUser, require_role
from backoffice.state import db
from backoffice.web import PAGE_SIZE, make_pager, page_number, render, staff_router
from core.clock import as_utc
from core.models import AuditLogRow, utcnow


def record(
    session: Session,
    actor: StaffUser | str,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    detail: dict[str, Any] | None = None,
    client: str = "",
    *,
    at: datetime | None = None,
) -> AuditLogRow:
    """Add an audit entry inside the caller's transaction. ``detail`` never holds citizens' personal data."""
    row = AuditLogRow(
        actor=(actor.username if isinstance(actor, StaffUser) else actor)[:64],
        action=action[:64],
        target_type=target_type[:32],
        target_id=str(target_id)[:128],
        detail=detail or {},
        client=client[:64],
        at=as_utc(at) if at else utcnow(),
    )
    session.add(row)
    return row


router = staff_router(tags=["back office: audit"])


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user: Annotated[StaffUser, Depends(require_role(ADMIN))],
    session: Annotated[Session, Depends(db)],
    actor: str = "",
    action: str = "",
    target: str = "",
    page: str = "",
) -> HTMLResponse:
    number = page_number(page)
    query = select(AuditLogRow).order_by(AuditLogRow.id.desc())
    if actor.strip():
        query = query.where(AuditLogRow.actor == actor.strip())
    if action.strip():
        query = query.where(AuditLogRow.action.startswith(action.strip(), autoescape=True))
    if target.strip():
        query = query.where(AuditLogRow.target_id == target.strip())
    rows = list(session.scalars(query.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return render(
        request,
        "audit.html",
        rows=rows[:PAGE_SIZE],
        filters={"actor": actor, "action": action, "target": target},
        pager=make_pager(request, number, len(rows) > PAGE_SIZE),
    )
