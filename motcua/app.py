"""The FastAPI application on :8000: catalogue API, channel gateway and back office."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import backoffice
from connectors import telegram, webchat, zalo
from connectors.gateway import Gateway
from connectors.rasa_client import RasaClient
from core.db import get_engine, migrate
from core.handoff import handoff_service_from_settings
from core.settings import Settings, get_settings
from knowledge_base.api import router as procedures_router
from knowledge_base.catalogue import Catalogue


def settle_heap() -> None:
    """Keep the garbage collector off what lives as long as the app (called once start-up is done).

    The catalogue, the SQLAlchemy and FastAPI machinery are a few hundred thousand objects that are never
    garbage; every full collection walked them all (tens of ms, more on a busy machine) while webhooks
    waited for their ack. ``gc.freeze`` moves them out of the collector's generations, so a collection
    only looks at what requests allocate; the startup garbage is collected first so none of it is frozen.
    Once per process (tests start many apps: frozen objects are never freed)."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = get_engine(settings.database_url)
    gateway = Gateway(engine, RasaClient(settings.rasa_url), handoff_service_from_settings(settings, engine))
    hub = webchat.WebchatHub()
    gateway.add_sender(webchat.WebchatSender(hub))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.database_url.startswith("sqlite"):
            migrate(settings.database_url)  # the embedded default: bring it to the latest schema
        app.state.catalogue = Catalogue.from_settings(settings)
        await gateway.start()  # idempotent: one inbox worker and one dispatcher per app
        settle_heap()
        try:
            yield
        finally:
            await gateway.stop()
            app.state.catalogue.searcher.backend.close()

    app = FastAPI(title="Một cửa assistant", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.gateway = gateway
    app.state.webchat_hub = hub
    # Platform adapters add their webhook routes and senders; each answers 404 when its credentials are unset.
    app.state.channels = {
        "webchat": True,
        "zalo": zalo.install(app, settings, gateway),
        "telegram": telegram.install(app, settings, gateway),
    }

    @app.get("/health")
    def health() -> dict[str, object]:
        catalogue: Catalogue | None = getattr(app.state, "catalogue", None)
        return {
            "status": "ok",
            "procedures": catalogue.store.count() if catalogue else 0,
            "search": settings.search_backend,
            "channels": app.state.channels,
            "gateway": gateway.running,
        }

    app.include_router(procedures_router)
    app.include_router(webchat.router)  # POST /api/chat, /api/chat/stream, /api/chat/history, /widget.js
    # --- back office (backoffice/ helper): its routers are mounted here ---------------------------------
    backoffice.install(app, settings)  # staff back office at /admin
    # --- end back office ------------------------------------------------------------------------------
    return app
