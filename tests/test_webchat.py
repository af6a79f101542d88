"""The webchat channel served by the real app (uvicorn) with Rasa down: validation in Vietnamese, a
polite "queued" answer, history, and officer replies pushed through the SSE stream (Last-Event-ID)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.orm import Session

from connectors import outbox
from connectors.base import OutgoingMessage
from core.handoff import HandoffService
from tests.app_server import AppServer, app_server

SENDER = "webtest-0001"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with app_server(tmp_path_factory.mktemp("webchat")) as server:
        yield server


def _post(app: AppServer, body: object) -> httpx.Response:
    return httpx.post(f"{app.url}/api/chat", json=body, timeout=30)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"sender": "x", "text": "chào"}, "sender"),
        ({"sender": "bad id with spaces", "text": "chào"}, "sender"),
        ({"sender": SENDER, "text": "   "}, "trống"),
        ({"sender": SENDER}, "trống"),
        ({"sender": SENDER, "text": "a" * 2001}, "2.000"),
        ({"sender": SENDER, "text": 12}, "chuỗi"),
        ([1, 2], "JSON"),
        ({"sender": SENDER, "text": "chào", "message_id": "../../etc"}, "message_id"),
    ],
)
def test_bad_input_gets_a_vietnamese_422(app: AppServer, body: object, words: str) -> None:
    response = _post(app, body)
    assert response.status_code == 422
    assert words in response.json()["detail"]


def test_body_that_is_not_json_gets_422(app: AppServer) -> None:
    response = httpx.post(f"{app.url}/api/chat", content=b"{not json", timeout=30)
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


def test_message_of_2000_characters_is_accepted(app: AppServer) -> None:
    response = _post(app, {"sender": "webtest-long", "text": "ô" * 2000})
    assert response.status_code == 200 and response.json()["queued"] is True


def test_rasa_down_answers_queued_at_once_and_keeps_the_message(app: AppServer) -> None:
    started = time.monotonic()
    response = _post(app, {"sender": SENDER, "text": "làm căn cước cần giấy tờ gì"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["messages"] == [] and body["queued"] is True and "ghi nhận" in body["notice"]
    assert elapsed < 3.0
    history = httpx.get(f"{app.url}/api/chat/history", params={"sender": SENDER}, timeout=30).json()
    assert [(m["direction"], m["text"]) for m in history["messages"]][-1] == ("in", "làm căn cước cần giấy tờ gì")


def test_history_needs_a_valid_sender(app: AppServer) -> None:
    response = httpx.get(f"{app.url}/api/chat/history", params={"sender": "<script>"}, timeout=30)
    assert response.status_code == 422


def _events(app: AppServer, sender: str, *, after: int | None = None, last_event_id: str | None = None,
            want: int = 1, timeout: float = 15.0) -> list[dict[str, object]]:  # fmt: skip
    params: dict[str, object] = {"sender": sender}
    if after is not None:
        params["after"] = after
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    found: list[dict[str, object]] = []
    with httpx.stream("GET", f"{app.url}/api/chat/stream", params=params, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
                if len(found) >= want:
                    break
    return found


def test_officer_reply_is_pushed_and_missed_ones_are_replayed(app: AppServer) -> None:
    sender = "webtest-officer"
    engine = app.engine()
    handoff = HandoffService(engine)
    handoff.request("webchat", sender, "cần cán bộ")
    body = _post(app, {"sender": sender, "text": "tôi muốn hỏi cán bộ"}).json()
    assert body["queued"] is True and body["officer"] is True and "cán bộ" in body["notice"]

    import threading

    received: list[dict[str, object]] = []
    listener = threading.Thread(target=lambda: received.extend(_events(app, sender, after=0)))
    listener.start()
    time.sleep(1.0)  # the stream is open
    with Session(engine) as session, session.begin():
        first = outbox.enqueue(session, OutgoingMessage("webchat", sender, text="Chào anh, tôi là cán bộ Lan.",
                                                        author="officer:lan"))  # fmt: skip
    listener.join(timeout=20)
    assert [(e["id"], e["text"], e["author"]) for e in received] == [
        (f"o{first}", "Chào anh, tôi là cán bộ Lan.", "officer")
    ]

    with Session(engine) as session, session.begin():  # sent while no widget is open...
        second = outbox.enqueue(session, OutgoingMessage("webchat", sender, text="Anh cần thêm gì không?",
                                                         author="officer:lan"))  # fmt: skip
    deadline = time.monotonic() + 10
    history: dict[str, list[dict[str, object]]] = {"messages": []}
    while time.monotonic() < deadline:
        history = httpx.get(f"{app.url}/api/chat/history", params={"sender": sender}, timeout=30).json()
        if any(m["id"] == f"o{second}" for m in history["messages"]):
            break
        time.sleep(0.2)
    assert [m["author"] for m in history["messages"]] == ["citizen", "officer", "officer"]
    time.sleep(0.5)  # ... the dispatcher has marked it sent: a reconnecting browser gets it replayed
    replay = _events(app, sender, last_event_id=str(first))
    assert [e["id"] for e in replay] == [f"o{second}"]


def test_widget_files_are_served(app: AppServer) -> None:
    script = httpx.get(f"{app.url}/widget.js", timeout=30)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    demo = httpx.get(f"{app.url}/widget/demo", timeout=30)
    assert demo.status_code == 200 and 'src="/widget.js"' in demo.text


def test_cross_origin_preflight_is_allowed(app: AppServer) -> None:
    response = httpx.options(f"{app.url}/api/chat", headers={"Origin": "https://ubnd.example.gov.vn"}, timeout=30)
    assert response.status_code == 204 and response.headers["access-control-allow-origin"] == "*"
