"""bot.spans: the entity span convention applied after DIET (no Rasa needed)."""

from __future__ import annotations

from typing import Any

from bot.spans import clean_entities, plausible, trim_span

BOTH = frozenset({"procedure", "aspect"})


def _entity(text: str, entity: str, surface: str, extractor: str = "DIETClassifier") -> dict[str, Any]:
    start = text.index(surface)
    return {"entity": entity, "start": start, "end": start + len(surface), "value": surface, "extractor": extractor}


def _spans(text: str, entities: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["entity"], text[e["start"] : e["end"]]) for e in clean_entities(text, entities, BOTH)]


def test_procedure_loses_lead_in_and_trailing_function_words() -> None:
    text = "tôi muốn cấp lại cccd do mất ví"
    assert _spans(text, [_entity(text, "procedure", "muốn cấp lại cccd do")]) == [("procedure", "cấp lại cccd")]


def test_folded_do_is_kept_because_it_may_be_do_red() -> None:
    text = "cap so do lan dau can gi"
    assert trim_span(text, 0, len("cap so do"), "procedure") == (0, len("cap so do"))


def test_aspect_drops_particles_and_yes_no_frame_and_keeps_its_verb() -> None:
    text = "làm hộ chiếu có mất phí không ạ"
    assert _spans(text, [_entity(text, "aspect", "có mất phí không ạ")]) == [("aspect", "mất phí")]
    text = "xin phep xay dung mat bao lau"
    assert _spans(text, [_entity(text, "procedure", "phep xay dung"), _entity(text, "aspect", "bao lau")]) == [
        ("procedure", "xin phep xay dung"),
        ("aspect", "mat bao lau"),
    ]


def test_single_syllable_procedure_only_when_it_is_an_acronym() -> None:
    text = "cccd ở đâu, sinh con"
    assert _spans(text, [_entity(text, "procedure", "cccd"), _entity(text, "procedure", "sinh")]) == [
        ("procedure", "cccd")
    ]
    text = "làm cccd ở đâu"  # the verb before it joins the span
    assert _spans(text, [_entity(text, "procedure", "cccd")]) == [("procedure", "làm cccd")]


def test_diet_codes_must_look_like_codes_and_regex_codes_win() -> None:
    text = "nộp từ 3/1, mã BN-2025-011879 gọi 0912 345 678"
    entities = [
        _entity(text, "phone", "3/1"),
        _entity(text, "complaint_code", "BN-2025-011879"),
        _entity(text, "dossier_code", "BN-2025-011879", "RegexEntityExtractor"),
        _entity(text, "phone", "0912 345 678"),
    ]
    assert _spans(text, entities) == [("dossier_code", "BN-2025-011879"), ("phone", "0912 345 678")]
    assert not plausible("phone", "12")
    assert plausible("complaint_code", "PA-2026-000123")
