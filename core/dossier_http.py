"""Dossier source backed by a province's one-stop-shop system (hệ thống thông tin giải quyết TTHC).

Everything that differs between provinces lives in configuration:

- ``url_template``: ``https://motcua.example.gov.vn/api/hoso/{code}`` (``{code}`` is URL-quoted);
- ``timeout`` per attempt and ``retries`` after a timeout, a connection error or a 5xx answer;
- ``fields``: our field name → dotted path in the JSON answer (``"status": "data.TrangThai"``,
  list items by index: ``"data.items.0.MaHoSo"``); unmapped fields use our own names;
- ``statuses``: their status value → ours (``"2": "processing"``); values not listed are matched by
  their Vietnamese wording ("Đang giải quyết" → processing), else shown as they are.

404 (or an answer without the code field) means "no such dossier". Anything else that fails, after the
retries, raises ``DossierSourceUnavailable`` so the bot can say "please try again later".
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from core.clock import parse_moment
from core.dossiers import OTHER, DossierEvent, DossierRecord, DossierSourceUnavailable, DossierStatus
from knowledge_base.text import fold, nfc

FIELDS = (
    "code", "procedure_code", "procedure_name", "applicant_name", "applicant_phone", "received_at",
    "appointment_date", "status", "status_note", "current_unit", "result_text", "pickup_info",
    "returned_at", "history",
)  # fmt: skip
HISTORY_FIELDS = ("status", "at", "note", "unit")  # inside each history item: "history.status" etc.
DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
# Folded wordings seen on provincial systems → our statuses (first match in this order wins).
STATUS_WORDING: tuple[tuple[str, DossierStatus], ...] = (
    ("da tra ket qua", DossierStatus.RETURNED),
    ("da tra", DossierStatus.RETURNED),
    ("hoan thanh", DossierStatus.RETURNED),
    ("co ket qua", DossierStatus.RESULT_READY),
    ("cho tra", DossierStatus.RESULT_READY),
    ("bo sung", DossierStatus.NEEDS_SUPPLEMENT),
    ("dang xu ly", DossierStatus.PROCESSING),
    ("dang giai quyet", DossierStatus.PROCESSING),
    ("tham dinh", DossierStatus.PROCESSING),
    ("tiep nhan", DossierStatus.RECEIVED),
)
_NET_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


@dataclass(frozen=True)
class HttpDossierConfig:
    url_template: str
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.3  # seconds, doubled after each failed attempt
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = DATE_FORMATS
    tz: str = "Asia/Ho_Chi_Minh"  # for dates the system sends without an offset

    def __post_init__(self) -> None:
        if "{code}" not in self.url_template:
            raise ValueError("the dossier URL template needs a {code} placeholder")
        unknown = set(self.fields) - set(FIELDS) - {f"history.{name}" for name in HISTORY_FIELDS}
        if unknown:
            raise ValueError(f"unknown dossier fields in the mapping: {sorted(unknown)}")
        bad = {v for v in self.statuses.values() if v not in {s.value for s in DossierStatus}}
        if bad:
            raise ValueError(f"status mapping targets must be {[s.value for s in DossierStatus]}, not {bad}")

    @classmethod
    def from_settings(cls, settings: Any) -> HttpDossierConfig:
        return cls(
            url_template=settings.dossier_http_url,
            timeout=settings.dossier_http_timeout,
            retries=settings.dossier_http_retries,
            headers=dict(settings.dossier_http_headers),
            fields=dict(settings.dossier_http_fields),
            statuses=dict(settings.dossier_http_statuses),
            tz=settings.timezone,
        )

    def path(self, name: str) -> str:
        return self.fields.get(name, name.removeprefix("history."))


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
        if data is None:
            return None
    return data


class HttpDossierSource:
    """``DossierSource`` over HTTP (synchronous httpx; one client, reused)."""

    def __init__(self, config: HttpDossierConfig, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self.client = client or httpx.Client(timeout=config.timeout, headers=dict(config.headers))

    def close(self) -> None:
        self.client.close()

    def get(self, code: str) -> DossierRecord | None:
        url = self.config.url_template.replace("{code}", quote(code, safe=""))
        delay = self.config.backoff
        problem = "no attempt made"
        for attempt in range(self.config.retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            try:
                response = self.client.get(url, timeout=self.config.timeout)
            except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 404:
                return None
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise DossierSourceUnavailable(f"{url}: HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError as exc:
                raise DossierSourceUnavailable(f"{url}: answer is not JSON") from exc
            return self.parse(data)
        raise DossierSourceUnavailable(f"{url}: {problem} after {self.config.retries + 1} attempts")

    # --- mapping -------------------------------------------------------------------------------

    def parse(self, data: Any) -> DossierRecord | None:
        """The JSON answer → a record (None when it carries no dossier code)."""
        get = lambda name: _dig(data, self.config.path(name))  # noqa: E731
        code = get("code")
        if code in (None, ""):
            return None
        raw_status = "" if get("status") is None else nfc(str(get("status"))).strip()
        status = self.map_status(raw_status)
        received = self.parse_datetime(get("received_at"))
        appointment = self.parse_datetime(get("appointment_date"))
        if received is None or appointment is None:
            raise DossierSourceUnavailable(
                f"dossier {code}: received or appointment date missing or unreadable"
            )
        history: list[DossierEvent] = []
        for item in get("history") or []:
            at = self.parse_datetime(_dig(item, self.config.path("history.at")))
            if at is None:
                continue
            item_status = nfc(str(_dig(item, self.config.path("history.status")) or "")).strip()
            mapped = self.map_status(item_status)
            history.append(
                DossierEvent(
                    status=mapped if mapped != OTHER else item_status,
                    at=at,
                    note=self._text(_dig(item, self.config.path("history.note"))),
                    unit=self._text(_dig(item, self.config.path("history.unit"))),
                )
            )
        return DossierRecord(
            code=nfc(str(code)).strip().upper(),
            procedure_code=self._text(get("procedure_code")),
            procedure_name=self._text(get("procedure_name")),
            applicant_name=self._text(get("applicant_name")),
            applicant_phone=self._text(get("applicant_phone")),
            received_at=received,
            appointment_date=self._local_date(appointment),
            status=status,
            status_text=raw_status if status == OTHER else "",
            status_note=self._text(get("status_note")),
            current_unit=self._text(get("current_unit")),
            result_text=self._text(get("result_text")),
            pickup_info=self._text(get("pickup_info")),
            returned_at=self.parse_datetime(get("returned_at")),
            history=tuple(history),
        )

    def map_status(self, raw: str) -> str:
        if raw in self.config.statuses:
            return self.config.statuses[raw]
        if raw in {s.value for s in DossierStatus}:
            return raw
        folded = fold(raw)
        for wording, status in STATUS_WORDING:
            if wording in folded:
                return status.value
        return OTHER

    def parse_datetime(self, value: Any) -> datetime | None:
        """ISO 8601, dd/mm/yyyy[ HH:MM[:SS]], /Date(ms)/ or epoch milliseconds → aware UTC."""
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        text = str(value).strip()
        net = _NET_DATE_RE.match(text)
        if net:
            return datetime.fromtimestamp(int(net.group(1)) / 1000, tz=timezone.utc)
        return parse_moment(text, self.config.date_formats, self.config.tz)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.config.tz)).date()

    @staticmethod
    def _text(value: Any) -> str:
        return "" if value is None else nfc(str(value)).strip()
