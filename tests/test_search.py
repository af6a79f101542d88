"""Catalogue search as a citizen notices it, run identically on SQLite FTS5 and a real Elasticsearch 8."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge_base.model import Case, Document, Procedure
from knowledge_base.search import EmptyQueryError, Searcher
from knowledge_base.search.analysis import AnalyzedQuery, analyze_query
from knowledge_base.search.base import SearchBackend
from knowledge_base.search.ranking import query_actions
from knowledge_base.search.sqlite_fts import SqliteFtsBackend
from tests import es_server

GPLX_NEW, GPLX_CHANGE = "T.001", "T.002"
CCCD_REISSUE, CCCD_RENEW = "T.003", "T.004"
BIRTH, RESIDENCE, TEMP_RESIDENCE = "T.005", "T.006", "T.007"
LAND_REISSUE, SPORTS_CLUB = "T.008", "T.009"
CCCD_CHILD, CCCD_ADULT = "T.010", "T.011"
DRIVING = {GPLX_NEW, GPLX_CHANGE}


def _proc(code: str, name: str, field: str, terms: list[str], summary: str, docs: list[str]) -> Procedure:
    return Procedure(
        code=code,
        name=name,
        field=field,
        citizen_terms=terms,
        summary=summary,
        subjects=["Công dân Việt Nam"],
        cases=[Case(documents=[Document(name=d) for d in docs])],
        results=[name.replace("Cấp ", "").replace("Đăng ký ", "Xác nhận ")],
        url=f"https://dichvucong.gov.vn/p/{code}",
        builtin=True,
    )


CATALOGUE: list[Procedure] = [
    _proc(
        GPLX_NEW,
        "Cấp giấy phép lái xe",
        "Đường bộ",
        ["thi bằng lái xe", "học lái xe", "bằng lái xe máy", "bằng lái ô tô"],
        "Thi sát hạch và nhận giấy phép lái xe lần đầu.",
        ["Đơn đề nghị học, sát hạch để cấp giấy phép lái xe", "Giấy khám sức khỏe của người lái xe"],
    ),
    _proc(
        GPLX_CHANGE,
        "Đổi giấy phép lái xe do ngành Giao thông vận tải cấp",
        "Đường bộ",
        ["đổi bằng lái xe", "bằng lái xe hết hạn", "đổi bằng lái sang thẻ nhựa"],
        "Đổi giấy phép lái xe sắp hết hạn hoặc bị hỏng.",
        ["Đơn đề nghị đổi giấy phép lái xe", "Giấy khám sức khỏe của người lái xe"],
    ),
    _proc(
        CCCD_REISSUE,
        "Cấp lại thẻ căn cước",
        "Căn cước",
        ["làm lại căn cước", "mất căn cước công dân", "mất thẻ căn cước", "làm lại cccd"],
        "Làm lại thẻ căn cước khi bị mất hoặc hư hỏng.",
        ["Tờ khai căn cước", "Giấy tờ chứng minh nơi cư trú"],
    ),
    _proc(
        CCCD_RENEW,
        "Cấp đổi thẻ căn cước",
        "Căn cước",
        ["đổi căn cước công dân", "căn cước hết hạn", "đổi thẻ căn cước khi đủ tuổi"],
        "Đổi thẻ căn cước khi đến tuổi đổi hoặc thay đổi thông tin.",
        ["Tờ khai căn cước", "Thẻ căn cước cũ"],
    ),
    _proc(
        BIRTH,
        "Đăng ký khai sinh",
        "Hộ tịch",
        ["làm giấy khai sinh", "con mới sinh", "em bé mới sinh", "khai sinh cho con"],
        "Đăng ký khai sinh cho trẻ mới sinh.",
        ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh"],
    ),
    _proc(
        RESIDENCE,
        "Đăng ký thường trú",
        "Đăng ký, quản lý cư trú",
        ["nhập hộ khẩu", "chuyển hộ khẩu", "đăng ký hộ khẩu thường trú"],
        "Đăng ký nơi thường trú mới.",
        ["Tờ khai thay đổi thông tin cư trú", "Giấy tờ chứng minh chỗ ở hợp pháp"],
    ),
    _proc(
        TEMP_RESIDENCE,
        "Đăng ký tạm trú",
        "Đăng ký, quản lý cư trú",
        ["đăng ký tạm trú cho người thuê trọ", "khai báo tạm trú", "thuê nhà trọ"],
        "Đăng ký tạm trú khi ở nơi khác nơi thường trú từ 30 ngày.",
        ["Tờ khai thay đổi thông tin cư trú", "Hợp đồng thuê nhà"],
    ),
    _proc(
        LAND_REISSUE,
        "Cấp lại Giấy chứng nhận quyền sử dụng đất do bị mất",
        "Đất đai",
        ["mất sổ đỏ", "làm lại sổ đỏ", "cấp lại sổ hồng"],
        "Cấp lại sổ đỏ khi bị mất.",
        ["Đơn đề nghị cấp lại Giấy chứng nhận", "Giấy xác nhận của Ủy ban nhân dân cấp xã về việc niêm yết"],
    ),
    _proc(
        SPORTS_CLUB,
        "Công nhận câu lạc bộ thể thao cơ sở",
        "Thể dục thể thao",
        ["thành lập câu lạc bộ bóng đá", "câu lạc bộ thể thao phường"],
        "Công nhận câu lạc bộ thể thao ở xã, phường.",
        ["Đơn đề nghị công nhận câu lạc bộ", "Danh sách ban chủ nhiệm"],
    ),
    _proc(
        CCCD_CHILD,
        "Cấp thẻ căn cước cho người dưới 14 tuổi",
        "Căn cước",
        ["làm căn cước cho con", "căn cước cho trẻ em"],
        "Làm thẻ căn cước cho trẻ em theo đề nghị của cha mẹ.",
        ["Tờ khai căn cước", "Giấy khai sinh của trẻ"],
    ),
    _proc(
        CCCD_ADULT,
        "Cấp thẻ căn cước cho người từ đủ 14 tuổi trở lên",
        "Căn cước",
        ["làm căn cước lần đầu", "làm cccd lần đầu"],
        "Làm thẻ căn cước lần đầu.",
        ["Tờ khai căn cước"],
    ),
]

BACKENDS = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]
HOSTILE = [
    '"lái xe',
    "lái*",
    "-xe",
    "AND",
    "lái AND xe",
    "NEAR(lái xe)",
    "NEAR",
    "(căn cước",
    "căn cước)",
    "lái~2",
    "name:lái",
    "body:xe OR terms:*",
    "' OR 1=1 --",
    '" OR ""="',
    "{}[]^!/\\",
    "a" * 10_000,
    "lái xe " * 1_500,
    "khai sinh" + "\x00\u200b\ufeff" * 50,
]


def _es_backend(url: str) -> Iterator[SearchBackend]:
    from knowledge_base.search.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(url, index=f"motcua-test-{uuid.uuid4().hex[:12]}")
    try:
        yield backend
    finally:
        backend.delete_index()
        backend.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    if request.param == "sqlite":
        sqlite = SqliteFtsBackend(tmp_path / "search.db")
        yield sqlite
        sqlite.close()
    else:
        yield from _es_backend(request.getfixturevalue("elasticsearch_url"))


@pytest.fixture
def searcher(backend: SearchBackend) -> Searcher:
    searcher = Searcher(backend)
    assert searcher.rebuild(CATALOGUE) == len(CATALOGUE)
    return searcher


def _codes(searcher: Searcher, query: str, top: int = 5) -> list[str]:
    return [hit.code for hit in searcher.search(query, top=top)]


def _assert_first(searcher: Searcher, code: str, *queries: str) -> None:
    for query in queries:
        assert _codes(searcher, query)[0] == code, query


# --- what a citizen notices -------------------------------------------------------------------
def test_index_holds_the_catalogue(searcher: Searcher) -> None:
    assert searcher.backend.count() == len(CATALOGUE)
    assert {d.code for d in searcher.backend.all_docs()} == {p.code for p in CATALOGUE}


def test_an_age_picks_the_sibling_whose_range_holds_it(searcher: Searcher) -> None:
    assert _codes(searcher, "con tôi 16 tuổi chưa làm căn cước")[0] == CCCD_ADULT
    assert _codes(searcher, "con toi 10 tuoi chua lam can cuoc")[0] == CCCD_CHILD


def test_words_only_in_the_documents_still_find_the_procedure(searcher: Searcher) -> None:
    """Candidates come from names and citizen words first; a question naming only a required
    document ("giấy chứng sinh") still reaches the procedure that asks for it."""
    assert _codes(searcher, "giấy chứng sinh")[0] == BIRTH


def test_the_aspect_asked_about_does_not_pick_the_procedure(searcher: Searcher) -> None:
    """Portal-style questions name the aspect in the catalogue's own words ("thời gian giải quyết", "cơ
    quan có thẩm quyền", "thành phần hồ sơ"); those words must not pull a procedure whose name happens
    to contain them above the one the question is about."""
    searcher.upsert(
        [
            _proc(
                "T.100",
                "Giải quyết khiếu nại về quyết định hành chính của cơ quan có thẩm quyền",
                "Khiếu nại, tố cáo",
                ["khiếu nại quyết định hành chính"],
                "Thời gian giải quyết khiếu nại lần đầu.",
                ["Đơn khiếu nại"],
            )
        ]
    )
    for query in (
        "Khi cơ quan có thẩm quyền tiếp nhận hồ sơ đăng ký tạm trú, thời gian giải quyết là bao lâu?",
        "Khi co quan co tham quyen tiep nhan ho so dang ky tam tru, thoi gian giai quyet la bao lau?",
    ):
        hits = searcher.search(query, top=2)
        assert hits[0].code == TEMP_RESIDENCE, query
        assert hits[1].code != "T.100" or hits[1].score < searcher.not_found_threshold, query


def test_what_expires_outweighs_that_it_expires(searcher: Searcher) -> None:
    """ "Sắp hết hạn" and "gia hạn" say what to do, not to what: a procedure whose citizen words
    share them ("tạm trú sắp hết hạn") must not beat the one that names the thing that expires."""
    official = _proc(
        "T.101",
        "Gia hạn, thay đổi nội dung thông tin chứng thư chữ ký số",
        "Chữ ký số",
        [],
        "",
        ["Đơn đề nghị gia hạn chứng thư chữ ký số"],
    )
    # A real catalogue has hundreds of "chứng nhận … số …" names: those words alone say little.
    certificates = [
        _proc(f"T.2{i:02d}", f"Thủ tục cấp giấy chứng nhận số {i} cho loại hình {i}", "Khác", [], "", ["Bản sao"])
        for i in range(1, 25)
    ]
    searcher.upsert(
        [
            *(p.model_copy(update={"builtin": False}) for p in [official, *certificates]),
            _proc(
                "T.102",
                "Gia hạn tạm trú",
                "Đăng ký, quản lý cư trú",
                ["tạm trú sắp hết hạn", "gia hạn tạm trú", "hết hạn tạm trú"],
                "Gia hạn tạm trú khi thời hạn tạm trú sắp hết.",
                ["Tờ khai thay đổi thông tin cư trú"],
            ),
        ]
    )
    _assert_first(
        searcher,
        "T.101",
        "Khi chứng thư số sắp hết hạn cần làm gì để gia hạn chứng thư số?",
        "Khi chung thu so sap het han can lam gi de gia han chung thu so?",
    )
    assert _codes(searcher, "tạm trú sắp hết hạn thì gia hạn thế nào")[0] == "T.102"


def test_a_foreign_spouse_picks_the_foreign_marriage_procedure(searcher: Searcher) -> None:
    """A nationality ("người Hàn Quốc", "Việt Kiều") makes a marriage one with a foreign element; the
    plain procedure's citizen phrase "đăng ký kết hôn" only repeats its name and must not win for it."""
    plain = _proc(
        "T.103",
        "Thủ tục đăng ký kết hôn",
        "Hộ tịch",
        ["đăng ký kết hôn", "cưới vợ", "lấy chồng", "làm giấy kết hôn"],
        "Đăng ký kết hôn giữa hai công dân Việt Nam cư trú trong nước.",
        ["Tờ khai đăng ký kết hôn"],
    )
    foreign = _proc(
        "T.104",
        "Thủ tục đăng ký kết hôn có yếu tố nước ngoài",
        "Hộ tịch",
        ["kết hôn với người nước ngoài", "lấy chồng nước ngoài"],
        "Đăng ký kết hôn khi một bên là người nước ngoài.",
        ["Tờ khai đăng ký kết hôn", "Giấy xác nhận tình trạng hôn nhân của người nước ngoài"],
    )
    searcher.upsert([plain, foreign])
    _assert_first(
        searcher,
        "T.104",
        "lay vo nguoi Trung Quoc dang ky ket hon can giay to gi",
        "lấy vợ người Trung Quốc, đăng ký kết hôn cần giấy tờ gì",
    )
    assert _codes(searcher, "hai đứa đều người Việt, đăng ký kết hôn cần giấy tờ gì")[0] == "T.103"


