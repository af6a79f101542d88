"""Every back-office route × every role (officer, supervisor, admin, nobody), and CSRF on every POST.

ROUTES is the single table of /admin routes: a route missing from it fails ``test_every_route_is_listed``.
Add yours with the roles that may use it and, for a POST, data that succeeds for them. ``{code}``,
``{user_id}`` and ``{n}`` in a path or data are filled by ``placeholders``; a route needing other records
gives its own ``prepare(bo) -> dict`` (called once per request, so each request gets fresh records).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from core.complaints import ComplaintService
from core.models import AuditLogRow, ConversationRow
from tests.backoffice_support import AGENCY, Backoffice, make_backoffice

OFFICER, SUPERVISOR, ADMIN, NOBODY = "officer", "supervisor", "admin", "nobody"
ALL = frozenset({OFFICER, SUPERVISOR, ADMIN})
LEADS = frozenset({SUPERVISOR, ADMIN})
ADMINS = frozenset({ADMIN})
CSV = (  # registers a dossier, then (next requests) changes nothing
    "code,status,procedure_code,applicant_name,applicant_phone,appointment_date\n"
    "ROUTE-TEST-1,received,1.001193,Nguyễn Văn A,0912345678,2030-01-01\n"
).encode()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]  # roles that may use it; the others get 403, nobody is sent to the login page
    data: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None
    prepare: Callable[[Backoffice], dict[str, str]] | None = None
    prepare_as: Callable[[Backoffice, str], dict[str, str]] | None = None  # prepare, given the requester's username
    redirect_to: str = ""  # where an allowed request may be sent (default: anywhere but the login page)


# --- handoff inbox, dashboard, catalogue admin (back office part 2) ---------------------------------
def waiting_conversation(bo: Backoffice) -> dict[str, str]:
    from core.handoff import HandoffService

    sender = f"route-{next(_counter)}"
    return {"conversation_id": str(HandoffService(bo.engine).request("telegram", sender).conversation_id)}


def conversation_taken_by(bo: Backoffice, username: str) -> dict[str, str]:
    """A conversation the requester holds (a waiting one for nobody)."""
    from core.handoff import HandoffService

    values = waiting_conversation(bo)
    if username:
        HandoffService(bo.engine).take(int(values["conversation_id"]), username)
    return values


def conversation_returned_by(bo: Backoffice, username: str) -> dict[str, str]:
    from core.handoff import HandoffService

    values = conversation_taken_by(bo, username)
    HandoffService(bo.engine).return_to_bot(int(values["conversation_id"]))
    return values


def catalogue_ready(bo: Backoffice) -> dict[str, str]:
    """The catalogue the app's lifespan would load, and no catalogue job still running (they audit-log)."""
    from knowledge_base.catalogue import Catalogue

    if getattr(bo.app.state, "catalogue", None) is None:
        bo.app.state.catalogue = Catalogue.from_settings(bo.settings)
    jobs = getattr(bo.app.state, "catalogue_jobs", None)
    if jobs is not None:
        jobs.wait(120)
    return {"code": next(bo.app.state.catalogue.store.all()).code}


def catalogue_job(bo: Backoffice) -> str:
    """The id of a finished catalogue job (a reindex started here when there is none yet)."""
    from backoffice.catalogue_admin_jobs import CatalogueJobs

    catalogue_ready(bo)
    jobs = getattr(bo.app.state, "catalogue_jobs", None)
    if jobs is None:
        jobs = bo.app.state.catalogue_jobs = CatalogueJobs(bo.settings.data_dir / "uploads")
    if not jobs.list():
        jobs.start_reindex(bo.app.state.catalogue, actor="test")
        jobs.wait(120)
    return str(jobs.list()[0].id)


