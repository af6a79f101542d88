"""End to end through Rasa's REST channel (real Rasa server, trained model, real action server): dossier
status, complaints, complaint status, ratings, handoff and the fallback, including the bad paths; and
a complaint while PostgreSQL goes down and comes back (stored and acknowledged, or told to retry).

What the citizen reads is asserted, and what the database holds afterwards. Skipped with the reason
when .venv-rasa is missing (a failure under CI=true or MOTCUA_REQUIRE_RASA=1). ``MOTCUA_E2E_MODEL``
may name an already trained model to reuse while developing (default: the model of the current data).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import create_all, make_engine
from core.demo import seed_demo_dossiers
from core.models import (
    BotTurnRow,
    ComplaintRow,
    ConversationRow,
    DossierSubscriptionRow,
    FeedbackRow,
)
from tests import pg_server, rasa_server

pytestmark = pytest.mark.rasa

KHAI_SINH = "000.00.25.H29-250312-0012"  # demo dossier, phone 0912345678
CONTENT = "Cán bộ tiếp nhận hồ sơ ở quầy số 2 thu thêm 200.000 đồng mà không đưa biên lai."
CODE = re.compile(r"PA-\d{4}-\d{6}")
ALWAYS_ON_DUTY = "mon-sun 00:00-23:59"


@dataclass
class Bot:
    servers: rasa_server.Servers
    engine: Engine

    def say(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> Answer:
        replies = self.servers.send(sender, text, metadata=metadata)
        return Answer(replies)


@dataclass
class Answer:
    replies: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return "\n".join(str(r.get("text") or "") for r in self.replies)

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [b for r in self.replies for b in r.get("buttons") or []]

    def payload(self, title: str) -> str:
        return next(b["payload"] for b in self.buttons if b["title"] == title)


def _model(work_dir: Path) -> Path:
    override = os.environ.get("MOTCUA_E2E_MODEL", "").strip()
    if override:
        return Path(override)
    return rasa_server.ensure_model(work_dir).model


def _start(work_dir: Path, database_url: str, extra_env: dict[str, str]) -> rasa_server.Servers:
    reason = rasa_server.why_unavailable()
    if reason is not None:
        if rasa_server.rasa_required():
            pytest.fail(f"Rasa is required here (CI=true or MOTCUA_REQUIRE_RASA=1): {reason}", pytrace=False)
        pytest.skip(f"RASA END-TO-END TESTS SKIPPED: {reason}")
    try:
        model = _model(work_dir)
        return rasa_server.start_servers(
            model, work_dir, {"MOTCUA_DATABASE_URL": database_url, "MOTCUA_SEARCH": "sqlite", **extra_env}
        )
    except rasa_server.RasaFailed as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    work_dir = tmp_path_factory.mktemp("rasa-flows")
    url = f"sqlite:///{work_dir / 'data' / 'motcua.db'}"
    engine = make_engine(url)
    create_all(engine)
    seed_demo_dossiers(engine)
    servers = _start(work_dir, url, {"MOTCUA_OFFICER_HOURS": ALWAYS_ON_DUTY})
    try:
        yield Bot(servers, engine)
    finally:
        servers.stop()
        engine.dispose()


def sender() -> str:
    return f"webchat:{uuid.uuid4().hex[:10]}"


def complaints_of(engine: Engine, user: str) -> list[ComplaintRow]:
    with Session(engine) as session:
        return list(session.scalars(select(ComplaintRow).where(ComplaintRow.sender_id == user)))


def file_until_consent(bot: Bot, who: str, *, phone: str = "0912 345 678") -> Answer:
    assert "mô tả sự việc" in bot.say(who, "tôi muốn gửi phản ánh").text
    bot.say(who, CONTENT)
    bot.say(who, "Bộ phận Một cửa UBND phường Dịch Vọng")
    bot.say(who, "Trần Văn Bình")
    return bot.say(who, phone)


# --- dossier status ---------------------------------------------------------------------------------
def test_dossier_status_then_notification(bot: Bot) -> None:
    who = sender()
    asked = bot.say(who, f"tra cứu hồ sơ {KHAI_SINH}")
    assert "4 số cuối" in asked.text, asked.text
    answer = bot.say(who, "5678")
    assert "Đăng ký khai sinh" in answer.text and "đã tiếp nhận" in answer.text, answer.text
    assert re.search(r"\d{2}/\d{2}/\d{4}", answer.text)
    assert "Nguyễn Văn An" not in answer.text and "0912345678" not in answer.text
    notified = bot.say(who, answer.payload("Báo cho tôi khi có kết quả"))
    assert "đã ghi nhận" in notified.text, notified.text
    with Session(bot.engine) as session:
        row = session.scalars(
            select(DossierSubscriptionRow).where(DossierSubscriptionRow.sender_id == who.split(":")[1])
        ).one()
    assert (row.dossier_code, row.channel) == (KHAI_SINH, "webchat")


def test_dossier_code_asked_when_missing(bot: Bot) -> None:
    who = sender()
    asked = bot.say(who, "em muốn tra cứu tình trạng hồ sơ")
    assert "mã hồ sơ" in asked.text, asked.text
    assert "chưa đúng định dạng" in bot.say(who, "không nhớ").text
    assert "4 số cuối" in bot.say(who, "g01.2025.001234").text
    assert "đã có kết quả" in bot.say(who, "5310").text


def test_wrong_code_and_wrong_digits_look_the_same_then_lockout(bot: Bot) -> None:
    who = sender()
    bot.say(who, f"tra cứu hồ sơ {KHAI_SINH}")
    wrong_digits = bot.say(who, "1111").text
    bot.say(who, "tra cứu hồ sơ 000.00.25.H29-250312-9999")
    wrong_code = bot.say(who, "5678").text
    assert "không tìm thấy" in wrong_digits, wrong_digits
    assert re.sub(r"\d", "#", wrong_digits) == re.sub(r"\d", "#", wrong_code)
    for _ in range(3):
        bot.say(who, f"tra cứu hồ sơ {KHAI_SINH}")
        last = bot.say(who, "0000").text
    assert "tạm dừng tra cứu" in last, last
    locked = bot.say(who, f"tra cứu hồ sơ {KHAI_SINH}").text
    assert "tạm dừng tra cứu" in locked and "4 số cuối" not in locked, locked


# --- complaints ---------------------------------------------------------------------------------------
def test_complaint_with_consent_and_an_image_is_stored_then_acknowledged(bot: Bot) -> None:
    who = sender()
    bot.say(who, "tôi muốn gửi phản ánh")
    image = bot.say(who, "", metadata={"attachments": ["https://cdn.example/zalo/abc.jpg"]})
    assert "đã nhận 1 ảnh" in image.text, image.text
    bot.say(who, CONTENT)
    bot.say(who, "Bộ phận Một cửa UBND phường Dịch Vọng")
    bot.say(who, "Trần Văn Bình")
    consent = bot.say(who, "0912 345 678")
    assert "Nghị định 13/2023/NĐ-CP" in consent.text, consent.text
    assert complaints_of(bot.engine, who.split(":")[1]) == []
    read_back = bot.say(who, consent.payload("Đồng ý"))
    assert CONTENT in read_back.text and "Ảnh/tệp đính kèm: 1" in read_back.text, read_back.text
    receipt = bot.say(who, read_back.payload("Gửi phản ánh"))
    [row] = complaints_of(bot.engine, who.split(":")[1])
    assert row.code in receipt.text and f"{row.due_date:%d/%m/%Y}" in receipt.text, receipt.text
    assert (row.name, row.phone, row.consent, row.attachments) == (
        "Trần Văn Bình", "+84912345678", True, ["https://cdn.example/zalo/abc.jpg"],
    )  # fmt: skip

    status = bot.say(who, f"tra cứu phản ánh {row.code}")
    assert "4 số cuối" in status.text, status.text
    assert "mới" in bot.say(who, "5678").text

    rating = bot.say(who, receipt.payload("Không hài lòng"))
    assert "cần cải thiện" in rating.text, rating.text
    bot.say(who, "Phải chờ lâu mới được tiếp nhận")
    with Session(bot.engine) as session:
        feedback = session.scalars(select(FeedbackRow).where(FeedbackRow.sender_id == who.split(":")[1])).one()
    assert (feedback.level, feedback.flow, feedback.comment) == (
        "khong_hai_long", "complaint", "Phải chờ lâu mới được tiếp nhận",
    )  # fmt: skip


def test_invalid_phone_is_refused(bot: Bot) -> None:
    who = sender()
    refused = file_until_consent(bot, who, phone="12345")
    assert "hợp lệ" in refused.text and "Nghị định 13" not in refused.text, refused.text
    bot.say(who, "hủy")
    assert complaints_of(bot.engine, who.split(":")[1]) == []


def test_refused_consent_stores_nothing_personal(bot: Bot) -> None:
    who = sender()
    consent = file_until_consent(bot, who)
    refused = bot.say(who, consent.payload("Không đồng ý"))
    assert "không lưu họ tên và số điện thoại" in refused.text, refused.text
    receipt = bot.say(who, refused.payload("Gửi phản ánh"))
    [row] = complaints_of(bot.engine, who.split(":")[1])
    assert row.code in receipt.text
    assert (row.name, row.phone, row.consent, row.consent_at) == (None, None, False, None)


def test_abandoned_complaint_stores_nothing(bot: Bot) -> None:
    who = sender()
    bot.say(who, "tôi muốn gửi phản ánh")
    bot.say(who, CONTENT)
    bot.say(who, "UBND phường")
    stopped = bot.say(who, "thôi, hủy")
    assert "đã hủy" in stopped.text, stopped.text
    assert complaints_of(bot.engine, who.split(":")[1]) == []
    assert "Dạ" in bot.say(who, "xin chào").text  # the conversation goes on normally


# --- handoff, fallback, dashboard ---------------------------------------------------------------------
def test_officer_on_duty_pauses_the_bot(bot: Bot) -> None:
    who = sender()
    handed = bot.say(who, "cho tôi gặp cán bộ")
    assert "vị trí số" in handed.text and "phút" in handed.text, handed.text
    assert bot.say(who, "alo, có ai không?").replies == []  # the bot is paused: an officer answers
    with Session(bot.engine) as session:
        conversation = session.scalars(
            select(ConversationRow).where(ConversationRow.sender_id == who.split(":")[1])
        ).one()
    assert conversation.status == "waiting"


def test_two_stage_fallback_ends_with_the_offer_of_an_officer(bot: Bot) -> None:
    # Which words fall below the FallbackClassifier threshold depends on the trained model (gibberish may
    # well be classified out_of_scope, which is also a polite answer), so the dialogue path is driven with
    # the intent the classifier emits when unsure.
    who = sender()
    first = bot.say(who, "/nlu_fallback")
    assert "chưa hiểu" in first.text, first.text
    second = bot.say(who, "/nlu_fallback")
    assert "Gặp cán bộ" in [b["title"] for b in second.buttons], second.text
    with Session(bot.engine) as session:
        outcomes = session.scalars(select(BotTurnRow.outcome).where(BotTurnRow.sender_id == who.split(":")[1])).all()
    assert outcomes == ["fallback", "fallback"]


# --- PostgreSQL goes down in the middle of a complaint ---------------------------------------------
@pytest.fixture(scope="module")
def pg_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bot, pg_server.PgServer]]:
    if os.environ.get("MOTCUA_TEST_POSTGRES_URL"):
        pytest.skip("an external PostgreSQL (MOTCUA_TEST_POSTGRES_URL) cannot be stopped by the test")
    reason = pg_server.why_unavailable()
    if reason is not None:
        if pg_server.pg_required():
            pytest.fail(f"PostgreSQL is required here: {reason}", pytrace=False)
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {reason}")
    server = pg_server.start_server()
    try:
        url = pg_server.create_database(server.url)
        engine = make_engine(url)
        create_all(engine)
        work_dir = tmp_path_factory.mktemp("rasa-flows-pg")
        servers = _start(work_dir, url, {"MOTCUA_OFFICER_HOURS": ALWAYS_ON_DUTY})
        try:
            yield Bot(servers, engine), server
        finally:
            servers.stop()
            engine.dispose()
    finally:
        server.destroy()


@pytest.mark.postgres
def test_postgresql_down_between_answers_is_never_acknowledged_and_lost(
    pg_bot: tuple[Bot, pg_server.PgServer],
) -> None:
    bot, server = pg_bot
    who = sender()
    bot.say(who, "tôi muốn gửi phản ánh")
    bot.say(who, CONTENT)
    server.stop()  # the database goes away between two answers
    try:
        bot.say(who, "UBND phường Dịch Vọng")
        bot.say(who, "bỏ qua")
        read_back = bot.say(who, "bỏ qua")
        assert CONTENT in read_back.text, read_back.text
        failed = bot.say(who, read_back.payload("Gửi phản ánh"))
        assert "CHƯA được lưu" in failed.text and not CODE.search(failed.text), failed.text
    finally:
        server.start()
    pg_server.wait_until_ready(server.url)
    assert complaints_of(bot.engine, who.split(":")[1]) == []  # told to retry: indeed nothing stored

    again = bot.say(who, failed.payload("Gửi lại"))
    assert CONTENT in again.text, again.text
    receipt = bot.say(who, again.payload("Gửi phản ánh"))
    [row] = complaints_of(bot.engine, who.split(":")[1])
    assert row.code in receipt.text and row.content == CONTENT, receipt.text