def test_a_situation_named_by_a_case_finds_its_procedure(searcher: Searcher) -> None:
    """Many official procedures list the situations they cover as cases, each with its own documents
    ("Hồ sơ miễn thuế đối với hàng hóa nhập khẩu phục vụ nghiên cứu khoa học"). A question about that
    situation belongs there, not to a procedure whose name merely shares its words."""
    exemption = Procedure(
        code="T.105",
        name="Thủ tục miễn thuế đối với hàng hóa xuất khẩu, nhập khẩu",
        field="Hải quan",
        cases=[
            Case(
                name="Hồ sơ miễn thuế đối với hàng hóa nhập khẩu phục vụ nghiên cứu khoa học, phát triển công nghệ",
                documents=[Document(name="Văn bản xác nhận danh mục hàng hóa nhập khẩu")],
            ),
            Case(name="Hồ sơ miễn thuế đối với quà biếu, quà tặng", documents=[Document(name="Văn bản biếu, tặng")]),
        ],
        builtin=False,
    )
    livestock = _proc(
        "T.106",
        "Xuất khẩu giống vật nuôi trong danh mục cấm xuất khẩu phục vụ nghiên cứu khoa học, triển lãm",
        "Chăn nuôi",
        [],
        "",
        ["Đơn đề nghị xuất khẩu giống vật nuôi"],
    ).model_copy(update={"builtin": False})
    searcher.upsert([exemption, livestock])
    _assert_first(
        searcher,
        "T.105",
        "Tôi muốn xin miễn thuế nhập khẩu đối với hàng hóa phục vụ nghiên cứu khoa học thì cần hồ sơ gì?",
        "toi muon xin mien thue nhap khau doi voi hang hoa phuc vu nghien cuu khoa hoc thi can ho so gi",
    )
    assert _codes(searcher, "xuất khẩu giống vật nuôi để nghiên cứu khoa học")[0] == "T.106"


