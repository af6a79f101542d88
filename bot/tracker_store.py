"""Conversation tracker store configured from the environment (endpoints.yml: ``type:
bot.tracker_store.EnvSQLTrackerStore``).

Rasa's YAML can read ``${VAR}`` but has no defaults, so the choice lives here:
- ``RASA_TRACKER_DB_URL`` (e.g. ``postgresql://motcua:secret@127.0.0.1:5432/rasa``) → that database;
- otherwise SQLite at ``$MOTCUA_DATA_DIR/rasa_tracker.db`` (MOTCUA_DATA_DIR defaults to ./data).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain


def tracker_db_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """dialect/host/port/db/username/password for SQLTrackerStore from the environment."""
    env = os.environ if environ is None else environ
    url = env.get("RASA_TRACKER_DB_URL", "").strip()
    if url:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        return {
            "dialect": parsed.drivername,
            "host": parsed.host,
            "port": parsed.port,
            "db": parsed.database or "rasa",
            "username": parsed.username,
            "password": parsed.password,
        }
    data_dir = Path(env.get("MOTCUA_DATA_DIR", "").strip() or "data").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return {"dialect": "sqlite", "db": str(data_dir / "rasa_tracker.db")}


class EnvSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose connection comes from :func:`tracker_db_settings`."""

    def __init__(self, domain: Domain | None = None, event_broker: Any = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # endpoints.yml has no url: everything comes from the environment
        super().__init__(domain=domain, event_broker=event_broker, **{**kwargs, **tracker_db_settings()})
