"""Zalo OA channel: webhook signatures, events, the sender and token refresh, against a fake Zalo server.

The webhook tests go through the real app (in-process, real SQLite inbox); the sender tests use the real
database (SQLite and PostgreSQL) and the fake Zalo API over real HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from connectors.base import Button, OutgoingMessage, SendError
from connectors.zalo import parse_event
from connectors.zalo_api import ZaloCredentials, ZaloSender, ZaloTokenStore, message_bodies
from connectors.zalo_signature import HEADER, compute_signature, verify_signature
from core.models import ChannelTokenRow
from tests.channel_app import build_app, call, inbox_rows, with_client
from tests.fake_zalo import APP_ID, OA_SECRET_KEY, FakeZalo, follow_event, image_event, location_event, text_event

# --- signature vectors ------------------------------------------------------------------------------

BODY = b'{"event_name":"user_send_text","app_id":"123","sender":{"id":"8464"},"timestamp":"1717061839659"}'


def test_signature_is_a_plain_sha256_of_app_id_body_timestamp_and_oa_key() -> None:
    expected = hashlib.sha256(b"123" + BODY + b"1717061839659" + b"oa-key").hexdigest()
    assert compute_signature("123", BODY, "1717061839659", "oa-key") == expected
    # not an HMAC keyed with the OA secret (a common mistake)
    assert expected != hmac.new(b"oa-key", b"123" + BODY + b"1717061839659", hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "body", "secret", "valid"),
    [
        ("mac={sig}", BODY, "oa-key", True),
        ("{sig}", BODY, "oa-key", True),  # without the prefix
        ("MAC={SIG}", BODY, "oa-key", True),  # case of the prefix and of the hex digits
        ("mac={sig}", BODY, "wrong-key", False),  # signed with another secret
        ("mac={sig}", BODY.replace(b"8464", b"8465"), "oa-key", False),  # body altered by one byte
        ("mac={sig}", BODY + b" ", "oa-key", False),  # one byte appended (re-serialised JSON differs)
        ("", BODY, "oa-key", False),  # missing header
        ("mac=", BODY, "oa-key", False),
        ("mac=zz", BODY, "oa-key", False),
    ],
)
def test_signature_vectors(header: str, body: bytes, secret: str, valid: bool) -> None:
    sig = compute_signature("123", BODY, "1717061839659", "oa-key")
    value = header.format(sig=sig, SIG=sig.upper())
    assert verify_signature(value or None, "123", body, "1717061839659", secret) is valid


def test_signature_covers_the_timestamp() -> None:
    sig = compute_signature("123", BODY, "1717061839659", "oa-key")
    assert not verify_signature(sig, "123", BODY, "1717061839660", "oa-key")


# --- event parsing ----------------------------------------------------------------------------------


def test_events_become_gateway_messages() -> None:
    text = parse_event(text_event("8464", "Làm căn cước cần gì?", msg_id="abc"))
    assert text is not None
    assert (text.kind, text.text, text.sender_id, text.platform_message_id) == (
        "text",
        "Làm căn cước cần gì?",
        "8464",
        "abc",
    )
    image = parse_event(image_event("8464", ["https://photo.zdn.vn/1.jpg", "https://photo.zdn.vn/2.jpg"], "ảnh"))
    assert image is not None and image.kind == "image"
    assert image.payload["attachments"] == ["https://photo.zdn.vn/1.jpg", "https://photo.zdn.vn/2.jpg"]
    location = parse_event(location_event("8464", 21.0285, 105.8542))
    assert location is not None and location.kind == "location"
    assert (location.payload["latitude"], location.payload["longitude"]) == (21.0285, 105.8542)
    follow = parse_event(follow_event("999"))
    assert follow is not None and (follow.kind, follow.sender_id, follow.text) == ("follow", "999", "/greet")
    unfollow = parse_event(follow_event("999", "unfollow"))
    assert unfollow is not None and unfollow.kind == "unfollow" and unfollow.text == ""
    seen = {**text_event("8464", "x"), "event_name": "user_seen_message"}
    assert parse_event(seen) is None
    assert parse_event({**text_event("8464", "   "), "event_name": "user_send_text"}) is None


def test_large_ids_stay_strings() -> None:
    raw = (
        b'{"event_name":"user_send_text","sender":{"id":"8464123456789012345678"},"message":{"text":"a","msg_id":"1"}}'
    )
    message = parse_event(json.loads(raw))
    assert message is not None and message.sender_id == "8464123456789012345678"


# --- the webhook, through the real app --------------------------------------------------------------


@pytest.fixture()
def zalo() -> Iterator[FakeZalo]:
    with FakeZalo() as server:
        yield server


def _post(app, zalo: FakeZalo, event: dict, *, signature: str | None = None, body: bytes | None = None):  # type: ignore[no-untyped-def]
    raw = body if body is not None else json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    header = zalo.sign(raw, str(event.get("timestamp", ""))) if signature is None else signature
    headers = {"Content-Type": "application/json"}
    if header:
        headers[HEADER] = header
    return call(app, "POST", "/webhooks/zalo", content=raw, headers=headers)


def test_webhook_stores_a_signed_message_and_drops_duplicates(tmp_path: Path, monkeypatch, zalo: FakeZalo) -> None:  # type: ignore[no-untyped-def]
    app, engine = build_app(tmp_path, monkeypatch, zalo.env())
    assert app.state.channels["zalo"] is True
    event = text_event("8464", "Làm căn cước cần giấy tờ gì?", msg_id="m-1")
    raw = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", HEADER: zalo.sign(raw, event["timestamp"])}

    async def scenario(client: httpx.AsyncClient) -> list[tuple[int, dict, float]]:
        results = []
        for _ in range(3):  # Zalo retries a delivery it thinks failed
            started = time.perf_counter()
            response = await client.post("/webhooks/zalo", content=raw, headers={**headers, "num_retry": "1"})
            results.append((response.status_code, response.json(), time.perf_counter() - started))
        return results

    results = with_client(app, scenario)
    assert [status for status, _, _ in results] == [200, 200, 200]
    assert [body["duplicate"] for _, body, _ in results] == [False, True, True]
    assert max(seconds for _, _, seconds in results) < 2.0  # Zalo's deadline
    rows = inbox_rows(engine, "zalo")
    assert len(rows) == 1
    assert (rows[0].platform_message_id, rows[0].sender_id, rows[0].text) == (
        "m-1",
        "8464",
        "Làm căn cước cần giấy tờ gì?",
    )


@pytest.mark.parametrize("case", ["wrong_secret", "altered_body", "missing_header", "other_app"])
def test_webhook_rejects_bad_signatures_and_stores_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zalo: FakeZalo, caplog: pytest.LogCaptureFixture
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, zalo.env())
    event = text_event("8464", "Số điện thoại của tôi là 0912345678", msg_id="m-2")
    raw = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    good = zalo.sign(raw, event["timestamp"])
    if case == "wrong_secret":
        response = _post(app, zalo, event, signature="mac=" + compute_signature(APP_ID, raw, event["timestamp"], "x"))
    elif case == "altered_body":
        altered = raw.replace(b"0912345678", b"0912345679")
        response = _post(app, zalo, event, signature=good, body=altered)
    elif case == "missing_header":
        response = _post(app, zalo, event, signature="")
    else:
        response = _post(
            app, zalo, event, signature="mac=" + compute_signature("1", raw, event["timestamp"], OA_SECRET_KEY)
        )
    assert response.status_code == 401
    assert inbox_rows(engine, "zalo") == []
    assert "signature" in caplog.text
    assert "0912345678" not in caplog.text and "8464" not in caplog.text  # no personal data in the log


def test_webhook_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zalo: FakeZalo) -> None:
    app, engine = build_app(tmp_path, monkeypatch, zalo.env())
    urls = ["https://photo.zdn.vn/a.jpg"]
    events = [
        image_event("8464", urls),
        follow_event("777"),
        follow_event("777", "unfollow"),
        location_event("8464", 10.77, 106.7),
    ]
    for event in events:
        assert _post(app, zalo, event).status_code == 200
    ignored = {**text_event("8464", "x"), "event_name": "user_received_message"}
    response = _post(app, zalo, ignored)
    assert response.status_code == 200 and response.json()["ignored"] == "user_received_message"
    rows = inbox_rows(engine, "zalo")
    assert [(r.kind, r.sender_id) for r in rows] == [
        ("image", "8464"),
        ("follow", "777"),
        ("unfollow", "777"),
        ("location", "8464"),
    ]
    assert rows[0].payload["attachments"] == urls


def test_webhook_answers_bad_json_with_400(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zalo: FakeZalo) -> None:
    app, _ = build_app(tmp_path, monkeypatch, zalo.env())
    response = call(app, "POST", "/webhooks/zalo", content=b"{not json", headers={HEADER: "mac=00"})
    assert response.status_code == 400


def test_webhook_is_404_when_zalo_is_not_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, engine = build_app(tmp_path, monkeypatch, {})
    assert app.state.channels["zalo"] is False
    response = call(app, "POST", "/webhooks/zalo", json=text_event("8464", "chào"))
    assert response.status_code == 404
    assert inbox_rows(engine, "zalo") == []


def test_pressed_button_comes_back_as_its_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zalo: FakeZalo
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, zalo.env())
    sender = app.state.gateway.senders["zalo"]
    buttons = (
        Button("Lệ phí", '/ask_procedure{"aspect":"fee"}'),
        Button("Thời hạn", '/ask_procedure{"aspect":"duration"}'),
    )

    async def send() -> None:
        await sender.send(OutgoingMessage("zalo", "8464", text="Bạn muốn biết thêm gì?", buttons=buttons))
        await sender.aclose()

    asyncio.run(send())
    sent = zalo.wait_for_messages(1)[0]
    assert [b["type"] for b in sent["buttons"]] == ["oa.query.show", "oa.query.show"]
    assert [b["payload"] for b in sent["buttons"]] == ["Lệ phí", "Thời hạn"]  # what the citizen sees in the chat
    # Zalo sends the pressed button's payload back as a user message
    assert _post(app, zalo, text_event("8464", "Thời hạn")).status_code == 200
    assert _post(app, zalo, text_event("9999", "Thời hạn")).status_code == 200  # another user: just text
    rows = inbox_rows(engine, "zalo")
    assert [(r.kind, r.text) for r in rows] == [("button", '/ask_procedure{"aspect":"duration"}'), ("text", "Thời hạn")]


# --- the sender and its tokens (real SQLite and PostgreSQL, fake Zalo over HTTP) --------------------


def _credentials(zalo: FakeZalo) -> ZaloCredentials:
    env = zalo.env()
    return ZaloCredentials(
        env["ZALO_APP_ID"],
        env["ZALO_APP_SECRET"],
        env["ZALO_ACCESS_TOKEN"],
        env["ZALO_REFRESH_TOKEN"],
        zalo.url,
        zalo.url,
    )


def _send_all(engine: Engine, zalo: FakeZalo, messages: list[OutgoingMessage], stores: int = 1) -> list[object]:
    """Send concurrently through ``stores`` independent token stores (as separate processes would)."""

    async def main() -> list[object]:
        creds = _credentials(zalo)
        senders = [ZaloSender(ZaloTokenStore(engine, creds), engine, zalo.url) for _ in range(stores)]
        try:
            jobs = [senders[i % stores].send(m) for i, m in enumerate(messages)]
            return list(await asyncio.gather(*jobs, return_exceptions=True))
        finally:
            for sender in senders:
                await sender.aclose()

    return asyncio.run(main())


def test_sender_posts_consultation_messages(engine: Engine, zalo: FakeZalo) -> None:
    buttons = tuple(Button(f"Lựa chọn {i}", f'/choose{{"n":{i}}}') for i in range(7))
    results = _send_all(engine, zalo, [OutgoingMessage("zalo", "8464", text="Chào bạn", buttons=buttons)])
    assert results == [None]
    sent = zalo.wait_for_messages(2)
    assert [m["user_id"] for m in sent] == ["8464", "8464"]
    assert sent[0]["text"] == "Chào bạn" and len(sent[0]["buttons"]) == 5  # at most 5 per template
    assert [b["title"] for b in sent[1]["buttons"]] == ["Lựa chọn 5", "Lựa chọn 6"]
    assert all(m["access_token"] == "access-0" for m in sent)  # the pair from the environment
    with Session(engine) as session:
        row = session.get(ChannelTokenRow, "zalo")
        assert row is not None and (row.access_token, row.refresh_token) == ("access-0", "refresh-0")


def test_expired_token_is_refreshed_once_and_the_send_retried(engine: Engine, zalo: FakeZalo) -> None:
    zalo.expire_access_token()
    zalo.oauth_delay = 0.3  # concurrent sends pile up behind one refresh
    messages = [OutgoingMessage("zalo", f"user{i}", text=f"Tin {i}") for i in range(10)]
    assert _send_all(engine, zalo, messages) == [None] * 10
    assert len(zalo.refresh_calls) == 1  # refresh tokens are single-use: exactly one refresh
    assert sorted(m["text"] for m in zalo.sent_messages) == sorted(f"Tin {i}" for i in range(10))
    assert {m["access_token"] for m in zalo.sent_messages} == {"access-1"}
    with Session(engine) as session:
        row = session.get(ChannelTokenRow, "zalo")
        assert row is not None and (row.access_token, row.refresh_token) == ("access-1", "refresh-1")
        assert row.expires_at is not None
    # a later send (new store: a restarted process) uses the stored pair, not the stale environment pair
    assert _send_all(engine, zalo, [OutgoingMessage("zalo", "u", text="Sau khi khởi động lại")]) == [None]
    assert zalo.sent_messages[-1]["access_token"] == "access-1" and len(zalo.refresh_calls) == 1


def test_two_processes_refreshing_at_once_both_deliver(engine: Engine, zalo: FakeZalo) -> None:
    zalo.expire_access_token()
    zalo.oauth_delay = 0.3
    messages = [OutgoingMessage("zalo", f"user{i}", text=f"Tin {i}") for i in range(4)]
    assert _send_all(engine, zalo, messages, stores=2) == [None] * 4
    successful = len(zalo.used_refresh_tokens)
    assert successful == 1  # one refresh token consumed, the other store took the new pair
    assert len(zalo.sent_messages) == 4


def test_refresh_failure_and_unreachable_users_are_send_errors(engine: Engine, zalo: FakeZalo) -> None:
    zalo.unreachable.add("silent")
    [error] = _send_all(engine, zalo, [OutgoingMessage("zalo", "silent", text="Kết quả hồ sơ đã có")])
    assert isinstance(error, SendError) and not error.retryable and "-213" in str(error)
    zalo.expire_access_token()
    zalo.used_refresh_tokens.add(zalo.refresh_token)  # the refresh token was already used elsewhere
    [error] = _send_all(engine, zalo, [OutgoingMessage("zalo", "8464", text="x")])
    assert isinstance(error, SendError) and "refresh" in str(error)
    assert zalo.sent_messages == []


def test_message_bodies_for_images_and_text() -> None:
    image = message_bodies(OutgoingMessage("zalo", "1", text="Mẫu tờ khai", image_url="https://x.example/a.png"))
    assert image[0]["attachment"]["payload"]["elements"][0]["url"] == "https://x.example/a.png"
    assert image[1] == {"text": "Mẫu tờ khai"}
    long_title = Button("Đăng ký thường trú " * 10, "/x")
    [body] = message_bodies(OutgoingMessage("zalo", "1", text="", buttons=(long_title,)))
    [button] = body["attachment"]["payload"]["buttons"]
    assert len(button["title"]) <= 100 and button["title"] == button["payload"]
    assert body["text"]  # Zalo needs some text above the buttons
