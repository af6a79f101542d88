"""End to end: a citizen talks to the real Rasa server (trained model) and the real action server.

Skipped with the reason when .venv-rasa or the Rasa project is missing; under CI=true (or
MOTCUA_REQUIRE_RASA=1) that is a failure instead. Timings go to <tmp>/timings.json and stderr.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator

import pytest
import yaml

from actions import formatting as fmt
from knowledge_base.builtin_catalogue import load_builtin
from knowledge_base.model import ChannelKind, Procedure
from tests import rasa_server

pytestmark = pytest.mark.rasa

THUONG_TRU = "1.004222"


@pytest.fixture(scope="session")
def rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rasa_server.Servers]:
    reason = rasa_server.why_unavailable()
    if reason is not None:
        if rasa_server.rasa_required():
            pytest.fail(f"Rasa is required here (CI=true or MOTCUA_REQUIRE_RASA=1): {reason}", pytrace=False)
        pytest.skip(f"RASA END-TO-END TESTS SKIPPED: {reason}")
    work_dir = tmp_path_factory.mktemp("rasa-e2e")
    try:
        trained = rasa_server.ensure_model(work_dir)
        servers = rasa_server.start_servers(trained.model, work_dir)
    except rasa_server.RasaFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    timings = {
        "model": trained.model.name,
        "model_reused": trained.reused,
        "train_seconds": round(trained.seconds, 1),
        **{f"{name}_start_seconds": round(s, 1) for name, s in servers.start_seconds.items()},
    }
    (work_dir / "timings.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
    print(f"\nRasa e2e: {timings}", file=sys.stderr)
    try:
        yield servers
    finally:
        servers.stop()


def _thuong_tru() -> Procedure:
    return next(p for p in load_builtin() if p.code == THUONG_TRU)


def _texts(messages: list[dict[str, object]]) -> str:
    return "\n".join(str(m.get("text") or "") for m in messages)


def _talk(rasa: rasa_server.Servers, sender: str, message: str) -> str:
    replies = rasa.send(sender, message)
    assert replies, f"no reply to {message!r}\n{rasa.log_tails()}"
    for reply in replies:
        assert len(str(reply.get("text") or "")) <= fmt.MAX_MESSAGE_CHARS
    return _texts(replies)


def test_greeting(rasa: rasa_server.Servers) -> None:
    text = _talk(rasa, f"e2e-{uuid.uuid4().hex[:8]}", "xin chào")
    assert "chào" in text.lower()


def test_documents_then_fee_then_place_of_dang_ky_thuong_tru(rasa: rasa_server.Servers) -> None:
    procedure = _thuong_tru()
    sender = f"e2e-{uuid.uuid4().hex[:8]}"

    documents = _talk(rasa, sender, "Đăng ký thường trú cần giấy tờ gì ạ?")
    assert "Đăng ký thường trú" in documents and THUONG_TRU in documents
    first_case = next(c for c in procedure.cases if c.documents)
    assert fmt.shorten(first_case.documents[0].name, 40).rstrip("…") in documents
    assert procedure.url and procedure.url in documents

    direct = next(c for c in procedure.channels if c.kind == ChannelKind.DIRECT)
    in_person_fee = fmt.money(next(f.amount for f in direct.fees if f.amount))
    fee = _talk(rasa, sender, "còn lệ phí thì sao?")
    assert THUONG_TRU in fee, f"the follow-up should stay on Đăng ký thường trú:\n{fee}"
    assert f"Trực tiếp: {in_person_fee}" in fee

    place = _talk(rasa, sender, "nộp ở đâu ạ?")
    assert THUONG_TRU in place
    assert procedure.implementing_agencies[0] in place


def test_fee_question_in_one_message(rasa: rasa_server.Servers) -> None:
    procedure = _thuong_tru()
    direct = next(c for c in procedure.channels if c.kind == ChannelKind.DIRECT)
    in_person_fee = fmt.money(next(f.amount for f in direct.fees if f.amount))
    text = _talk(rasa, f"e2e-{uuid.uuid4().hex[:8]}", "lệ phí đăng ký thường trú bao nhiêu tiền?")
    assert THUONG_TRU in text and in_person_fee in text


def test_out_of_scope_gets_a_polite_refusal(rasa: rasa_server.Servers) -> None:
    domain = yaml.safe_load((rasa_server.REPO / "domain.yml").read_text(encoding="utf-8"))
    refusals = {r["text"] for r in domain["responses"]["utter_out_of_scope"]}
    text = _talk(rasa, f"e2e-{uuid.uuid4().hex[:8]}", "giá vàng sáng nay là bao nhiêu vậy")
    assert text in refusals, text
    assert "xin lỗi" in text.lower() and "thủ tục" in text


def test_nlu_recognises_a_procedure_question(rasa: rasa_server.Servers) -> None:
    """The NLU uses the pinned intent name for a procedure question."""
    parsed = rasa.parse("Đăng ký thường trú cần giấy tờ gì?")
    assert parsed["intent"]["name"] == "ask_procedure"  # type: ignore[index]
