"""bot.spans: the entity span convention applied after DIET (no Rasa needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from bot.spans import (
    clean_entities,
    complete_aspect,
    keep_for_intent,
    phrase_ngrams,
    plausible,
    prefer_aspect_noun,
    recover_aspect,
    recover_procedure,
    trim_span,
)

BOTH = frozenset({"procedure", "aspect"})
ROOT = Path(__file__).resolve().parent.parent


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


# --- round 3: span guideline for long names and clause-length aspects (docs/nlu_pipelines.md) ------


def test_known_names_are_cut_by_the_convention_before_completion() -> None:
    # The lookup table holds citizens' phrases with circumstances; only the name part is learnt.
    names = phrase_ngrams(["giờ làm lại thẻ bảo hiểm", "nhận con nuôi trong nước", "sao y bản chính từ sổ gốc"])
    assert "nuoi trong" not in names and "chinh tu" not in names and "gio lam" not in names
    assert {"nhan con", "con nuoi", "lam lai", "the bao"} <= names
    # the unaccented twin of an accented name adds nothing: only the accented one tells "từ" from "tư"
    assert "sao tu" not in phrase_ngrams(["bản sao từ sổ gốc", "ban sao tu so goc"])
    text = "nhận con nuôi trong nước thì hồ sơ gồm gì"
    assert _named_with(names, text, [_entity(text, "procedure", "nhận con")]) == [("procedure", "nhận con nuôi")]


def _named_with(names: frozenset[str], text: str, entities: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["entity"], text[e["start"] : e["end"]]) for e in clean_entities(text, entities, BOTH, names)]


def test_circumstances_after_the_name_stay_outside_but_a_foreign_element_is_inside() -> None:
    names = phrase_ngrams(["xin giấy phép xây dựng nhà 3 tầng", "đổi bằng lái hết hạn", "đăng ký kết hôn"])
    text = "xin giay phep xay dung nha 3 tang mat bao lau"
    assert _named_with(names, text, [_entity(text, "procedure", "xin giay phep")])[0] == (
        "procedure",
        "xin giay phep xay dung nha",
    )
    text = "đổi bằng lái hết hạn còn được không"
    assert _named_with(names, text, [_entity(text, "procedure", "đổi bằng")]) == [("procedure", "đổi bằng lái")]
    text = "cấp đổi hộ chiếu còn nhận hồ sơ giấy không"
    assert _spans(text, [_entity(text, "procedure", "cấp đổi hộ chiếu còn")]) == [("procedure", "cấp đổi hộ chiếu")]
    text = "dang ky ket hon voi nguoi nuoc ngoai o dau"
    entities = [_entity(text, "procedure", "dang ky ket hon"), _entity(text, "aspect", "o dau")]
    assert _named_with(names, text, entities) == [
        ("procedure", "dang ky ket hon voi nguoi nuoc ngoai"),
        ("aspect", "o dau"),
    ]


def test_one_procedure_per_message_the_longest_of_overlapping_or_competing_spans() -> None:
    names = phrase_ngrams(["gia hạn thẻ tạm trú", "nhận nuôi", "nhận con nuôi"])
    text = "Gia hạn thẻ tạm trú có cần về quê không"
    entities = [_entity(text, "procedure", "Gia"), _entity(text, "procedure", "thẻ tạm trú")]
    assert _named_with(names, text, entities) == [("procedure", "Gia hạn thẻ tạm trú")]
    text = "nhận con nuôi thì người nhận nuôi phải bao nhiêu tuổi"
    entities = [_entity(text, "procedure", "nhận con nuôi"), _entity(text, "procedure", "nhận nuôi")]
    assert _named_with(names, text, entities) == [("procedure", "nhận con nuôi")]


def test_aspect_takes_its_verb_modal_and_bridge_words_but_no_second_or_passive_verb() -> None:
    text = "làm hộ chiếu cho bé thì phải nộp ở chỗ nào"
    assert _spans(text, [_entity(text, "aspect", "chỗ nào")]) == [("aspect", "phải nộp ở chỗ nào")]
    text = "thủ tục tách thửa được quy định tại nghị định nào"
    assert _spans(text, [_entity(text, "aspect", "nghị định nào")]) == [("aspect", "được quy định tại nghị định nào")]
    text = "tach thua thi phai dong nhung khoan phi nao"  # two fragments across "khoản"
    entities = [_entity(text, "aspect", "phai dong nhung"), _entity(text, "aspect", "phi nao")]
    assert _spans(text, entities) == [("aspect", "phai dong nhung khoan phi nao")]
    text = "cấp lại bằng lái do bị mất mất bao lâu"  # no second verb
    assert _spans(text, [_entity(text, "aspect", "mất bao lâu")]) == [("aspect", "mất bao lâu")]
    text = "cấp lại bằng lái bị mất mấy ngày thì có"  # "bị mất" is what happened, not the question
    assert _spans(text, [_entity(text, "aspect", "mấy ngày thì có")]) == [("aspect", "mấy ngày thì có")]
    text = "đi xuất khẩu lao động mất bao lâu"  # "động" is not the verb "đóng"
    assert _spans(text, [_entity(text, "aspect", "mất bao lâu")]) == [("aspect", "mất bao lâu")]
    text = "bằng lái bị giữ thì phải làm sao"  # a bare question frame takes no modal
    assert _spans(text, [_entity(text, "aspect", "làm sao")]) == [("aspect", "làm sao")]


def test_quantity_question_runs_to_the_end_of_the_clause_and_thi_keeps_one_question() -> None:
    text = "khai sinh xong thì được cấp mấy bản trích lục?"
    assert _spans(text, [_entity(text, "aspect", "được cấp mấy bản")]) == [
        ("aspect", "được cấp mấy bản trích lục")
    ]
    text = "làm lại căn cước mất mấy ngày vậy ad"  # particles are no noun phrase
    assert _spans(text, [_entity(text, "aspect", "mất mấy ngày")]) == [("aspect", "mất mấy ngày")]
    text = "làm hộ chiếu bao lâu thì có"
    assert _spans(text, [_entity(text, "aspect", "bao lâu thì có")]) == [("aspect", "bao lâu thì có")]


def test_aspect_edges_lose_went_to_and_keep_co_quan_without_diacritics() -> None:
    text = "khai tu thi toi co quan nao"
    assert _spans(text, [_entity(text, "aspect", "toi co quan nao")]) == [("aspect", "co quan nao")]
    text = "khai tử thì đến cơ quan nào"
    assert _spans(text, [_entity(text, "aspect", "đến cơ quan nào")]) == [("aspect", "cơ quan nào")]


def test_question_frame_inside_the_span_and_never_taking_another_entity() -> None:
    phrases = frozenset({"cac buoc", "ra sao", "online", "lam the nao"})
    text = "sang tên xe các bước ra sao"
    start = text.index("các")
    assert _cut(text, prefer_aspect_noun(text, start, len(text), phrases)) == "các bước"
    text = "đăng ký tạm trú online làm thế nào"  # "online" belongs to the procedure before it
    start = text.index("làm")
    assert _cut(text, prefer_aspect_noun(text, start, len(text), phrases, floor=start - 1)) == "làm thế nào"


def test_training_annotations_follow_the_convention_the_cleaner_applies() -> None:
    """Every annotated procedure/aspect span of nlu_data comes out of the cleaner unchanged."""
    examples = _annotated_examples()
    lookup = yaml.safe_load((ROOT / "nlu_data" / "lookup" / "procedure.yml").read_text(encoding="utf-8"))
    names = [line[2:] for block in lookup["nlu"] for line in block["examples"].splitlines() if line.startswith("- ")]
    names += [text[s:e] for text, spans in examples for entity, s, e in spans if entity == "procedure"]
    ngrams = phrase_ngrams(names)
    changed = []
    for text, spans in examples:
        entities = [{"entity": n, "start": s, "end": e, "value": text[s:e]} for n, s, e in spans]
        got = [(e["entity"], e["start"], e["end"]) for e in clean_entities(text, entities, BOTH, ngrams)]
        if sorted(got) != sorted(spans):
            changed.append(text)
    assert len(examples) > 600
    assert not changed, changed[:10]


_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\((\w+)\)|(\{[^}]+\}))")


def _annotated_examples() -> list[tuple[str, list[tuple[str, int, int]]]]:
    out = []
    for path in sorted((ROOT / "nlu_data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            if "intent" not in block:
                continue  # synonyms, regexes
            for line in (block.get("examples") or "").splitlines():
                raw = line.strip()[2:]
                if "](" not in raw and "]{" not in raw:
                    continue
                text, spans, position = "", [], 0
                for match in _ANNOTATION.finditer(raw):
                    text += raw[position : match.start()]
                    entity = match.group(2) or json.loads(match.group(3))["entity"]
                    spans.append((entity, len(text), len(text) + len(match.group(1))))
                    text += match.group(1)
                    position = match.end()
                text += raw[position:]
                if any(entity in BOTH for entity, _, _ in spans):
                    out.append((text, [s for s in spans if s[0] in BOTH]))
    return out


def test_a_span_drawn_too_long_is_cut_at_its_first_circumstance_word() -> None:
    names = phrase_ngrams(["lý lịch tư pháp", "nhận con nuôi", "sang tên ô tô"])
    text = "nhan con nuoi trong nuoc can gi"
    assert _named_with(names, text, [_entity(text, "procedure", "nhan con nuoi trong nuoc")]) == [
        ("procedure", "nhan con nuoi")
    ]
    text = "cấp bản sao giấy khai sinh từ sổ gốc mất bao lâu"
    assert _named_with(names, text, [_entity(text, "procedure", "cấp bản sao giấy khai sinh từ sổ")]) == [
        ("procedure", "cấp bản sao giấy khai sinh")
    ]
    # without diacritics "tu" cuts only where it continues no known name ("lý lịch tư pháp" does)
    text = "xin ly lich tu phap so 2 o dau"
    assert _named_with(names, text, [_entity(text, "procedure", "xin ly lich tu phap so 2")])[0] == (
        "procedure",
        "xin ly lich tu phap so 2",
    )
    text = "sang ten o to cu gom may buoc"  # "o to" is "ô tô", not "ở"
    assert _named_with(names, text, [_entity(text, "procedure", "sang ten")]) == [("procedure", "sang ten o to")]
    text = "khai báo tạm trú cho người nước ngoài thuê nhà"
    assert _named_with(names, text, [_entity(text, "procedure", "khai báo tạm trú cho người nước ngoài")]) == [
        ("procedure", "khai báo tạm trú cho người nước ngoài")
    ]


def test_aspect_nouns_and_question_words_are_no_procedure() -> None:
    text = "Cho xin mẫu tờ khai đăng ký giám hộ."
    entities = [_entity(text, "procedure", "mẫu tờ khai"), _entity(text, "procedure", "đăng ký giám hộ")]
    assert _spans(text, entities) == [("aspect", "mẫu tờ khai"), ("procedure", "đăng ký giám hộ")]
    text = "trich luc ket hon phi bao nhieu mot ban"
    entities = [_entity(text, "aspect", "phi"), _entity(text, "procedure", "bao nhieu mot ban")]
    assert _spans(text, entities) == [("aspect", "phi bao nhieu")]


def test_aspect_is_completed_from_known_synonyms_of_the_same_value() -> None:
    synonyms = {"lay ngay": "duration", "trong buoi": "duration", "ho so gom": "documents", "ra sao": "steps",
                "cac buoc": "steps", "nhanh nhat": "duration", "o dau": "place"}
    text = "công chứng hợp đồng có lấy ngay trong buổi được không"
    start = text.index("lấy")
    assert _cut(text, complete_aspect(text, start, start + len("lấy ngay"), "duration", synonyms)) == (
        "lấy ngay trong buổi"
    )
    text = "khai tử thì hô sơ gồm nhũng gì"  # a typo of "hồ sơ"
    start = text.index("sơ")
    assert _cut(text, complete_aspect(text, start, len(text), "documents", synonyms)) == "hô sơ gồm nhũng gì"
    text = "đổi bằng lái ở đâu nhanh nhất"  # another value: another question
    start = text.index("ở")
    assert _cut(text, complete_aspect(text, start, start + len("ở đâu"), "place", synonyms)) == "ở đâu"
    text = "tách hộ các bước ra sao"  # a generic frame stays outside
    start = text.index("các")
    assert _cut(text, complete_aspect(text, start, start + len("các bước"), "steps", synonyms)) == "các bước"


def test_aspect_edges_per_unit_phrases_and_channel_words() -> None:
    text = "chứng thực bản sao tiền bao nhiêu một trang"
    assert _spans(text, [_entity(text, "aspect", "tiền bao nhiêu một trang")]) == [("aspect", "tiền bao nhiêu")]
    text = "mở hộ kinh doanh bán đồ ăn online thì cần gì"
    entities = [_entity(text, "aspect", "ăn online"), _entity(text, "aspect", "cần gì")]
    assert _spans(text, entities) == [("aspect", "cần gì")]
    text = "đăng ký khai sinh có nộp online được không"
    assert _spans(text, [_entity(text, "aspect", "nộp online")]) == [("aspect", "nộp online")]


def test_aspect_noun_at_the_start_of_a_procedure_span_is_split_off() -> None:
    text = "Xin mẫu đơn đăng ký giám hộ cho cháu"
    assert _spans(text, [_entity(text, "procedure", "mẫu đơn đăng ký giám hộ")]) == [
        ("aspect", "mẫu đơn"),
        ("procedure", "đăng ký giám hộ"),
    ]


def test_same_value_phrase_before_the_aspect_joins_it() -> None:
    synonyms = {"lay ngay": "duration", "trong buoi": "duration"}
    text = "công chứng có lấy ngay trong buổi không"
    start = text.index("trong")
    assert _cut(text, complete_aspect(text, start, start + len("trong buổi"), "duration", synonyms)) == (
        "lấy ngay trong buổi"
    )