def test_a_chat_word_for_a_catalogue_phrase_weighs_no_more_than_the_phrase(searcher: Searcher) -> None:
    """ "online" stands for "trực tuyến", which much of the catalogue says. Only a procedure whose
    citizen words happen to say "online" carries the word itself; that rarity must not make "can I do
    it online?" (no procedure named) a confident answer about that procedure."""
    filing = _proc(
        "T.107",
        "Nộp hồ sơ đăng ký kinh doanh qua dịch vụ công trực tuyến",
        "Đăng ký kinh doanh",
        ["mở cửa hàng", "đăng ký kinh doanh"],
        "",
        ["Giấy đề nghị đăng ký kinh doanh"],
    )
    fines = _proc("T.108", "Thi hành quyết định xử phạt vi phạm", "Xử lý vi phạm", ["đóng phạt online"], "", [])
    online = [
        _proc(f"T.3{i:02d}", f"Thủ tục số {i} thực hiện bằng dịch vụ công trực tuyến", "Khác", [], "", ["Tờ khai"])
        for i in range(1, 40)
    ]
    searcher.upsert([filing, fines, *online])
    for query in ("online được không", "online duoc ko", "qua mạng được không"):
        hits = searcher.search(query)
        assert not hits or not searcher.is_confident(hits[0]), (query, hits[:1])
    hits = searcher.search("đóng phạt online")
    assert hits[0].code == "T.108" and searcher.is_confident(hits[0])
    assert _codes(searcher, "nộp hồ sơ đăng ký kinh doanh online")[0] == "T.107"


