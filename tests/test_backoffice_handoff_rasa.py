"""Returning a conversation to the bot tells the real Rasa server (a ``resume`` event in its tracker)."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from pathlib import Path

import pytest

from core.handoff import HandoffService
from tests import rasa_server
from tests.backoffice_support import make_backoffice
from tests.test_e2e_rasa import rasa  # noqa: F401  (the session's real Rasa + action server)

pytestmark = pytest.mark.rasa


def tracker(rasa_url: str, sender: str, event: dict[str, str] | None = None) -> dict:
    """GET the tracker, or POST ``event`` to it first."""
    url = f"{rasa_url}/conversations/{sender}/tracker" + ("/events" if event else "")
    body = json.dumps(event).encode("utf-8") if event else None
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read().decode("utf-8")))


def test_return_to_bot_resumes_the_rasa_conversation(tmp_path: Path, rasa: rasa_server.Servers) -> None:  # noqa: F811
    bo = make_backoffice(tmp_path)
    state = bo.app.state.backoffice
    state.settings = dataclasses.replace(state.settings, rasa_url=rasa.rasa_url)
    officer = bo.client(bo.add_user("lan", "officer"))
    rasa.send("telegram:880001", "xin chào")
    assert tracker(rasa.rasa_url, "telegram:880001", {"event": "pause"})["paused"]  # what the handoff action does
    cid = HandoffService(bo.engine).request("telegram", "880001").conversation_id
    officer.form(f"/admin/handoffs/{cid}/take")

    response = officer.form(f"/admin/handoffs/{cid}/return")
    assert response.status_code == 303 and response.headers["location"] == "/admin/handoffs?notice=returned"
    after = tracker(rasa.rasa_url, "telegram:880001")
    names = [event["event"] for event in after["events"]]
    assert after["paused"] is False and "resume" in names[names.index("pause") :], names
    assert "Đã trả hội thoại cho trợ lý ảo." in officer.get(response.headers["location"]).text