def failed_delivery(bo: Backoffice) -> dict[str, str]:
    """An outbox row the gateway gave up on (for the failed-deliveries page)."""
    from connectors import outbox
    from connectors.base import OutgoingMessage
    from core.models import OutboxMessageRow

    with Session(bo.engine) as session, session.begin():
        outbox_id = outbox.enqueue(session, OutgoingMessage("zalo", f"route-{next(_counter)}", text="Chào"))
        session.execute(update(OutboxMessageRow).where(OutboxMessageRow.id == outbox_id).values(status="failed"))
    return {"outbox_id": str(outbox_id)}


def complaint_photo(bo: Backoffice) -> dict[str, str]:
    """A Telegram complaint whose photo was downloaded into the data directory."""
    from connectors.telegram_files import attachments_dir, stored_stem

    service = ComplaintService(bo.engine)
    file_id = f"route-photo-{next(_counter)}"
    code = service.submit("Ảnh quầy", channel="telegram", sender_id="7001", consent=False, attachments=[file_id]).code
    service.assign_agency(code, AGENCY, actor="test")
    directory = attachments_dir(bo.settings.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stored_stem(file_id)}.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    return {"code": code, "index": "0"}


def handoff_photo(bo: Backoffice) -> dict[str, str]:
    """A waiting Telegram conversation whose citizen sent a photo (already downloaded)."""
    from connectors.telegram_files import attachments_dir, stored_stem
    from core.models import ChatMessageRow, InboxMessageRow

    values = waiting_conversation(bo)
    with Session(bo.engine) as session, session.begin():
        conversation = session.get(ConversationRow, int(values["conversation_id"]))
        assert conversation is not None
        file_id = f"route-photo-{next(_counter)}"
        inbox = InboxMessageRow(
            channel="telegram", platform_message_id=file_id, sender_id=conversation.sender_id, kind="image",
            payload={"attachments": [file_id]},
        )  # fmt: skip
        session.add(inbox)
        session.flush()
        message = ChatMessageRow(
            channel="telegram", sender_id=conversation.sender_id, direction="in", text="[Ảnh]",
            payload={"inbox_id": inbox.id, "kind": "image"},
        )  # fmt: skip
        session.add(message)
        session.flush()
        values["message_id"] = str(message.id)
    directory = attachments_dir(bo.settings.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stored_stem(file_id)}.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    return {**values, "index": "0"}


CATALOGUE_FILE = ("e.jsonl", b'{"ma_thu_tuc": "9.990009", "ten_thu_tuc": "Thu tuc thu nghiem"}\n', "application/json")
# --- end part 2 helpers ------------------------------------------------------------------------------


