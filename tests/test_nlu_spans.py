"""bot.spans: the entity span convention applied after DIET (no Rasa needed)."""

from __future__ import annotations

from typing import Any

from bot.spans import (
    clean_entities,
    keep_for_intent,
    phrase_ngrams,
    plausible,
    prefer_aspect_noun,
    recover_aspect,
    recover_procedure,
    trim_span,
)

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


# Known procedure names, as EntityCleaner learns them from nlu_data/lookup/procedure.yml.
NAMES = phrase_ngrams(
    [
        "xác nhận tình trạng hôn nhân",
        "cấp sổ hồng",
        "gia hạn hộ chiếu",
        "đăng ký tạm trú online",
        "đăng ký khai sinh",
        "đăng ký người phụ thuộc",
        "giảm trừ gia cảnh",
    ]
)


def _named(text: str, entities: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["entity"], text[e["start"] : e["end"]]) for e in clean_entities(text, entities, BOTH, NAMES)]


def test_procedure_cut_inside_a_known_name_is_completed_with_or_without_diacritics() -> None:
    text = "xac nhan tinh trang hon nhan de vay ngan hang mat bao lau"
    assert _named(text, [_entity(text, "procedure", "xac nhan tinh")]) == [
        ("procedure", "xac nhan tinh trang hon nhan")
    ]
    text = "Gia hạn hộ chiếu bây giờ còn áp dụng không"
    assert _named(text, [_entity(text, "procedure", "hạn hộ chiếu")]) == [("procedure", "Gia hạn hộ chiếu")]
    text = "cấp sổ hồng cho căn hộ chung cư nộp ở đâu"
    entities = [_entity(text, "procedure", "cấp sổ"), _entity(text, "aspect", "nộp ở đâu")]
    # "cho" ends the name; without the known names the span stays as DIET found it
    assert _named(text, entities)[0] == ("procedure", "cấp sổ hồng")
    assert _spans(text, entities)[0] == ("procedure", "cấp sổ")


def test_completion_swallows_fragments_and_stops_at_the_next_entity() -> None:
    text = "dang ky nguoi phu thuoc giam tru gia canh ho so gom gi"
    entities = [
        _entity(text, "procedure", "dang ky nguoi"),
        _entity(text, "procedure", "thuoc"),
        _entity(text, "aspect", "ho so gom gi"),
    ]
    assert _named(text, entities) == [("procedure", "dang ky nguoi phu thuoc"), ("aspect", "ho so gom gi")]
    text = "đăng ký khai sinh cho hai con sinh đôi"
    entities = [_entity(text, "procedure", "đăng ký khai"), _entity(text, "procedure", "sinh đôi")]
    assert _named(text, entities) == [("procedure", "đăng ký khai sinh")]


def test_circumstances_are_not_a_second_procedure() -> None:
    text = "sau khi mua đất, đăng ký khai sinh cho con"
    entities = [_entity(text, "procedure", "mua đất"), _entity(text, "procedure", "đăng ký khai sinh")]
    assert _named(text, entities) == [("procedure", "đăng ký khai sinh")]


def test_a_span_across_thi_keeps_the_right_phrase() -> None:
    text = "quyết toán thuế tự làm thì nộp ở đâu"
    assert _spans(text, [_entity(text, "aspect", "làm thì nộp ở đâu")]) == [("aspect", "nộp ở đâu")]
    text = "mở quán bán hàng online cần gì"  # "online" alone asks nothing; "[nộp online]" would
    assert _spans(text, [_entity(text, "aspect", "online")]) == []


def test_missing_procedure_is_recovered_from_a_verb_and_a_known_name() -> None:
    text = "Tôi muốn đăng ký khai sinh cho con thì đến đâu"
    found = recover_procedure(text, [], NAMES)
    assert found is not None and text[found["start"] : found["end"]] == "đăng ký khai sinh"
    assert recover_procedure("muốn cải chính thì các bước ra sao", [], NAMES) is not None
    assert recover_procedure("tôi muốn hỏi một chút", [], NAMES) is None


def test_procedure_and_aspect_belong_to_ask_procedure_only() -> None:
    entities = [{"entity": "procedure", "start": 0, "end": 3}, {"entity": "dossier_code", "start": 5, "end": 9}]
    scoped = {"procedure": frozenset({"ask_procedure"})}
    assert keep_for_intent(entities, "check_dossier_status", scoped) == entities[1:]
    assert keep_for_intent(entities, "ask_procedure", scoped) == entities


def test_missing_aspect_is_recovered_from_known_phrases() -> None:
    phrases = frozenset({"gom may buoc", "may buoc", "ho so gom", "cac buoc", "ra sao", "co quan nao", "ho so"})
    text = "sang ten o to khac tinh gom may buoc"
    assert _cut(text, recover_aspect(text, [], phrases)) == "gom may buoc"
    text = "dang ky nguoi phu thuoc ho so gom gi"
    assert _cut(text, recover_aspect(text, [], phrases)) == "ho so gom gi"
    text = "muốn cải chính thì các bước ra sao"  # the aspect noun, not the generic frame
    assert _cut(text, recover_aspect(text, [], phrases)) == "các bước"
    assert recover_aspect("hồ sơ vay ngân hàng", [], phrases) is None


def _cut(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


def test_generic_question_frame_gives_way_to_the_aspect_noun_before_it() -> None:
    phrases = frozenset({"cac buoc", "ra sao", "le phi"})
    text = "muốn cải chính thì các bước ra sao"
    start = text.index("ra sao")
    assert _cut(text, prefer_aspect_noun(text, start, len(text), phrases)) == "các bước"
    text = "đăng ký tạm trú ra sao"  # no aspect noun before it: the frame stays
    start = text.index("ra sao")
    assert _cut(text, prefer_aspect_noun(text, start, len(text), phrases)) == "ra sao"
