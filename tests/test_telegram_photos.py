"""Photos citizens send on Telegram: the webhook stores the message with the photo's file_id and answers
at once; a background task resolves the file with getFile and downloads it into the data directory; staff
open it from the complaint in the back office (fetched then if the early download failed), and the bot
token appears in no URL, page, file name or database row. Against the fake Telegram Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.telegram import SECRET_HEADER
from connectors.telegram_files import attachments_dir, stored_copy
from core.complaints import ComplaintService
from core.handoff import HandoffService
from core.models import ChatMessageRow, InboxMessageRow
from tests.app_server import app_server
from tests.backoffice_support import staff_http_client
from tests.channel_app import build_app, inbox_rows, with_client
from tests.fake_telegram import FakeTelegram, photo_update

SECRET = "s3cret_Token-42"
PHOTO = b"\xff\xd8\xff\xe0" + b"anh chup quay mot cua" * 50


@pytest.fixture()
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def _env(tg: FakeTelegram) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE": tg.url}


def _rows_text(engine: Engine) -> str:
    with Session(engine) as session:
        rows = [*session.scalars(select(InboxMessageRow)), *session.scalars(select(ChatMessageRow))]
        return json.dumps([(r.text, r.payload) for r in rows], ensure_ascii=False)


def test_photo_is_downloaded_after_the_ack_and_kept_when_telegram_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram
) -> None:
    app, engine = build_app(tmp_path, monkeypatch, _env(tg))
    files = app.state.telegram_files
    files.retry_seconds = (0.3, 0.3)
    tg.add_file("large-photo", PHOTO)
    tg.add_file("gone-photo", PHOTO)
    tg.fail_files(1, file_id="large-photo")  # the first getFile fails: the background task tries again
    tg.fail_files(10, file_id="gone-photo")  # every attempt fails

    def get_files(file_id: str) -> int:
        return sum(1 for params in tg.calls("getFile") if params.get("file_id") == file_id)

    async def scenario(client: httpx.AsyncClient) -> tuple[list[bool], bool]:
        answers = []
        for update in (
            photo_update(42, ("small", "large-photo"), caption="Ảnh quầy"),
            photo_update(43, ("gone-photo",)),
        ):
            response = await client.post("/webhooks/telegram", json=update, headers={SECRET_HEADER: SECRET})
            answers.append(response.status_code == 200 and response.json()["accepted"])
        present_at_ack = stored_copy(files.directory, "large-photo") is not None
        for _ in range(200):
            if stored_copy(files.directory, "large-photo") is not None and get_files("gone-photo") == 3:
                break
            await asyncio.sleep(0.05)
        return answers, present_at_ack

    answers, present_at_ack = with_client(app, scenario)
    assert answers == [True, True]
    assert not present_at_ack  # the webhook answered without waiting for the download
    stored = stored_copy(attachments_dir(tmp_path), "large-photo")
    assert stored is not None and stored.read_bytes() == PHOTO and stored.suffix == ".jpg"
    rows = inbox_rows(engine, "telegram")
    assert [r.payload["attachments"] for r in rows] == [["large-photo"], ["gone-photo"]]  # both messages kept
    assert get_files("gone-photo") == 3 and stored_copy(attachments_dir(tmp_path), "gone-photo") is None
    assert tg.token not in _rows_text(engine)
    assert all(tg.token not in p.name and "large-photo" not in p.name for p in attachments_dir(tmp_path).iterdir())


def test_staff_open_a_complaint_photo_fetched_on_demand(tmp_path: Path, tg: FakeTelegram) -> None:
    """A complaint whose photo was never downloaded (the app stopped first, or Telegram was down)."""
    tg.add_file("complaint-photo", PHOTO)
    with app_server(tmp_path, env=_env(tg)) as app:
        engine = app.engine()
        code = ComplaintService(engine).submit(
            "Quầy số 3 không có người trực", channel="telegram", sender_id="42", consent=False,
            attachments=["complaint-photo"],
        ).code  # fmt: skip
        client, _ = staff_http_client(engine, app.url, role="admin")
        page = client.get(f"/admin/complaints/{code}").text
        link = f"/admin/complaints/{code}/attachments/0"
        assert f'href="{link}"' in page and tg.token not in page
        tg.fail_files(1, file_id="complaint-photo")
        first = client.get(link)
        assert first.status_code == 404 and "Chưa tải được ảnh từ Telegram" in first.text
        photo = client.get(link)
        assert photo.status_code == 200 and photo.content == PHOTO
        assert photo.headers["content-type"] == "image/jpeg" and "inline" in photo.headers["content-disposition"]
        assert tg.token not in json.dumps(dict(photo.headers))
        assert stored_copy(attachments_dir(tmp_path), "complaint-photo") is not None  # kept: no second download
        downloads = len(tg.file_downloads)
        assert client.get(link).content == PHOTO and len(tg.file_downloads) == downloads
        assert client.get(f"/admin/complaints/{code}/attachments/1").status_code == 404
        assert httpx.get(f"{app.url}{link}", follow_redirects=False, timeout=10).status_code == 303  # staff only
        client.close()


def test_officer_opens_a_photo_the_citizen_sends_while_waiting_for_them(tmp_path: Path, tg: FakeTelegram) -> None:
    """During a handoff the citizen photographs a document: the officer's transcript links the photo (through
    the back office, never Telegram's URL), and a link only opens messages of that conversation."""
    tg.add_file("handoff-photo", PHOTO)
    tg.add_file("other-photo", PHOTO)
    with app_server(tmp_path, env=_env(tg)) as app:
        engine = app.engine()
        ticket = HandoffService(engine).request("telegram", "42", reason="Người dân muốn gặp cán bộ")
        for user_id, file_id, caption in ((42, "handoff-photo", "Giấy hẹn của tôi"), (77, "other-photo", None)):
            update = photo_update(user_id, ("small", file_id), caption=caption)
            response = httpx.post(
                f"{app.url}/webhooks/telegram", json=update, headers={SECRET_HEADER: SECRET}, timeout=10
            )
            assert response.status_code == 200
        ids: dict[str, int] = {}
        with Session(engine) as session:
            for row in session.scalars(select(ChatMessageRow).where(ChatMessageRow.direction == "in")):
                ids[row.sender_id] = row.id
        client, _ = staff_http_client(engine, app.url, role="officer")
        page = client.get(f"/admin/handoffs/{ticket.conversation_id}").text
        link = f"/admin/handoffs/{ticket.conversation_id}/messages/{ids['42']}/attachments/0"
        assert "Giấy hẹn của tôi" in page and f'href="{link}"' in page and "Xem ảnh 1" in page
        assert tg.token not in page and "handoff-photo" not in page
        fragment = client.get(f"/admin/handoffs/{ticket.conversation_id}/messages").text  # the polled transcript
        assert f'href="{link}"' in fragment
        photo = client.get(link)
        assert photo.status_code == 200 and photo.content == PHOTO and photo.headers["content-type"] == "image/jpeg"
        assert tg.token not in json.dumps(dict(photo.headers))
        # another citizen's message, a missing index, a missing message: not found, nothing served
        other = f"/admin/handoffs/{ticket.conversation_id}/messages/{ids['77']}/attachments/0"
        assert client.get(other).status_code == 404
        assert client.get(link.removesuffix("0") + "1").status_code == 404
        assert client.get(f"/admin/handoffs/{ticket.conversation_id}/messages/999999/attachments/0").status_code == 404
        assert httpx.get(f"{app.url}{link}", follow_redirects=False, timeout=10).status_code == 303  # staff only
        client.close()
