"""action_answer_procedure, driven the way Rasa drives it: a Tracker in, what the citizen reads out.

Facts (fees, document names) are read from the catalogue, never hard-coded here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import aspects as asp
from actions import formatting as fmt
from actions.knowledge import use_catalogue
from actions.procedures import ActionAnswerProcedure
from core.settings import Settings
from knowledge_base.catalogue import Catalogue
from knowledge_base.model import ChannelKind, Procedure

THUONG_TRU = "1.004222"
BUTTON_PAYLOAD = re.compile(r'^/ask_procedure\{"procedure":"\d{1,2}\.\d{6}"(,"aspect":"[a-z_]+")?\}$')
MONEY = re.compile(r"\d{1,3}(?:\.\d{3})+ đồng")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    data_dir: Path = tmp_path_factory.mktemp("motcua-actions")
    saved = {k: os.environ.get(k) for k in ("MOTCUA_DATA_DIR", "MOTCUA_SEARCH", "MOTCUA_DATABASE_URL",
                                            "DATABASE_URL")}
    os.environ.update({"MOTCUA_DATA_DIR": str(data_dir), "MOTCUA_SEARCH": "sqlite"})
    os.environ.pop("MOTCUA_DATABASE_URL", None)
    os.environ.pop("DATABASE_URL", None)
    try:
        built = Catalogue.from_settings(Settings.from_env())
        use_catalogue(built)
        yield built
    finally:
        use_catalogue(None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Reply:
    """What one action run produced."""

    def __init__(self, messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.events = events

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.messages)

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [b for m in self.messages for b in m.get("buttons") or []]

    def slot(self, name: str) -> Any:
        values = [e["value"] for e in self.events if e.get("event") == "slot" and e.get("name") == name]
        assert values, f"no SlotSet {name} in {self.events}"
        return values[-1]

    def slots(self, before: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = dict(before or {})
        merged.update({e["name"]: e["value"] for e in self.events if e.get("event") == "slot"})
        return merged


def ask(text: str, slots: dict[str, Any] | None = None, entities: list[dict[str, Any]] | None = None) -> Reply:
    tracker = Tracker(
        sender_id="citizen",
        slots=dict(slots or {}),
        latest_message={"text": text, "intent": {"name": "ask_procedure", "confidence": 0.9},
                        "entities": entities or []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = ActionAnswerProcedure().run(dispatcher, tracker, {})
    reply = Reply(dispatcher.messages, events)
    for message in reply.messages:
        assert len(message.get("text") or "") <= fmt.MAX_MESSAGE_CHARS
    return reply


def press(button: dict[str, str], slots: dict[str, Any]) -> Reply:
    """What Rasa does with a button payload: the payload as text, its JSON as entities."""
    match = re.match(r"^/ask_procedure(\{.*\})$", button["payload"])
    assert match, button
    import json

    entities = [{"entity": k, "value": v} for k, v in json.loads(match.group(1)).items()]
    return ask(button["payload"], slots, entities)


def thuong_tru(catalogue: Catalogue) -> Procedure:
    procedure = catalogue.get(THUONG_TRU)
    assert procedure is not None, "the built-in catalogue lost Đăng ký thường trú"
    return procedure


# --- answers ------------------------------------------------------------------------------------
def test_documents_of_dang_ky_thuong_tru_are_listed(catalogue: Catalogue) -> None:
    procedure = thuong_tru(catalogue)
    reply = ask("Đăng ký thường trú cần giấy tờ gì?")

    assert reply.slot("procedure_code") == THUONG_TRU
    assert reply.slot("aspect") == "documents"
    first = reply.messages[0]["text"]
    assert "Đăng ký thường trú" in first and THUONG_TRU in first
    assert procedure.url and procedure.url in reply.text
    case = next(c for c in procedure.cases if c.documents)
    assert fmt.shorten(case.documents[0].name, 40).rstrip("…") in reply.text
    assert reply.text.count("\n• ") >= 3
    if len([c for c in procedure.cases if c.documents]) > 1:
        assert "▸ " in reply.text  # documents shown per case


def test_in_person_fee_is_shown_when_asked(catalogue: Catalogue) -> None:
    procedure = thuong_tru(catalogue)
    direct = next(c for c in procedure.channels if c.kind == ChannelKind.DIRECT)
    amount = next(f.amount for f in direct.fees if f.amount)
    expected = fmt.money(amount)
    assert MONEY.fullmatch(expected)

    reply = ask("Lệ phí đăng ký thường trú bao nhiêu?")

    assert reply.slot("procedure_code") == THUONG_TRU
    assert f"Trực tiếp: {expected}" in reply.text
    assert "«Đăng ký thường trú» (mã 1.004222)" in reply.text
    assert "Giấy tờ" not in reply.text.split("\n")[1]  # answers the fee, not a field dump


def test_follow_up_aspect_answers_about_the_same_procedure(catalogue: Catalogue) -> None:
    procedure = thuong_tru(catalogue)
    first = ask("Đăng ký thường trú cần giấy tờ gì?")
    slots = first.slots({"aspect": None})

    fee = ask("còn lệ phí thì sao?", slots)
    assert fee.slot("procedure_code") == THUONG_TRU
    assert "Đăng ký thường trú" in fee.text and MONEY.search(fee.text)

    place = ask("nộp ở đâu?", fee.slots(slots))
    assert place.slot("procedure_code") == THUONG_TRU
    assert procedure.implementing_agencies[0] in place.text

    button = next(b for b in place.buttons if b["payload"] == '/ask_procedure{"aspect":"steps"}')
    steps = press(button, place.slots(slots))
    assert steps.slot("procedure_code") == THUONG_TRU
    assert "Bước 1" in steps.text


def test_a_new_procedure_in_a_follow_up_switches_procedure(catalogue: Catalogue) -> None:
    slots = ask("Lệ phí đăng ký thường trú bao nhiêu?").slots()
    reply = ask("thế còn đăng ký tạm trú thì sao?", slots)
    code = reply.slot("procedure_code")
    assert code != THUONG_TRU
    assert "tạm trú" in (catalogue.get(code) or thuong_tru(catalogue)).name
    assert MONEY.search(reply.text) or "Miễn phí" in reply.text  # the fee again: the aspect carries over


def test_summary_without_aspect_offers_aspect_buttons(catalogue: Catalogue) -> None:
    reply = ask("Đăng ký thường trú")
    assert reply.slot("procedure_code") == THUONG_TRU
    assert "Thời gian" in reply.text and "Lệ phí" in reply.text and "Cơ quan giải quyết" in reply.text
    payloads = {b["payload"] for b in reply.buttons}
    assert '/ask_procedure{"aspect":"documents"}' in payloads
    assert '/ask_procedure{"aspect":"fee"}' in payloads


def test_close_results_ask_with_buttons(catalogue: Catalogue) -> None:
    query = "hộ kinh doanh"
    hits = catalogue.search(query, 3)
    assert hits[1].score >= hits[0].score * 0.95, f"precondition: {query!r} should be ambiguous: {hits}"

    reply = ask(query)

    assert all(e.get("name") != "procedure_code" for e in reply.events)
    assert len(reply.buttons) >= 2
    assert all(BUTTON_PAYLOAD.match(b["payload"]) for b in reply.buttons)
    chosen = press(reply.buttons[1], {})
    code = re.search(r"\d\.\d{6}", reply.buttons[1]["payload"])
    assert code and chosen.slot("procedure_code") == code.group(0)
    assert code.group(0) in chosen.text


def test_button_keeps_the_aspect_asked(catalogue: Catalogue) -> None:
    reply = ask("hộ kinh doanh cần giấy tờ gì")
    assert reply.buttons and all('"aspect":"documents"' in b["payload"] for b in reply.buttons)
    chosen = press(reply.buttons[0], {})
    assert chosen.slot("aspect") == "documents"
    assert "giấy tờ cần nộp" in chosen.messages[0]["text"]


def test_nonsense_is_honestly_not_found_with_an_officer_offer(catalogue: Catalogue) -> None:
    reply = ask("xyzzy qwrtp blorf")
    assert "chưa tìm thấy" in reply.text
    assert "cán bộ" in reply.text
    assert {"title": "Gặp cán bộ", "payload": "/request_human"} in reply.buttons
    assert reply.slot("procedure_code") is None
    assert not re.search(r"\(mã \d\.\d{6}\)", reply.text)


def test_a_word_unrelated_to_the_best_hit_is_not_answered_with_confidence(catalogue: Catalogue) -> None:
    reply = ask("con mèo nhà tôi bị ốm")
    assert all(e.get("name") != "procedure_code" or e.get("value") is None for e in reply.events)
    assert "Gặp cán bộ" in {b["title"] for b in reply.buttons}


def test_aspect_without_procedure_and_without_context_asks_which(catalogue: Catalogue) -> None:
    reply = ask("lệ phí bao nhiêu vậy?")
    assert "thủ tục nào" in reply.text
    assert reply.events == []


def test_no_diacritics_question_gets_the_same_answer(catalogue: Catalogue) -> None:
    pairs = [
        ("Đăng ký thường trú cần giấy tờ gì?", "dang ky thuong tru can giay to gi"),
        ("Lệ phí đăng ký thường trú bao nhiêu?", "le phi dang ky thuong tru bao nhieu"),
        ("Làm lại căn cước mất bao lâu?", "lam lai can cuoc mat bao lau"),
    ]
    for accented, plain in pairs:
        a, b = ask(accented), ask(plain)
        assert a.messages == b.messages, (accented, plain)
        assert a.events == b.events


def test_code_from_a_button_is_used_directly(catalogue: Catalogue) -> None:
    entities = [{"entity": "procedure", "value": THUONG_TRU}, {"entity": "aspect", "value": "form"}]
    reply = ask(f'/ask_procedure{{"procedure":"{THUONG_TRU}","aspect":"form"}}', {}, entities)
    assert reply.slot("procedure_code") == THUONG_TRU
    assert "mẫu đơn" in reply.messages[0]["text"].lower()


# --- chat size ----------------------------------------------------------------------------------
def test_every_answer_of_every_builtin_procedure_fits_a_chat_message(catalogue: Catalogue) -> None:
    codes = [p.code for p in catalogue.store.all()]
    assert codes
    for code in codes:
        procedure = catalogue.get(code)
        assert procedure is not None
        outputs = [fmt.summary_answer(procedure)]
        outputs += [fmt.aspect_answer(procedure, [a], "nhà thuê") for a in asp.ASPECTS]
        outputs.append(fmt.aspect_answer(procedure, list(asp.ASPECTS[:3])))
        for messages in outputs:
            assert 1 <= len(messages) <= fmt.MAX_MESSAGES
            for message in messages:
                assert len(message) <= fmt.MAX_MESSAGE_CHARS, (code, message[:80])
            assert procedure.code in messages[0] and procedure.name[:30] in messages[0]
            assert (procedure.url or procedure.code) in messages[-1]


# --- pieces -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Đăng ký thường trú cần giấy tờ gì?", ["documents"]),
        ("dang ky thuong tru can giay to gi", ["documents"]),
        ("lệ phí bao nhiêu", ["fee"]),
        ("mất bao lâu thì có kết quả", ["duration", "result"]),
        ("khi nào có kết quả", ["duration"]),
        ("nộp hồ sơ ở đâu", ["place"]),
        ("nộp hồ sơ đăng ký thường trú ở đâu", ["place"]),
        ("các bước làm như thế nào", ["steps"]),
        ("cần điều kiện gì", ["conditions"]),
        ("căn cứ pháp lý", ["legal_basis"]),
        ("mẫu tờ khai", ["form"]),
        ("gia hạn tạm trú", []),
        ("làm lại căn cước hết bao nhiêu tiền, mất mấy ngày", ["fee", "duration"]),
    ],
)
def test_aspect_detection(text: str, expected: list[str]) -> None:
    assert asp.detect_aspects(text) == expected


@pytest.mark.parametrize(
    ("text", "names_procedure"),
    [
        ("còn lệ phí thì sao?", False),
        ("nộp ở đâu?", False),
        ("nop o dau vay ban", False),
        ("mất bao lâu ạ", False),
        ("thế còn đăng ký tạm trú thì sao", True),
        ("làm lại căn cước", True),
    ],
)
def test_follow_up_detection(text: str, names_procedure: bool) -> None:
    assert bool(asp.procedure_words(text)) is names_procedure


def test_money_and_trimming() -> None:
    assert fmt.money(20000) == "20.000 đồng"
    assert fmt.money(1500000) == "1.500.000 đồng"
    lines = fmt.bullets([f"Giấy tờ {i}" for i in range(10)], limit=6, noun="giấy tờ")
    assert lines[-1] == "…và 4 giấy tờ khác"
    assert all(line.startswith("• ") for line in lines[:-1])
    assert fmt.shorten("một hai ba bốn năm sáu", 12).endswith("…")
    assert len(fmt.shorten("x" * 500, 100)) <= 100
