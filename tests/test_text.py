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


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("thay đổi nội dung đăng ký", "cấp đổi"),  # amend, not exchange
        ("sửa đổi giấy phép", "cấp đổi"),
        ("thuế nhập khẩu hàng hóa", "cư trú"),  # import, not household register
        ("qua cửa khẩu quốc tế", "cư trú"),
        ("thay doi thong tin", "cấp đổi"),
        ("mien thue doi voi hang hoa", "cấp đổi"),  # "đối với" typed without diacritics
    ],
)
def test_compounds_are_not_read_as_the_synonym_inside_them(text: str, wrong: str) -> None:
    assert wrong not in vn.synonym_expansions(text)
    assert vn.fold(wrong) not in vn.fold(vn.expand_synonyms(text))


def test_the_synonyms_inside_compounds_still_work_alone() -> None:
    assert "cấp đổi" in vn.synonym_expansions("đổi bằng lái")
    assert "cư trú" in vn.synonym_expansions("cắt khẩu cho con")
    assert "chứng thư chữ ký điện tử" in vn.synonym_expansions("gia hạn chứng thư số")


def test_clauses_split_at_punctuation_but_not_inside_numbers() -> None:
    parts = vn.clauses("Con vào lớp 1, trường đòi giấy. Xin ở đâu?")
    assert parts == ["Con vào lớp 1", " trường đòi giấy", " Xin ở đâu"]
    assert vn.clauses("Nghị định 82/2017/NĐ-CP mức 1.5 lần") == ["Nghị định 82/2017/NĐ-CP mức 1.5 lần"]


def test_filler_runs_break_at_filler() -> None:
    words = vn.expand_abbreviations("Cho em hỏi chứng thư số sắp hết hạn thì xử lý như thế nào ko đc gia hạn à").split()
    runs = vn.filler_runs(words)
    # "xử lý như thế nào" asks how, as a whole: it is filler, not the words "xử lý" of a procedure name;
    # "sắp" (about to), like "đã" and "sẽ", only says when.
    assert runs == [["chứng", "thư", "số"], ["hết", "hạn", "thì"], ["gia", "hạn"]]


def test_query_word_pairs_never_span_filler_or_punctuation() -> None:
    from knowledge_base.search.analysis import analyze_query

    pairs = analyze_query("Chứng thư số hết hạn, xử lý như thế nào để gia hạn?").pairs
    assert ("chung", "thu") in pairs and ("gia", "han") in pairs
    assert ("han", "xu") not in pairs  # across the comma
    assert ("ly", "gia") not in pairs  # across "như thế nào để"


def test_aliases_are_the_words_that_only_stand_for_a_catalogue_phrase() -> None:
    words = vn.syllables("làm sổ đỏ online được không")
    aliases = vn.synonym_aliases(words)
    assert aliases["online"] == "trực tuyến"
    assert aliases["do"] == aliases["so"] != ""  # "sổ đỏ" stands for the land-use certificate
    assert "lam" not in aliases and "duoc" not in aliases  # not part of any synonym
    # A word the catalogue phrase itself contains is no alias: "căn cước công dân" → "căn cước".
    assert set(vn.synonym_aliases(vn.syllables("thẻ căn cước công dân"))) == {"the", "cong", "dan"}


@pytest.mark.parametrize(
    ("text", "same_as"),
    [("đăng kí", "đăng ký"), ("Lí lịch", "lý lịch"), ("quí", "quý"), ("qui định", "quy định"), ("kĩ thuật", "kỹ thuật"),
     ("mĩ", "mỹ"), ("tỉ lệ", "tỷ lệ"), ("hi sinh", "hy sinh"), ("dang ki", "dang ky"), ("li hôn", "ly hôn")],
)  # fmt: skip
def test_i_and_y_after_the_same_onset_are_one_spelling(text: str, same_as: str) -> None:
    assert vn.normalize(text) == vn.normalize(same_as)
    assert len(vn.normalize(text)) == len(text)  # entity offsets stay valid
    assert vn.normalize("Kí", lower=False) == "Ký"


def test_i_stays_where_y_is_no_spelling_of_it() -> None:
    assert vn.syllables("khi thi chi nghi bi di vi kiểm") == ["khi", "thi", "chi", "nghi", "bi", "di", "vi", "kiểm"]


def test_chat_f_reads_as_ph() -> None:
    assert vn.expand_abbreviations("xin fep xay dung fải nộp ở fường") == "xin phep xay dung phải nộp ở phường"
    for loanword in ("gửi file qua fax", "form mẫu", "gửi qua fb", "chụp bằng flycam"):
        assert vn.expand_abbreviations(loanword) == loanword  # the catalogue writes these with f too
