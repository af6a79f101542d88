"""One typed settings object, read from the environment (names pinned in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    search_backend: str  # "sqlite" | "elasticsearch"
    elasticsearch_url: str
    elasticsearch_index: str
    rasa_url: str
    not_found_threshold: float
    channels: dict[str, str] = field(default_factory=dict)

    @property
    def search_db_path(self) -> Path:
        return self.data_dir / "search.db"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("MOTCUA_DATA_DIR", "data")).resolve()
        database_url = _env("MOTCUA_DATABASE_URL") or _env("DATABASE_URL")
        if not database_url:
            database_url = f"sqlite:///{data_dir / 'motcua.db'}"
        backend = _env("MOTCUA_SEARCH", "sqlite").lower()
        if backend not in {"sqlite", "elasticsearch"}:
            raise ValueError(f"MOTCUA_SEARCH must be 'sqlite' or 'elasticsearch', not {backend!r}")
        channel_names = (
            "ZALO_APP_ID", "ZALO_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_ACCESS_TOKEN",
            "ZALO_REFRESH_TOKEN", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
        )
        channels = {name: _env(name) for name in channel_names}
        channels["ZALO_API_BASE"] = _env("ZALO_API_BASE", "https://openapi.zalo.me")
        channels["ZALO_OAUTH_BASE"] = _env("ZALO_OAUTH_BASE", "https://oauth.zaloapp.com")
        channels["TELEGRAM_API_BASE"] = _env("TELEGRAM_API_BASE", "https://api.telegram.org")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            search_backend=backend,
            elasticsearch_url=_env("ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
            elasticsearch_index=_env("MOTCUA_ES_INDEX", "motcua-procedures"),
            rasa_url=_env("RASA_URL", "http://127.0.0.1:5005"),
            not_found_threshold=float(_env("MOTCUA_NOT_FOUND_THRESHOLD", "0.35")),
            channels=channels,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
