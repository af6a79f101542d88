"""Staff accounts page (/admin/users, admins): list, create, activate/deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, ROLE_LABELS, AccountError, StaffUser, create_user, require_role
from backoffice.state import client_address, db, get_state
from backoffice.web import BadRequest, PageNotFound, redirect, render, staff_router
from core.models import StaffSessionRow, StaffUserRow

router = staff_router(tags=["back office: users"])
admins = require_role(ADMIN)
NOTICES = {"created": "Đã tạo tài khoản.", "updated": "Đã cập nhật tài khoản."}
FormText = Annotated[str, Form(max_length=1000)]


def _page(
    request: Request, session: Session, *, status_code: int = 200, error: str = "", form: dict[str, str] | None = None
) -> HTMLResponse:
    users = list(session.scalars(select(StaffUserRow).order_by(StaffUserRow.username)))
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    return render(
        request, "users.html", status_code, title="Tài khoản", users=users, roles=ROLE_LABELS, notice=notice,
        error=error, form=form or {},
    )  # fmt: skip


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request, user: Annotated[StaffUser, Depends(admins)], session: Annotated[Session, Depends(db)]
) -> HTMLResponse:
    return _page(request, session)


@router.post("/users", response_class=HTMLResponse)
def create(
    request: Request,
    user: Annotated[StaffUser, Depends(admins)],
    session: Annotated[Session, Depends(db)],
    username: FormText = "",
    full_name: FormText = "",
    role: FormText = "",
    agency: FormText = "",
    password: FormText = "",
) -> Response:
    state = get_state(request)
    try:
        created = create_user(
            session, username, password, role=role, full_name=full_name, agency=agency or None, now=state.clock()
        )
    except AccountError as exc:
        session.rollback()
        form = {"username": username, "full_name": full_name, "role": role, "agency": agency}
        return _page(request, session, status_code=400, error=str(exc), form=form)
    detail = {"role": created.role, "agency": created.agency or ""}
    audit.record(session, user, "user.create", "staff_user", created.username, detail, client_address(request))
    session.commit()
    return redirect("/admin/users", notice="created")


@router.post("/users/{user_id}/active")
def set_active(
    request: Request,
    user_id: int,
    user: Annotated[StaffUser, Depends(admins)],
    session: Annotated[Session, Depends(db)],
    active: FormText = "",
) -> Response:
    row = session.get(StaffUserRow, user_id)
    if row is None:
        raise PageNotFound("Không tìm thấy tài khoản.")
    if row.id == user.id:
        raise BadRequest("Không thể tự khóa tài khoản đang dùng.")
    row.active = active == "1"
    if not row.active:
        session.execute(delete(StaffSessionRow).where(StaffSessionRow.user_id == row.id))
    action = "user.activate" if row.active else "user.deactivate"
    audit.record(session, user, action, "staff_user", row.username, client=client_address(request))
    session.commit()
    return redirect("/admin/users", notice="updated")