ROUTES: tuple[Route, ...] = (
    Route("GET", "/admin", ALL),
    Route("GET", "/admin/", ALL),
    Route("POST", "/admin/logout", ALL, redirect_to="/admin/login"),
    Route("GET", "/admin/audit", ADMINS),
    Route("GET", "/admin/users", ADMINS),
    Route(
        "POST", "/admin/users", ADMINS, {"username": "user{n}", "role": "officer", "password": "a long pass phrase 1"}
    ),
    Route("POST", "/admin/users/{user_id}/active", ADMINS, {"active": "0"}),
    Route("GET", "/admin/complaints", ALL),
    Route("GET", "/admin/complaints/{code}", ALL),
    Route("POST", "/admin/complaints/{code}/assign", LEADS, {"agency": AGENCY}),
    Route("POST", "/admin/complaints/{code}/classify", ALL, {"category": "other", "priority": "high"}),
    Route("POST", "/admin/complaints/{code}/start", ALL),
    Route("POST", "/admin/complaints/{code}/reply", ALL, {"text": "Cơ quan đã tiếp nhận và xử lý."}),
    Route("POST", "/admin/complaints/{code}/close", ALL, {"outcome": "Đã giải quyết."}),
    Route("POST", "/admin/complaints/{code}/notes", ALL, {"text": "Ghi chú nội bộ"}),
    Route("GET", "/admin/dossiers", ALL),
    Route("POST", "/admin/dossiers/upload", LEADS, files={"file": ("s.csv", CSV, "text/csv")}),
    # handoff inbox, dashboard, catalogue admin (part 2)
    Route("GET", "/admin/handoff", ALL, redirect_to="/admin/handoffs"),
    Route("GET", "/admin/handoffs", ALL),
    Route("GET", "/admin/handoffs/waiting", ALL),
    Route("GET", "/admin/handoffs/{conversation_id}", ALL, prepare=waiting_conversation),
    Route("GET", "/admin/handoffs/{conversation_id}/messages", ALL, prepare=waiting_conversation),
    Route("POST", "/admin/handoffs/{conversation_id}/take", ALL, prepare=waiting_conversation),
    Route("POST", "/admin/handoffs/{conversation_id}/reply", ALL, {"text": "Chào"}, prepare_as=conversation_taken_by),
    Route("POST", "/admin/handoffs/{conversation_id}/return", ALL, prepare_as=conversation_taken_by),
    Route("POST", "/admin/handoffs/{conversation_id}/resume", ALL, prepare_as=conversation_returned_by),
    Route("GET", "/admin/dashboard", LEADS),
    Route("GET", "/admin/dashboard.csv", LEADS),
    Route("GET", "/admin/dashboard/unanswered.csv", LEADS),
    Route("GET", "/admin/catalogue", ADMINS, prepare=catalogue_ready),
    Route("GET", "/admin/catalogue/procedures/{code}", ADMINS, prepare=catalogue_ready),
    Route("POST", "/admin/catalogue/import", ADMINS, files={"file": CATALOGUE_FILE}, prepare=catalogue_ready),
    Route("POST", "/admin/catalogue/reindex", ADMINS, prepare=catalogue_ready),
    Route("GET", "/admin/catalogue/jobs/{job_id}", ADMINS, prepare=lambda bo: {"job_id": catalogue_job(bo)}),
    Route("GET", "/admin/catalogue/jobs/{job_id}/status", ADMINS, prepare=lambda bo: {"job_id": catalogue_job(bo)}),
    # failed deliveries (channels)
    Route("GET", "/admin/deliveries", ALL),
    Route("GET", "/admin/complaints/{code}/attachments/{index}", ALL, prepare=complaint_photo),
    Route(
        "GET", "/admin/handoffs/{conversation_id}/messages/{message_id}/attachments/{index}", ALL, prepare=handoff_photo
    ),
    Route("POST", "/admin/deliveries/{outbox_id}/retry", ALL, prepare=failed_delivery),
    Route("POST", "/admin/deliveries/{outbox_id}/dismiss", ALL, prepare=failed_delivery),
)
PUBLIC = {("GET", "/admin/login"), ("POST", "/admin/login")}  # tested in test_backoffice_auth.py

_counter = itertools.count(1)


@pytest.fixture(scope="module")
def bo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backoffice]:
    backoffice = make_backoffice(Path(tmp_path_factory.mktemp("routes")))
    backoffice.users = {  # type: ignore[attr-defined]
        OFFICER: backoffice.add_user("officer1", OFFICER),
        SUPERVISOR: backoffice.add_user("supervisor1", SUPERVISOR),
        ADMIN: backoffice.add_user("admin1", ADMIN, agency=None),
    }
    yield backoffice
    backoffice.engine.dispose()


def new_complaint(bo: Backoffice, *, agency: str | None = AGENCY, content: str = "Cán bộ thu thêm tiền") -> str:
    service = ComplaintService(bo.engine)
    code = service.submit(content, channel="telegram", sender_id="7001", consent=False).code
    if agency:
        service.assign_agency(code, agency, actor="test")
    return code


