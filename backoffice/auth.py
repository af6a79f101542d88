"""Staff accounts and access: argon2 passwords, server-side sessions, login throttling, roles, CSRF.

- The session cookie holds a random token; ``staff_sessions`` keeps only its SHA-256, the user and the
  session's CSRF token. Cookies are HttpOnly, SameSite=Lax, and Secure on HTTPS (or when configured).
- Every unsafe request (POST...) must carry the session's CSRF token: form field ``csrf_token`` or
  header ``X-CSRF-Token`` (htmx). The login form, which has no session yet, uses a double-submit cookie.
- Route dependencies: ``current_user`` (logged in) and ``require_role(*roles)``; routers made by
  ``backoffice.web.staff_router`` also run ``csrf_protect``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backoffice.state import db, get_state
from core.clock import as_utc
from core.models import LoginAttemptRow, StaffSessionRow, StaffUserRow
from knowledge_base.text import nfc

OFFICER, SUPERVISOR, ADMIN = "officer", "supervisor", "admin"
ROLES = (OFFICER, SUPERVISOR, ADMIN)
ROLE_LABELS = {OFFICER: "cán bộ", SUPERVISOR: "lãnh đạo / giám sát", ADMIN: "quản trị"}

SESSION_COOKIE = "motcua_staff"
LOGIN_CSRF_COOKIE = "motcua_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PASSWORD_MIN_LENGTH = 10
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_CLIENT = 20

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")  # keeps "no such user" as slow as a wrong password


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    full_name: str
    role: str  # officer | supervisor | admin
    agency: str | None  # agency code

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def is_supervisor(self) -> bool:
        return self.role == SUPERVISOR


def to_staff_user(row: StaffUserRow) -> StaffUser:
    return StaffUser(row.id, row.username, row.full_name, row.role, row.agency)


# --- errors the web layer turns into pages ----------------------------------------------------------


class LoginRequired(Exception):
    """No valid session: HTML requests are sent to /admin/login."""


class Forbidden(Exception):
    """Logged in, but the role (or agency) does not allow this."""

    def __init__(self, message: str = "Tài khoản của anh/chị không có quyền truy cập trang này.") -> None:
        super().__init__(message)


class CsrfRejected(Exception):
    """An unsafe request without the right CSRF token."""


class AccountError(ValueError):
    """A user that cannot be created as given; ``str(exc)`` is a polite Vietnamese sentence."""


class InvalidCredentials(Exception):
    pass


class LoginThrottled(Exception):
    def __init__(self, retry_at: datetime) -> None:
        super().__init__(f"throttled until {retry_at.isoformat()}")
        self.retry_at = retry_at


# --- passwords and users ----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def normalize_username(username: str) -> str:
    return nfc(username or "").strip().lower()


def password_problem(password: str, username: str = "") -> str | None:
    """Why this password is refused (Vietnamese), or None when it is acceptable."""
    if not password or not password.strip():
        return "Mật khẩu không được để trống."
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Mật khẩu cần ít nhất {PASSWORD_MIN_LENGTH} ký tự."
    if len(set(password)) < 4:
        return "Mật khẩu quá đơn giản (quá ít ký tự khác nhau)."
    if username and username.lower() in password.lower():
        return "Mật khẩu không được chứa tên đăng nhập."
    if password.isdigit():
        return "Mật khẩu không được chỉ gồm chữ số."
    return None


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    full_name: str = "",
    agency: str | None = None,
    now: datetime,
) -> StaffUser:
    """Add a staff account (the caller commits); raises AccountError with a polite reason."""
    name = normalize_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise AccountError(
            "Tên đăng nhập chỉ gồm chữ thường không dấu, chữ số và . _ - (2 đến 64 ký tự), bắt đầu bằng chữ hoặc số."
        )
    if role not in ROLES:
        raise AccountError(f"Vai trò phải là một trong: {', '.join(ROLES)}.")
    problem = password_problem(password, name)
    if problem:
        raise AccountError(problem)
    if session.scalar(select(StaffUserRow.id).where(StaffUserRow.username == name)) is not None:
        raise AccountError(f"Tên đăng nhập “{name}” đã tồn tại.")
    agency_code = (agency or "").strip().upper() or None
    row = StaffUserRow(
        username=name,
        full_name=nfc(full_name).strip(),
        password_hash=hash_password(password),
        role=role,
        agency=agency_code,
        active=True,
        created_at=as_utc(now),
    )
    session.add(row)
    session.flush()
    return to_staff_user(row)


def set_password(session: Session, user_id: int, password: str) -> None:
    row = session.get(StaffUserRow, user_id)
    if row is None:
        raise AccountError("Không tìm thấy tài khoản.")
    problem = password_problem(password, row.username)
    if problem:
        raise AccountError(problem)
    row.password_hash = hash_password(password)
    session.execute(delete(StaffSessionRow).where(StaffSessionRow.user_id == user_id))


# --- login and throttling ---------------------------------------------------------------------------


def throttled_until(session: Session, username: str, client: str, now: datetime) -> datetime | None:
    """When this username / client may try again, if too many recent failures; else None.

    Per username: failures in the window since its last successful login. Per client address:
    failures in the window (someone trying many usernames)."""
    since = as_utc(now) - THROTTLE_WINDOW
    last_ok = session.scalar(
        select(func.max(LoginAttemptRow.at)).where(
            LoginAttemptRow.username == username, LoginAttemptRow.succeeded.is_(True), LoginAttemptRow.at >= since
        )
    )
    user_since = max(since, as_utc(last_ok)) if last_ok else since
    checks = [(LoginAttemptRow.username == username, user_since, MAX_FAILURES_PER_USERNAME)]
    if client:
        checks.append((LoginAttemptRow.client == client, since, MAX_FAILURES_PER_CLIENT))
    retry_at: datetime | None = None
    for condition, start, limit in checks:
        times = session.scalars(
            select(LoginAttemptRow.at)
            .where(condition, LoginAttemptRow.succeeded.is_(False), LoginAttemptRow.at > start)
            .order_by(LoginAttemptRow.at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            until = as_utc(times[-1]) + THROTTLE_WINDOW  # the oldest of the last ``limit`` failures expires
            retry_at = until if retry_at is None else max(retry_at, until)
    return retry_at


def authenticate(session: Session, username: str, password: str, *, client: str, now: datetime) -> StaffUser:
    """Check a login (the caller commits the recorded attempt). Raises LoginThrottled or InvalidCredentials."""
    name = normalize_username(username)[:64]
    retry_at = throttled_until(session, name, client, now)
    if retry_at is not None:
        raise LoginThrottled(retry_at)
    row = session.scalar(select(StaffUserRow).where(StaffUserRow.username == name)) if name else None
    ok = verify_password(row.password_hash, password) if row is not None else verify_password(_DUMMY_HASH, password)
    ok = ok and row is not None and row.active
    session.add(LoginAttemptRow(username=name, client=client, succeeded=ok, at=as_utc(now)))
    if not ok or row is None:
        raise InvalidCredentials()
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = hash_password(password)
    row.last_login_at = as_utc(now)
    return to_staff_user(row)


# --- sessions ---------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user: StaffUser, *, now: datetime, lifetime: timedelta) -> str:
    """Create a session row (the caller commits) and return the cookie token."""
    token = secrets.token_urlsafe(32)
    moment = as_utc(now)
    session.execute(delete(StaffSessionRow).where(StaffSessionRow.expires_at < moment))
    session.add(
        StaffSessionRow(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=moment,
            expires_at=moment + lifetime,
        )
    )
    return token


def load_session(session: Session, token: str, *, now: datetime) -> tuple[StaffUser, str] | None:
    """The user and CSRF token of a live session, or None (unknown, expired, or user deactivated)."""
    if not token or len(token) > 256:
        return None
    found = session.execute(
        select(StaffSessionRow, StaffUserRow)
        .join(StaffUserRow, StaffUserRow.id == StaffSessionRow.user_id)
        .where(StaffSessionRow.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    staff_session, user = found
    if as_utc(staff_session.expires_at) <= as_utc(now) or not user.active:
        return None
    return to_staff_user(user), staff_session.csrf_token


def end_session(session: Session, token: str) -> None:
    if token:
        session.execute(delete(StaffSessionRow).where(StaffSessionRow.token_hash == hash_token(token)))


def cookie_secure(request: Request) -> bool:
    return get_state(request).secure_cookies or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(get_state(request).session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))


# --- FastAPI dependencies ---------------------------------------------------------------------------


def _load(request: Request, session: Session) -> StaffUser | None:
    """Load the session once per request; ``request.state.staff_user`` / ``csrf_token`` for templates."""
    if not getattr(request.state, "staff_loaded", False):
        loaded = load_session(session, request.cookies.get(SESSION_COOKIE, ""), now=get_state(request).clock())
        request.state.staff_user, request.state.csrf_token = loaded if loaded else (None, "")
        request.state.staff_loaded = True
    user: StaffUser | None = request.state.staff_user
    return user


def optional_user(request: Request, session: Annotated[Session, Depends(db)]) -> StaffUser | None:
    return _load(request, session)


def current_user(request: Request, session: Annotated[Session, Depends(db)]) -> StaffUser:
    user = _load(request, session)
    if user is None:
        raise LoginRequired()
    return user


def require_role(*roles: str) -> Callable[[StaffUser], StaffUser]:
    """Dependency: the logged-in user, if their role is one of ``roles`` (else a 403 page)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(user: Annotated[StaffUser, Depends(current_user)]) -> StaffUser:
        if user.role not in roles:
            raise Forbidden()
        return user

    return dependency


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER, "")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            form = await request.form()
        except Exception:  # a malformed body is simply "no token"
            return ""
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def csrf_protect(request: Request, session: Annotated[Session, Depends(db)]) -> None:
    """Router dependency: unsafe requests need a session and its CSRF token (else 401/403)."""
    if request.method in SAFE_METHODS:
        return
    user = _load(request, session)
    if user is None:
        raise LoginRequired()
    if not _same(await _submitted_token(request), request.state.csrf_token):
        raise CsrfRejected()


async def login_csrf_protect(request: Request) -> None:
    """The login form's double-submit check: the form's token must equal the login cookie."""
    if request.method in SAFE_METHODS:
        return
    if not _same(await _submitted_token(request), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise CsrfRejected()


def login_csrf_token(request: Request) -> str:
    """The login form's token: the one in the login cookie, else a new one (set it with the next function)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_login_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path="/admin", httponly=True, samesite="lax", secure=cookie_secure(request)
    )
