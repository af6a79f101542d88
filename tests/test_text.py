"""Vietnamese text tools: what a citizen types must mean the same thing however they type it."""

from __future__ import annotations

import unicodedata

import pytest

from knowledge_base import text as vn


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Hoà giải", "hòa giải"),
        ("thuỷ sản", "thủy sản"),
        ("khoẻ", "khỏe"),
        ("HỢP TÁC XÃ", "hợp tác xã"),
        ("người", "người"),
        ("quý", "quý"),
        ("giữa", "giữa"),
        ("khuyến", "khuyến"),
    ],
)
def test_normalize_places_tone_marks_one_way(typed: str, expected: str) -> None:
    assert vn.normalize(typed) == expected


def test_normalize_accepts_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Đăng ký khai sinh")
    assert vn.normalize(decomposed) == "đăng ký khai sinh"


def test_normalize_keeps_length_so_entity_offsets_stay_valid() -> None:
    text = "Cho em hỏi làm lại CCCD hoà giải thuỷ sản ở đâu ạ?"
    assert len(vn.normalize(text)) == len(text)
    assert len(vn.fold(text)) == len(text)


def test_fold_removes_every_diacritic() -> None:
    assert vn.fold("Đăng ký LÁI XE, hộ chiếu") == "dang ky lai xe, ho chieu"
    assert vn.fold("lái") == vn.fold("lại") == "lai"


def test_abbreviations_expand_word_for_word() -> None:
    assert vn.expand_abbreviations("ko đc j") == "không được gì"
    assert vn.expand_abbreviations("đk tạm trú") == "đăng ký tạm trú"


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("cccd", "căn cước"),
        ("làm lại bằng lái", "giấy phép lái xe"),
        ("lam lai bang lai", "giấy phép lái xe"),
        ("sổ đỏ bị mất", "giấy chứng nhận quyền sử dụng đất"),
        ("sổ đỏ bị mất", "cấp lại"),
        ("chuyển hộ khẩu", "thường trú"),
        ("sổ hộ khẩu", "cư trú"),
    ],
)
def test_synonyms_map_citizen_words_to_catalogue_words(query: str, canonical: str) -> None:
    assert canonical in vn.synonym_expansions(query)


def test_typed_diacritics_are_respected_in_synonyms() -> None:
    # "lại" (again) is not "lái" (drive): a citizen who typed the accent is taken at their word.
    assert "giấy phép lái xe" not in vn.synonym_expansions("làm lại xe")
    assert "giấy phép lái xe" in vn.synonym_expansions("lai xe")


def test_fillers_are_removed_but_content_stays() -> None:
    assert vn.strip_fillers("Cho em hỏi thủ tục đăng ký khai sinh như thế nào ạ") == "đăng ký khai sinh"
    assert vn.strip_fillers("cho em hoi thu tuc dang ky khai sinh nhu the nao a") == "dang ky khai sinh"


def test_search_query_same_with_and_without_diacritics() -> None:
    from knowledge_base.search.analysis import analyze_query

    with_marks = analyze_query("làm CCCD cần giấy tờ gì").all_words
    without = analyze_query("lam cccd can giay to gi").all_words
    assert {"căn", "cước"} <= set(with_marks)
    assert {"căn", "cước"} <= set(without)
