"""The gateway's client of Rasa's REST channel and tracker API (one shared HTTP connection pool)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class RasaUnavailable(Exception):
    """Rasa did not answer usefully (down, timeout, 5xx): the message waits and is tried again."""


class RasaClient:
    def __init__(self, url: str, *, timeout: float = 30.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._params = {"token": token} if token else {}
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits)
        return self._client

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._http().post(f"{self.url}{path}", json=body, params=self._params)
        except httpx.HTTPError as error:  # connection refused, reset, timeout
            raise RasaUnavailable(f"{type(error).__name__} on {path}") from error
        if response.status_code >= 500:
            raise RasaUnavailable(f"HTTP {response.status_code} on {path}")
        response.raise_for_status()
        try:
            return response.json()
        except ValueError as error:
            raise RasaUnavailable(f"not JSON from {path}") from error

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``POST /webhooks/rest/webhook``: the bot's replies to one message, in order."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        replies = await self._post("/webhooks/rest/webhook", body)
        if not isinstance(replies, list):
            raise RasaUnavailable("the REST channel did not answer with a list")
        return [reply for reply in replies if isinstance(reply, dict)]

    async def resume(self, sender: str) -> None:
        """Un-pause a conversation (the officer gives it back to the bot). The ':' of "<channel>:<id>" stays as
        is: Rasa does not decode %3A in the path and would resume another conversation."""
        await self._post(f"/conversations/{quote(sender, safe=':')}/tracker/events", {"event": "resume"})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