@pytest.mark.parametrize("query", ["đăng kí tạm trú", "Đăng Kí tạm trú cho người thuê trọ", "xin đăng kí tạm trú"])
def test_the_other_spelling_of_i_and_y_is_the_same_word(searcher: Searcher, query: str) -> None:
    """ "kí" and "ký" are both correct Vietnamese: a citizen typing either, with diacritics, is answered as
    confidently as one typing the catalogue's spelling (not as a word that only matches folded)."""
    hits = searcher.search(query)
    same = searcher.search(query.replace("kí", "ký").replace("Kí", "Ký"))
    assert hits[0].code == TEMP_RESIDENCE and searcher.is_confident(hits[0])
    assert hits[0].score == pytest.approx(same[0].score)


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ("lay vo Viet Kieu thi can giay to gi", set()),  # vợ, not vỡ
        ("con be moi sinh lam khai sinh", set()),  # bé, not bể
        ("mo quan an can giay phep gi", set()),  # mở, not mờ
        ("can cuoc bi be goc", {"exchange"}),
        ("thẻ căn cước bị mờ chữ", {"exchange"}),
        ("cccd bị vỡ", {"exchange"}),
        ("doi bang lai", {"exchange"}),
        ("mat cccd lam lai", {"reissue"}),
    ],
)
def test_what_the_citizen_wants_done_is_read_without_diacritics_too(query: str, actions: set[str]) -> None:
    assert query_actions(list(analyze_query(query).sequence)) == actions


