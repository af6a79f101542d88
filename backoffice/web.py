"""The back office's web layer: templates (autoescaped), ``render``, navigation by role, error pages,
and ``staff_router`` (an ``/admin`` router whose unsafe requests all pass ``csrf_protect``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, CsrfRejected, Forbidden, LoginRequired, StaffUser, csrf_protect
from backoffice.state import get_state

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_URL = "/admin/static"
ALL_ROLES = (OFFICER, SUPERVISOR, ADMIN)


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    roles: tuple[str, ...]


# The menu, in order; each page still checks the role server-side (this only hides links).
NAV: tuple[NavItem, ...] = (
    NavItem("/admin/complaints", "Phản ánh, kiến nghị", ALL_ROLES),
    NavItem("/admin/handoffs", "Hội thoại chờ cán bộ", ALL_ROLES),
    NavItem("/admin/dossiers", "Hồ sơ", ALL_ROLES),
    NavItem("/admin/deliveries", "Tin gửi lỗi", ALL_ROLES),
    NavItem("/admin/dashboard", "Thống kê", (SUPERVISOR, ADMIN)),
    NavItem("/admin/catalogue", "Danh mục thủ tục", (ADMIN,)),
    NavItem("/admin/users", "Tài khoản", (ADMIN,)),
    NavItem("/admin/audit", "Nhật ký thao tác", (ADMIN,)),
)

# A count shown as a badge next to a menu item (href -> function of the request); pages register theirs.
NAV_COUNTS: dict[str, Callable[[Request], int]] = {}


# Sent with every /admin response (pages, fragments, static files, error pages). Scripts and styles come
# only from the back office's own files (no inline <script>, on*="" or style=""), nothing may frame it,
# forms post only to it. Not applied to the public widget (/widget.js, /widget/demo): host pages embed it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on the responses under ``/admin`` (a header a route set wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/admin" and not path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PageNotFound(Exception):
    """A record that does not exist, or that this user may not know exists (rendered as 404)."""

    def __init__(self, message: str = "Không tìm thấy trang hoặc bản ghi này.") -> None:
        super().__init__(message)


class BadRequest(Exception):
    """Input the page cannot use; rendered as a 400 page with the Vietnamese message."""


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(get_state(request).settings.timezone)


def _fmt_datetime(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%d/%m/%Y %H:%M") if value else ""


def _fmt_date(value: date | datetime | None, tz: ZoneInfo | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(tz)
    return value.strftime("%d/%m/%Y")


_env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True, trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a template with ``user``, ``csrf_token``, ``nav``, date helpers and ``context``."""
    user: StaffUser | None = getattr(request.state, "staff_user", None)
    tz = _tz(request)
    nav = [item for item in NAV if user is not None and user.role in item.roles]
    base: dict[str, Any] = {
        "user": user,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav": nav,
        "nav_counts": {item.href: NAV_COUNTS[item.href](request) for item in nav if item.href in NAV_COUNTS},
        "static_url": STATIC_URL,
        "fmt_datetime": lambda value: _fmt_datetime(value, tz),
        "fmt_date": lambda value: _fmt_date(value, tz),
        "now": get_state(request).clock(),
    }
    base.update(context)
    return templates.TemplateResponse(request, name, base, status_code=status_code)


def redirect(url: str, **params: str) -> RedirectResponse:
    """303 redirect after a POST (query parameters appended, e.g. a notice key)."""
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    return RedirectResponse(url, status_code=303)


def staff_router(**kwargs: Any) -> APIRouter:
    """An ``/admin`` router: every unsafe request needs a session and its CSRF token. Routes add
    ``Depends(require_role(...))`` (or ``current_user``) themselves."""
    dependencies = [Depends(csrf_protect), *kwargs.pop("dependencies", [])]
    return APIRouter(prefix="/admin", dependencies=dependencies, **kwargs)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "*/*" in accept or not accept


def install_error_pages(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        target = "/admin/login"
        if request.method == "GET":
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += f"?next={quote(path, safe='')}"
        if request.headers.get("HX-Request") or request.method != "GET" or not _wants_html(request):
            return JSONResponse({"detail": "Cần đăng nhập."}, status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 403, title="Không có quyền", message=str(exc))

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        message = "Yêu cầu bị từ chối vì thiếu mã bảo vệ (CSRF). Anh/chị vui lòng tải lại trang rồi thử lại."
        return render(request, "error.html", 403, title="Yêu cầu không hợp lệ", message=message)

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 404, title="Không tìm thấy", message=str(exc))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 400, title="Dữ liệu không hợp lệ", message=str(exc))

    async def invalid_input(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/admin"):  # the rest of the app keeps FastAPI's JSON answer
            return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
        message = "Dữ liệu gửi lên không hợp lệ (thiếu, sai kiểu hoặc quá dài). Anh/chị vui lòng kiểm tra lại."
        return render(request, "error.html", 400, title="Dữ liệu không hợp lệ", message=message)

    app.add_exception_handler(RequestValidationError, invalid_input)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(PageNotFound, not_found)
    app.add_exception_handler(BadRequest, bad_request)


@dataclass(frozen=True)
class Pager:
    page: int
    prev_url: str | None
    next_url: str | None


PAGE_SIZE = 50


def page_number(raw: str | None) -> int:
    """?page=N as a positive int (anything else is page 1)."""
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def make_pager(request: Request, page: int, has_next: bool) -> Pager:
    def url(number: int) -> str:
        params = dict(request.query_params)
        params["page"] = str(number)
        return f"{request.url.path}?{urlencode(params)}"

    return Pager(page, url(page - 1) if page > 1 else None, url(page + 1) if has_next else None)
