"""The FastAPI application on :8000: catalogue API, channel gateway and back office."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.settings import Settings, get_settings
from knowledge_base.api import router as procedures_router
from knowledge_base.catalogue import Catalogue


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.catalogue = Catalogue.from_settings(settings)
        yield
        app.state.catalogue.searcher.backend.close()

    app = FastAPI(title="Một cửa assistant", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings

    @app.get("/health")
    def health() -> dict[str, object]:
        catalogue: Catalogue | None = getattr(app.state, "catalogue", None)
        return {
            "status": "ok",
            "procedures": catalogue.store.count() if catalogue else 0,
            "search": settings.search_backend,
        }

    app.include_router(procedures_router)
    return app
