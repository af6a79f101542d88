"""Login, logout and the /admin entry page."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import (
    SESSION_COOKIE,
    InvalidCredentials,
    LoginThrottled,
    StaffUser,
    authenticate,
    clear_session_cookie,
    current_user,
    end_session,
    login_csrf_protect,
    login_csrf_token,
    optional_user,
    set_login_csrf_cookie,
    set_session_cookie,
    start_session,
)
from backoffice.state import client_address, db, get_state
from backoffice.web import redirect, render, staff_router

login_router = APIRouter(prefix="/admin", dependencies=[Depends(login_csrf_protect)], tags=["back office: login"])
router = staff_router(tags=["back office: login"])


def safe_next(target: str | None) -> str:
    """Only back-office paths of this site (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("/admin/login") and "\\" not in target:
        return target
    return "/admin/complaints"


def _login_page(
    request: Request, *, status: int = 200, error: str = "", username: str = "", next_: str = ""
) -> Response:
    token = login_csrf_token(request)
    response = render(
        request, "login.html", status, title="Đăng nhập", error=error, username=username, next=next_, login_csrf=token
    )
    set_login_csrf_cookie(response, request, token)
    return response


@login_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, user: Annotated[StaffUser | None, Depends(optional_user)], next: str = "") -> Response:
    if user is not None:
        return redirect(safe_next(next))
    return _login_page(request, next_=next)


@login_router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: Annotated[Session, Depends(db)],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    state = get_state(request)
    client = client_address(request)
    now = state.clock()
    try:
        user = authenticate(session, username, password, client=client, now=now)
    except LoginThrottled as exc:
        minutes = max(1, math.ceil((exc.retry_at - now).total_seconds() / 60))
        error = f"Đăng nhập sai quá nhiều lần. Anh/chị vui lòng thử lại sau khoảng {minutes} phút."
        return _login_page(request, status=429, error=error, username=username, next_=next)
    except InvalidCredentials:
        session.commit()  # keep the failed attempt: it feeds the throttle
        return _login_page(
            request, status=401, error="Tên đăng nhập hoặc mật khẩu không đúng.", username=username, next_=next
        )
    token = start_session(session, user, now=now, lifetime=state.session_lifetime)
    audit.record(session, user, "user.login", "staff_user", user.username, client=client, at=now)
    session.commit()
    response = redirect(safe_next(next))
    set_session_cookie(response, request, token)
    return response


@router.post("/logout")
def logout(
    request: Request, user: Annotated[StaffUser, Depends(current_user)], session: Annotated[Session, Depends(db)]
) -> Response:
    end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    audit.record(session, user, "user.logout", "staff_user", user.username, client=client_address(request))
    session.commit()
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(user: Annotated[StaffUser, Depends(current_user)]) -> Response:
    return redirect("/admin/complaints")


routers = (login_router, router)