def test_driving_licence_ranks_above_words_with_lai(searcher: Searcher) -> None:
    hits = searcher.search("lái xe", top=9)
    codes = [h.code for h in hits]
    assert set(codes[:2]) == DRIVING
    for other in (LAND_REISSUE, CCCD_REISSUE):  # they contain "lại", not "lái"
        if other in codes:
            assert codes.index(other) > 1
            assert hits[codes.index(other)].score < hits[1].score


def test_query_without_diacritics_finds_driving_licences(searcher: Searcher) -> None:
    hits = searcher.search("bang lai xe")
    assert {h.code for h in hits[:2]} == DRIVING
    assert searcher.is_confident(hits[0])


def test_abbreviation_and_plain_words(searcher: Searcher) -> None:
    assert _codes(searcher, "lam lai cccd")[0] == CCCD_REISSUE
    assert _codes(searcher, "con mới sinh")[0] == BIRTH
    assert _codes(searcher, "nhập hộ khẩu cho con")[0] == RESIDENCE
    assert _codes(searcher, "khai báo tạm trú")[0] == TEMP_RESIDENCE
    assert _codes(searcher, "mất sổ đỏ")[0] == LAND_REISSUE


def test_scores_are_comparable_and_say_not_found(searcher: Searcher) -> None:
    good = searcher.search("đăng ký khai sinh cho con")
    assert good[0].code == BIRTH and good[0].score >= searcher.not_found_threshold
    unrelated = searcher.search("thời tiết hôm nay đẹp quá")
    assert all(h.score < searcher.not_found_threshold for h in unrelated)
    for query in ("lái xe", "bang lai xe", "căn cước", "thời tiết hôm nay đẹp quá", "xyzzy"):
        for hit in searcher.search(query, top=10):
            assert 0.0 <= hit.score <= 1.0
            assert hit.name and hit.url


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_raises(searcher: Searcher, query: str) -> None:
    try:
        hits = searcher.search(query)
    except EmptyQueryError:
        return  # nothing searchable left: the caller asks the citizen to rephrase
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert isinstance(searcher.backend.candidates(analyze_query(query[:10_000]), 50), list)


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "?!...", "()"])
def test_empty_query_raises(searcher: Searcher, query: str) -> None:
    with pytest.raises(EmptyQueryError):
        searcher.search(query)


def test_upsert_is_visible_to_the_next_search(searcher: Searcher) -> None:
    assert SPORTS_CLUB not in _codes(searcher, "flycam")
    changed = _proc(
        SPORTS_CLUB,
        "Cấp phép bay thiết bị bay không người lái",
        "Hàng không",
        ["xin phép bay flycam", "bay flycam"],
        "Xin phép bay flycam, drone.",
        ["Đơn đề nghị cấp phép bay"],
    )
    assert searcher.upsert([changed]) == 1
    assert _codes(searcher, "xin phép bay flycam")[0] == SPORTS_CLUB
    assert SPORTS_CLUB not in _codes(searcher, "câu lạc bộ thể thao")[:1]
    assert searcher.backend.count() == len(CATALOGUE)
    # A new searcher on the same index (ranker rebuilt from all_docs) sees the change too.
    fresh = Searcher(searcher.backend)
    assert _codes(fresh, "xin phép bay flycam")[0] == SPORTS_CLUB


