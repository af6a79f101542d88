"""Staff login: argon2 passwords, session cookies, throttling, CSRF on the login form, CLI accounts."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.auth import SESSION_COOKIE, AccountError, create_user
from core.clock import ManualClock
from core.models import ApiKeyRow, AuditLogRow, StaffSessionRow, StaffUserRow
from tests.backoffice_support import PASSWORD, Backoffice, StaffClient, make_backoffice

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(datetime.now(timezone.utc))


@pytest.fixture()
def bo(tmp_path: Path, clock: ManualClock) -> Backoffice:
    backoffice = make_backoffice(tmp_path, clock=clock)
    backoffice.add_user("lan", "officer", full_name="Nguyễn Thị Lan")
    return backoffice


def login_form(client: StaffClient, next_: str = "") -> str:
    page = client.get("/admin/login" + (f"?next={next_}" if next_ else ""))
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match[1]


def login(client: StaffClient, password: str, username: str = "lan", **extra: str):  # type: ignore[no-untyped-def]
    token = login_form(client)
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token, **extra})


def test_login_sets_an_httponly_samesite_session_cookie_and_stores_only_its_hash(bo: Backoffice) -> None:
    client = bo.client()
    response = login(client, PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/admin/complaints"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = client.cookies[SESSION_COOKIE]
    with Session(bo.engine) as session:
        row = session.scalars(select(StaffSessionRow)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
        user = session.scalars(select(StaffUserRow)).one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert session.scalar(select(AuditLogRow.action)) == "user.login"
    page = client.get("/admin/complaints")
    assert page.status_code == 200 and "Nguyễn Thị Lan" in page.text


def test_cookie_is_secure_over_https_or_when_configured(bo: Backoffice) -> None:
    https = StaffClient(bo.app, base_url="https://testserver", follow_redirects=False)
    cookie = login(https, PASSWORD).headers["set-cookie"]
    assert "Secure" in cookie
    bo.app.state.backoffice.secure_cookies = True
    plain = bo.client()
    assert all("Secure" in c for c in login(plain, PASSWORD).headers.get_list("set-cookie"))


def test_wrong_password_is_refused_politely(bo: Backoffice) -> None:
    client = bo.client()
    response = login(client, "not the password")
    assert response.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in response.text
    assert SESSION_COOKIE not in client.cookies
    assert login(client, PASSWORD, username="nobody-here").status_code == 401


def test_login_without_the_form_token_is_refused(bo: Backoffice) -> None:
    client = bo.client()
    login_form(client)
    response = client.post("/admin/login", data={"username": "lan", "password": PASSWORD})
    assert response.status_code == 403 and SESSION_COOKIE not in client.cookies
    stranger = bo.client()  # a cross-site form: a token, but not the one of this browser's cookie
    response = stranger.post("/admin/login", data={"username": "lan", "password": PASSWORD, "csrf_token": "abc"})
    assert response.status_code == 403


def test_five_failures_lock_the_username_for_15_minutes(bo: Backoffice, clock: ManualClock) -> None:
    client = bo.client()
    for _ in range(5):
        assert login(client, "wrong password!").status_code == 401
    locked = login(client, PASSWORD)  # even the right password waits
    assert locked.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in locked.text and "15 phút" in locked.text
    other_browser = bo.client()
    assert login(other_browser, PASSWORD).status_code == 429  # per username, not per cookie
    clock.advance(minutes=15, seconds=1)
    assert login(client, PASSWORD).status_code == 303


def test_one_client_trying_many_usernames_is_throttled(bo: Backoffice) -> None:
    client = bo.client()
    for i in range(20):
        assert login(client, "guess-password", username=f"user{i}").status_code == 401
    assert login(client, PASSWORD).status_code == 429  # the right account, from the same address


def test_safe_redirect_after_login(bo: Backoffice) -> None:
    client = bo.client()
    assert login(client, PASSWORD, next="/admin/dossiers?q=1").headers["location"] == "/admin/dossiers?q=1"
    other = bo.client()
    assert login(other, PASSWORD, next="https://evil.example/admin").headers["location"] == "/admin/complaints"


def test_unauthenticated_requests(bo: Backoffice) -> None:
    client = bo.client()
    page = client.get("/admin/complaints?status=new")
    assert (
        page.status_code == 303 and page.headers["location"] == "/admin/login?next=%2Fadmin%2Fcomplaints%3Fstatus%3Dnew"
    )
    htmx = client.get("/admin/complaints", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/admin/login")
    forged = bo.client()
    forged.cookies.set(SESSION_COOKIE, "made-up-token")
    assert forged.get("/admin/complaints").status_code == 303


def test_session_expires_and_logout_ends_it(bo: Backoffice, clock: ManualClock) -> None:
    client = bo.client()
    login(client, PASSWORD)
    assert client.get("/admin/complaints").status_code == 200
    clock.advance(hours=8, seconds=1)
    assert client.get("/admin/complaints").status_code == 303
    clock.advance(hours=-8, seconds=-1)
    page = client.get("/admin/complaints")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/admin/logout", data={"csrf_token": csrf[1]}).status_code == 303
    replay = bo.client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/admin/complaints").status_code == 303
    with Session(bo.engine) as session:
        assert session.scalars(select(StaffSessionRow)).all() == []


def test_a_deactivated_account_loses_its_session(bo: Backoffice) -> None:
    admin = bo.add_user("root", "admin", agency=None)
    client = bo.client()
    login(client, PASSWORD)
    with Session(bo.engine) as session:
        lan = session.scalars(select(StaffUserRow).where(StaffUserRow.username == "lan")).one()
    admin_client = bo.client(admin)
    assert admin_client.form(f"/admin/users/{lan.id}/active", {"active": "0"}).status_code == 303
    assert client.get("/admin/complaints").status_code == 303
    assert login(bo.client(), PASSWORD).status_code == 401


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("an", "", "không được để trống"),
        ("an", "short", "ít nhất 10 ký tự"),
        ("an", "aaaaaaaaaaaa", "quá đơn giản"),
        ("an", "1234567890123", "chỉ gồm chữ số"),
        ("nguyenvanan", "nguyenvanan2025", "tên đăng nhập"),
        ("Lan", PASSWORD, "đã tồn tại"),
        ("bad name", PASSWORD, "Tên đăng nhập"),
    ],
)
def test_weak_passwords_and_duplicates_are_refused(bo: Backoffice, username: str, password: str, message: str) -> None:
    with Session(bo.engine) as session, pytest.raises(AccountError, match=message):
        create_user(session, username, password, role="officer", now=datetime.now(timezone.utc))


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOTCUA_DATA_DIR": str(tmp_path / "data")}
    env.pop("MOTCUA_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "motcua.cli", *args], input=stdin, capture_output=True, text=True, env=env,
        cwd=REPO, timeout=120,
    )  # fmt: skip


def test_cli_user_and_apikey_create(tmp_path: Path) -> None:
    ok = run_cli(tmp_path, "user", "create", "Admin", "--role", "admin", "--agency", "ubnd-p1", stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    assert "Đã tạo tài khoản admin" in ok.stdout and PASSWORD not in ok.stdout + ok.stderr
    again = run_cli(tmp_path, "user", "create", "admin", "--role", "admin", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "đã tồn tại" in again.stderr and "Traceback" not in again.stderr
    empty = run_cli(tmp_path, "user", "create", "lan", "--role", "officer", stdin="")
    assert empty.returncode == 2 and "không được để trống" in empty.stderr
    role = run_cli(tmp_path, "user", "create", "lan", "--role", "boss", stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "Vai trò" in role.stderr
    key = run_cli(tmp_path, "apikey", "create", "hcm-motcua")
    assert key.returncode == 0, key.stderr
    printed = key.stdout.strip()
    from core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'motcua.db'}")
    with Session(engine) as session:
        user = session.scalars(select(StaffUserRow)).one()
        assert (user.username, user.role, user.agency) == ("admin", "admin", "UBND-P1")
        stored = session.scalars(select(ApiKeyRow)).one()
        assert stored.key_hash == hashlib.sha256(printed.encode()).hexdigest() and printed not in stored.key_hash
    engine.dispose()
