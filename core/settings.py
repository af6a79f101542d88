"""One typed settings object, read from the environment (names pinned in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _choice(name: str, default: str, allowed: set[str]) -> str:
    value = _env(name, default).lower()
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")
    return value


def _json_map(name: str) -> dict[str, str]:
    """A JSON object of strings from the environment ({} when unset)."""
    raw = _env(name)
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


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
    # --- shared stores (dossiers, complaints, handoff); every field has a default -----------------
    timezone: str = "Asia/Ho_Chi_Minh"
    dossier_backend: str = "sql"  # "sql" (built-in registry) | "http" (the province's one-stop-shop system)
    dossier_http_url: str = ""  # URL template with {code}, e.g. https://motcua.example.gov.vn/api/hoso/{code}
    dossier_http_timeout: float = 5.0  # seconds per attempt
    dossier_http_retries: int = 2  # extra attempts after a timeout, connection error or 5xx
    dossier_http_headers: dict[str, str] = field(default_factory=dict)
    dossier_http_fields: dict[str, str] = field(default_factory=dict)  # our field -> dotted path in the JSON
    dossier_http_statuses: dict[str, str] = field(default_factory=dict)  # their status -> ours
    lockout_max_failures: int = 5  # failed verifications per sender ...
    lockout_window_minutes: int = 15  # ... within this window, then locked
    complaint_due_working_days: int = 10  # hạn trả lời phản ánh, kiến nghị (Mon-Fri)
    officer_hours: str = "mon-fri 07:30-11:30,13:30-17:00"  # giờ làm việc của cán bộ (local time)
    handoff_minutes_per_waiting: float = 5.0  # rough wait estimate per citizen ahead in the queue
    office_contact: str = ""  # how citizens reach the office (address, hotline), shown e.g. for overdue dossiers
    secure_cookies: bool = False  # back-office cookies Secure even on plain HTTP (TLS ends at a proxy)
    staff_session_hours: float = 8.0  # lifetime of a back-office login

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
            "TELEGRAM_WEBHOOK_URL",  # public URL for `motcua telegram set-webhook` (informational)
            "TELEGRAM_POLLING",  # "1": the app fetches updates with getUpdates (local use, no public URL)
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
            not_found_threshold=float(_env("MOTCUA_NOT_FOUND_THRESHOLD", "0.32")),
            channels=channels,
            timezone=_env("MOTCUA_TIMEZONE", "Asia/Ho_Chi_Minh"),
            dossier_backend=_choice("MOTCUA_DOSSIER_BACKEND", "sql", {"sql", "http"}),
            dossier_http_url=_env("MOTCUA_DOSSIER_HTTP_URL"),
            dossier_http_timeout=float(_env("MOTCUA_DOSSIER_HTTP_TIMEOUT", "5")),
            dossier_http_retries=int(_env("MOTCUA_DOSSIER_HTTP_RETRIES", "2")),
            dossier_http_headers=_json_map("MOTCUA_DOSSIER_HTTP_HEADERS"),
            dossier_http_fields=_json_map("MOTCUA_DOSSIER_HTTP_FIELDS"),
            dossier_http_statuses=_json_map("MOTCUA_DOSSIER_HTTP_STATUSES"),
            lockout_max_failures=int(_env("MOTCUA_LOCKOUT_MAX_FAILURES", "5")),
            lockout_window_minutes=int(_env("MOTCUA_LOCKOUT_WINDOW_MINUTES", "15")),
            complaint_due_working_days=int(_env("MOTCUA_COMPLAINT_DUE_WORKING_DAYS", "10")),
            officer_hours=_env("MOTCUA_OFFICER_HOURS", "mon-fri 07:30-11:30,13:30-17:00"),
            handoff_minutes_per_waiting=float(_env("MOTCUA_HANDOFF_MINUTES_PER_WAITING", "5")),
            office_contact=_env("MOTCUA_OFFICE_CONTACT"),
            secure_cookies=_env("MOTCUA_SECURE_COOKIES", "0").lower() in {"1", "true", "yes"},
            staff_session_hours=float(_env("MOTCUA_STAFF_SESSION_HOURS", "8")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