def test_rebuild_replaces_everything(searcher: Searcher) -> None:
    assert searcher.rebuild(CATALOGUE[:3]) == 3
    assert searcher.backend.count() == 3
    assert BIRTH not in _codes(searcher, "con mới sinh")
    assert searcher.rebuild(CATALOGUE) == len(CATALOGUE)
    assert _codes(searcher, "con mới sinh")[0] == BIRTH


# --- long and roundabout questions ------------------------------------------------------------
def test_a_story_before_the_question_costs_little_confidence(backend: SearchBackend) -> None:
    """The procedure is named in one clause; the others tell the citizen's story. The story must not
    dilute the answer into "not found"."""
    searcher = Searcher(backend)
    searcher.rebuild([*CATALOGUE, *_crowded_catalogue()])
    question = "Đăng ký tạm trú ở đâu?"
    story = (
        "Năm ngoái tôi từ quê lên thành phố làm công nhân ở khu công nghiệp, vợ con vẫn ở quê, "
        "tháng nào cũng gửi tiền về. "
    )
    short, long = searcher.search(question, top=1)[0], searcher.search(story + question, top=1)[0]
    assert short.code == long.code == TEMP_RESIDENCE
    assert searcher.is_confident(long)
    assert long.score >= 0.6 * short.score


def _crowded_catalogue() -> list[Procedure]:
    """Many procedures whose documents say "giấy xác nhận thông tin nơi cư trú", so each of those
    words is too common to ask an engine for, and a few with "con" in their name."""
    crowd = [
        _proc(
            f"C.{i:03d}",
            f"Cấp thẻ cho con số {i}" if i < 15 else f"Thủ tục lĩnh vực số {i}",
            "Lĩnh vực khác",
            [],
            "",
            ["Giấy xác nhận thông tin nơi cư trú", "Tờ khai"],
        )
        for i in range(100)
    ]
    return [
        *crowd,
        _proc(
            "R.001",
            "Xác nhận thông tin về cư trú",
            "Đăng ký, quản lý cư trú",
            ["giấy xác nhận cư trú"],
            "",
            ["Tờ khai thay đổi thông tin cư trú"],
        ),
        _proc("R.002", "Khai báo cư trú cho người nước ngoài", "Quản lý xuất nhập cảnh", [], "", ["Tờ khai"]),
    ]


def test_common_words_that_belong_together_still_reach_the_engine(backend: SearchBackend) -> None:
    """"cư", "trú", "xác", "nhận" … are each in most procedures, so the engine is not asked for them one
    by one; "cư trú" together is rare, and the engine is asked for that pair."""
    searcher = Searcher(backend)
    searcher.rebuild(_crowded_catalogue())
    hits = searcher.search("Con vào lớp 1, trường đòi giấy xác nhận thông tin cư trú")
    assert hits[0].code == "R.001"


def test_engines_match_a_word_pair_only_where_it_is_kept_together(searcher: Searcher) -> None:
    pair_only = AnalyzedQuery(original="hộ khẩu", words=(), expansions=(), folded_words=(), pairs=(("ho", "khau"),))
    assert searcher.backend.candidates(pair_only, 10) == [RESIDENCE]
    apart = AnalyzedQuery(original="khẩu hộ", words=(), expansions=(), folded_words=(), pairs=(("khau", "ho"),))
    assert searcher.backend.candidates(apart, 10) == []


# --- both engines, one behaviour -------------------------------------------------------------
SAME_QUERIES = [
    "lái xe",
    "bang lai xe",
    "đổi bằng lái",
    "lam lai cccd",
    "căn cước hết hạn",
    "con mới sinh",
    "làm giấy khai sinh",
    "nhập hộ khẩu",
    "thuê trọ",
    "mất sổ đỏ",
    "câu lạc bộ bóng đá",
    "cấp lại",
    "thời tiết hôm nay đẹp quá",
]


@pytest.mark.elasticsearch
def test_both_engines_rank_alike(elasticsearch_url: str, tmp_path: Path) -> None:
    sqlite = Searcher(SqliteFtsBackend(tmp_path / "search.db"))
    sqlite.rebuild(CATALOGUE)
    for es_backend in _es_backend(elasticsearch_url):
        es = Searcher(es_backend)
        es.rebuild(CATALOGUE)
        for query in SAME_QUERIES:
            a, b = sqlite.search(query, top=3), es.search(query, top=3)
            assert [h.code for h in a] == [h.code for h in b], query
            assert [h.score for h in a] == pytest.approx([h.score for h in b]), query
    sqlite.backend.close()


