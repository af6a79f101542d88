"""Staff back office at /admin (FastAPI + Jinja2): accounts, complaints triage, handoff inbox, dashboard,
catalogue and dossier admin. ``install(app, settings)`` mounts it on the main application.

Writing a page: in a module of this package define ``router = staff_router()`` (``backoffice.web``; an
``/admin`` router whose POSTs all need the session's CSRF token), give each route
``user: Annotated[StaffUser, Depends(require_role(OFFICER, SUPERVISOR, ADMIN))]`` (``backoffice.auth``)
and ``session: Annotated[Session, Depends(db)]`` (``backoffice.state``; commit what you change), answer
with ``render(request, "page.html", **ctx)`` (templates extend ``base.html``; forms carry
``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``, fetch() sends ``X-CSRF-Token``:
``motcua.post(url, data)`` in static/backoffice.js; no inline script or style: the pages' CSP allows only
static/ files), record staff actions with ``audit.record(...)``, and
raise ``PageNotFound`` / ``Forbidden`` / ``BadRequest`` for the error pages. Modules are mounted by
discovery: any module here with a ``router`` (or ``routers``) attribute."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from core.clock import Clock
    from core.settings import Settings


def router_modules() -> list[str]:
    """Every module of this package, login first: those with a ``router`` (or ``routers``) get mounted.

    Discovery keeps the parts of the back office (written in parallel) from editing one shared list."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    return [f"{__name__}.{name}" for name in sorted(names, key=lambda name: name != "login")]


def install(app: FastAPI, settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None) -> None:
    """Mount the back office's routers, static files and error pages on ``app``."""
    from fastapi.staticfiles import StaticFiles

    from backoffice.state import BackofficeState
    from backoffice.web import STATIC_DIR, STATIC_URL, SecurityHeaders, install_error_pages
    from core.clock import system_clock
    from core.db import get_engine

    app.state.backoffice = BackofficeState(
        settings=settings,
        engine=engine or get_engine(settings.database_url),
        clock=clock or system_clock,
        session_lifetime=timedelta(hours=settings.staff_session_hours),
        secure_cookies=settings.secure_cookies,
    )
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="backoffice-static")
    app.add_middleware(SecurityHeaders)  # CSP, no framing, nosniff, referrer policy on /admin
    install_error_pages(app)
    for name in router_modules():
        module = importlib.import_module(name)
        routers = getattr(module, "routers", None) or ((module.router,) if hasattr(module, "router") else ())
        for router in routers:
            app.include_router(router)
