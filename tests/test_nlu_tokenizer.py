"""bot.segment: Vietnamese tokens with and without diacritics, offsets into the original message."""

from __future__ import annotations

import unicodedata

import pytest

from bot.segment import tokenize


def _check_offsets(text: str, segmenter: str = "syllable") -> None:
    for piece in tokenize(text, segmenter):
        raw = text[piece.start : piece.end]
        assert unicodedata.normalize("NFC", raw).replace(" ", "_").lower() == piece.text.lower()


def test_same_features_with_and_without_diacritics() -> None:
    with_marks = tokenize("làm CCCD cần giấy tờ gì")
    without = tokenize("lam cccd can giay to gi")
    assert [p.folded for p in with_marks] == [p.folded for p in without]
    assert [p.folded for p in without] == ["lam", "cccd", "can", "giay", "to", "gi"]
    assert [(p.start, p.end) for p in with_marks] == [(p.start, p.end) for p in without]


def test_offsets_index_the_original_message() -> None:
    text = "Cho em hỏi: làm CCCD cần giấy tờ gì ạ?"
    pieces = tokenize(text)
    assert [text[p.start : p.end] for p in pieces] == [
        "Cho",
        "em",
        "hỏi",
        "làm",
        "CCCD",
        "cần",
        "giấy",
        "tờ",
        "gì",
        "ạ",
    ]
    _check_offsets(text)


def test_decomposed_input_keeps_offsets_and_normalises_text() -> None:
    text = unicodedata.normalize("NFD", "Hồ sơ của tôi")
    pieces = tokenize(text)
    assert [p.text for p in pieces] == ["Hồ", "sơ", "của", "tôi"]
    assert pieces[-1].end == len(text)
    _check_offsets(text)


def test_tone_placement_is_canonical() -> None:
    assert [p.text for p in tokenize("hoà thuỷ")] == [p.text for p in tokenize("hòa thủy")]


def test_abbreviations_fold_to_full_words() -> None:
    assert [p.folded for p in tokenize("ko đc j")] == ["khong", "duoc", "gi"]
    assert [p.text for p in tokenize("ko đc j")] == ["ko", "đc", "j"]


@pytest.mark.parametrize(
    "code",
    ["000.00.25.H29-250312-0012", "H29.22-250312-0012", "G01.2025.001234", "PA-2026-000123", "091.234.5678"],
)
def test_codes_stay_one_token(code: str) -> None:
    text = f"tra cứu {code} giúp em"
    pieces = tokenize(text)
    assert any(text[p.start : p.end] == code for p in pieces)


def test_phone_with_country_code_keeps_plus() -> None:
    text = "sđt +84 912 345 678"
    pieces = tokenize(text)
    assert text[pieces[1].start : pieces[-1].end] == "+84 912 345 678"


def test_underthesea_groups_words_and_keeps_offsets() -> None:
    pytest.importorskip("underthesea")
    text = "Làm CCCD cần giấy tờ gì"
    pieces = tokenize(text, "underthesea")
    assert "giấy_tờ" in [p.text for p in pieces]
    assert any(text[p.start : p.end] == "giấy tờ" for p in pieces)
    _check_offsets(text, "underthesea")


def test_unknown_segmenter_is_rejected() -> None:
    with pytest.raises(ValueError):
        tokenize("xin chào", "nope")