def placeholders(bo: Backoffice, route: Route) -> dict[str, str]:
    n = next(_counter)
    values = {"n": str(n)}
    if "{code}" in route.path:
        values["code"] = new_complaint(bo)
    if "{user_id}" in route.path:
        values["user_id"] = str(bo.add_user(f"spare{n}", OFFICER).id)
    return values


def fill(route: Route, bo: Backoffice, username: str = "") -> tuple[str, dict[str, str]]:
    values = placeholders(bo, route) | (route.prepare(bo) if route.prepare else {})
    values |= route.prepare_as(bo, username) if route.prepare_as else {}
    return route.path.format(**values), {k: v.format(**values) for k, v in route.data.items()}


def request(bo: Backoffice, route: Route, role: str, *, csrf: bool = True):  # type: ignore[no-untyped-def]
    users = bo.users  # type: ignore[attr-defined]
    client = bo.client(None if role == NOBODY else users[role])
    path, data = fill(route, bo, "" if role == NOBODY else users[role].username)
    if route.method == "GET":
        return client.get(path)
    if csrf:
        data = {"csrf_token": client.csrf, **data}
    return client.post(path, data=data, files=route.files)


CASES = [pytest.param(route, role, id=f"{route.method} {route.path} as {role}") for route in ROUTES for role in
         (OFFICER, SUPERVISOR, ADMIN, NOBODY)]  # fmt: skip


@pytest.mark.parametrize(("route", "role"), CASES)
def test_route_checks_the_role_server_side(bo: Backoffice, route: Route, role: str) -> None:
    response = request(bo, route, role)
    if role == NOBODY:
        if route.method == "GET":
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/login?next=")
        else:
            assert response.status_code == 401
    elif role in route.roles:
        assert response.status_code in (200, 303), response.text[:500]
        location = response.headers.get("location", "")
        if route.redirect_to:
            assert location.startswith(route.redirect_to)
        else:
            assert not location.startswith("/admin/login")
    else:
        assert response.status_code == 403, response.text[:500]
        assert "không có quyền" in response.text.lower()


POSTS = [pytest.param(route, id=f"{route.method} {route.path}") for route in ROUTES if route.method == "POST"]


@pytest.mark.parametrize("route", POSTS)
def test_post_without_csrf_token_is_refused_and_changes_nothing(bo: Backoffice, route: Route) -> None:
    role = ADMIN if ADMIN in route.roles else sorted(route.roles)[0]
    with Session(bo.engine) as session:
        audited = session.scalar(select(func.count()).select_from(AuditLogRow))
    response = request(bo, route, role, csrf=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    with Session(bo.engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditLogRow)) == audited


def test_a_wrong_csrf_token_is_refused_too(bo: Backoffice) -> None:
    client = bo.client(bo.users[ADMIN])  # type: ignore[attr-defined]
    code = new_complaint(bo)
    response = client.post(f"/admin/complaints/{code}/notes", data={"csrf_token": "x" * 43, "text": "hi"})
    assert response.status_code == 403
    ok = client.post(f"/admin/complaints/{code}/notes", data={"text": "hi"}, headers={"X-CSRF-Token": client.csrf})
    assert ok.status_code == 303  # the header (htmx / fetch) is accepted as well


def mounted_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every API route, through included routers (FastAPI wraps those; duck-typed)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from mounted_routes(inner.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            yield from ((method, prefix + route.path) for method in route.methods if method != "HEAD")


def test_every_route_is_listed(bo: Backoffice) -> None:
    listed = {(route.method, route.path) for route in ROUTES} | PUBLIC
    mounted = {(method, path) for method, path in mounted_routes(bo.app.routes) if path.startswith("/admin")}
    assert {("GET", "/admin/complaints"), ("POST", "/admin/login")} <= mounted  # the walk does see the routes
    schema = {(m.upper(), p) for p, ops in bo.app.openapi()["paths"].items() for m in ops if p.startswith("/admin")}
    assert schema <= mounted
    assert mounted - listed == set(), "add these back-office routes to ROUTES"