@pytest.mark.elasticsearch
def test_missing_index_finds_nothing(elasticsearch_url: str) -> None:
    for es_backend in _es_backend(elasticsearch_url):
        assert es_backend.count() == 0
        assert es_backend.candidates(analyze_query("lái xe"), 10) == []
        assert list(es_backend.all_docs()) == []


@pytest.mark.elasticsearch
def test_both_engines_propose_the_same_candidates(elasticsearch_url: str, tmp_path: Path) -> None:
    """The engines only propose candidates for the shared ranker; they score alike (BM25 summed over
    weighted fields), so they propose the same ones, in a catalogue where most words are common."""
    catalogue = [*CATALOGUE, *_crowded_catalogue()]
    sqlite = Searcher(SqliteFtsBackend(tmp_path / "search.db"))
    sqlite.rebuild(catalogue)
    for es_backend in _es_backend(elasticsearch_url):
        es = Searcher(es_backend)
        es.rebuild(catalogue)
        for query in ["tờ khai", "cấp lại giấy", "người nước ngoài", "lái xe", "đăng ký tạm trú", "sổ đỏ"]:
            recall = sqlite._recall_query(analyze_query(query), sqlite.ranker)
            assert sqlite.backend.candidates(recall, 5) == es.backend.candidates(recall, 5), query
    sqlite.backend.close()


@pytest.mark.elasticsearch
def test_an_index_laid_out_by_an_older_version_counts_as_empty(elasticsearch_url: str) -> None:
    """Catalogue.ensure_ready rebuilds an index whose count() differs from the store: an old mapping
    (without the pairs field) must not be searched as if it were current."""
    for es_backend in _es_backend(elasticsearch_url):
        es_backend.client.indices.create(index=es_backend.index, mappings={"properties": {"code": {"type": "keyword"}}})
        es_backend.client.index(index=es_backend.index, id="X", document={"code": "X"}, refresh=True)
        assert es_backend.count() == 0
        assert Searcher(es_backend).rebuild(CATALOGUE) == len(CATALOGUE)
        assert es_backend.count() == len(CATALOGUE)


def test_sqlite_index_laid_out_by_an_older_version_counts_as_empty(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "search.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIRTUAL TABLE procedures_fts USING fts5(code UNINDEXED, name, name_f)")
    conn.execute("CREATE TABLE procedure_docs (code TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    conn.execute("INSERT INTO procedure_docs VALUES ('X', '{}')")
    conn.commit()
    conn.close()
    backend = SqliteFtsBackend(path)
    assert backend.count() == 0
    searcher = Searcher(backend)
    assert searcher.rebuild(CATALOGUE) == len(CATALOGUE)
    assert _codes(searcher, "nhập hộ khẩu")[0] == RESIDENCE
    backend.close()
    assert SqliteFtsBackend(path).count() == len(CATALOGUE)  # the current layout is kept


# --- the ES fixture policy: in CI a skipped ES test is a failure --------------------------------
def test_es_required_policy() -> None:
    assert es_server.es_required({"CI": "true"})
    assert es_server.es_required({"MOTCUA_REQUIRE_ES": "1"})
    assert not es_server.es_required({})
    assert not es_server.es_required({"CI": "false", "MOTCUA_REQUIRE_ES": "0"})


def test_skipped_es_test_fails_when_required(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(
        textwrap.dedent("""
        import pytest

        @pytest.mark.elasticsearch
        def test_needs_es():
            pytest.skip("no server")

        def test_plain():
            pytest.skip("unrelated")
    """)
    )
    root = Path(__file__).resolve().parent.parent
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "tests.conftest",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        str(tmp_path / "test_probe.py"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MOTCUA_REQUIRE_ES")}
    relaxed = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert "2 skipped" in relaxed.stdout, relaxed.stdout + relaxed.stderr
    env["CI"] = "true"
    strict = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert "1 failed" in strict.stdout and "1 skipped" in strict.stdout, strict.stdout + strict.stderr
    assert strict.returncode != 0
