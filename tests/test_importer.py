"""Portal importer: field parsers on real snippets, every input format, bad records, idempotency,
and the whole shared crawl."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from knowledge_base.importer import UnsupportedFormat, run_import
from knowledge_base.importer import portal as P
from knowledge_base.importer.readers import detect_format
from knowledge_base.model import ChannelKind, Procedure

CRAWL = Path("/work/shared/data/catalogue/procedures.jsonl.gz")

# --- fixtures: small snippets of real portal records (official facts) ---------------------------

CHANNELS_CAND = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp3 ThángKhông có thông tin+ Trong thời gian 3 tháng "
    "kể từ ngày tiếp nhận hồ sơ của người dự tuyển, Hội đồng tuyển chọn phải hoàn thiện các thủ tục."
)
CHANNELS_FEES = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tuyến2 Ngày làm việc70,000 VNĐ(70.000 đồng/Giấy chứng "
    "nhận)Dịch vụ bưu chính2 Ngày làm việc70,000 VNĐ(70.000 đồng/Giấy chứng nhận)Trực tiếp2 Ngày làm việc"
    "70,000 VNĐ(70.000 đồng/Giấy chứng nhận)"
)
CHANNELS_FREE = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tuyến5 Ngày làm việcMiễn phí05 (năm) ngày làm việc kể từ "
    "ngày nhận hồ sơ đầy đủ, hợp lệ.Trực tiếp1Miễn phí(Không có)"
)
CHANNELS_GLUED = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tuyến120,000 VNĐ(hàng hóa gửi kho ngoại quan thu lệ phí "
    "làm thủ tục hải quan một lần; mức thu là 20.000 VNĐ/tờ khai)"
)
CHANNELS_MULTI_FEE = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảDịch vụ bưu chính18 NgàyMiễn phí(15000000/lần Đồng (Đối với "
    "nhà khai thác tàu bay nước ngoài)  Phí: 18000000/loại Đồng (Thêm một loại tàu bay khai thác)  Phí: "
    "6000000/chiếc Đồng (Khai thác 1 loại tàu bay))18 ngày, kể từ ngày nhận đủ hồ sơ hợp lệ"
)
CHANNELS_TEXT_TIME = (
    "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tuyếnKhông phải trả kết quả cho người nộp thuếMiễn phí"
    "Bằng phương thức điện tử qua Cổng dịch vụ công Quốc gia.Trực tiếpKhông có thông tinKhông có thông tin"
    "Trực tiếp: nộp tại Bộ phận Một cửa."
)
DOCUMENTS = (
    "--Tên giấy tờMẫu đơn, tờ khaiSố lượngĐơn đề nghị cấp giấy phép chặt hạ, dịch chuyển cây xanh theo Mẫu "
    "số 01 Phụ lục I của Nghị định số 258/2025/NĐ-CPMẫu số 01.docx1 bản chínhẢnh chụp hiện trạng cây xanh "
    "đô thị cần chặt hạ, dịch chuyển0 bản chính,1 bản sao"
)
DOCUMENTS_CASES = (
    "Ngoài hồ sơ miễn thuế nêu trên, tùy từng trường hợp người nộp thuế phải nộp thêmTên giấy tờMẫu đơn, "
    "tờ khaiSố lượngQuyết định của Bộ trưởng Bộ Tài chính về việc miễn thuế1 bản chínhVăn bản chứng minh "
    "việc chấm dứt hoạt động ở nước ngoài0 bản chính,1 bản sao--Tên giấy tờMẫu đơn, tờ khaiSố lượngHồ sơ "
    "hải quan theo quy định của pháp luật hải quan.1 bản chính"
)
LEGAL = (
    "Tên văn bản pháp lýMã văn bảnLuật 37/2018/QH1437/2018/QH14Thông tư 55/2019/TT-BCA55/2019/TT-BCA"
    "Quy định về hoạt động vận tải đường bộ158/2024/NĐ-CPLuật Cư trú68/2020/QH14"
)
RESULTS = (
    "Quyết định tạm tuyển, Quyết định tuyển dụng vào Công an nhân dânMã: KQ.G01.00268Từ khóaTuyển chọn "
    "công dân vào Công an nhân dânMô tảKhông có thông tin"
)


def record(code: str = "1.004073", name: str = "Tuyển chọn công dân vào Công an nhân dân", **extra: Any) -> dict:
    base = {
        "ma_thu_tuc": code,
        "detail_url": "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bf7",
        "ten_thu_tuc": name,
        "so_quyet_dinh": "QĐ/0001-BCA",
        "cap_thuc_hien": "Cấp bộ, Cấp tỉnh",
        "loai_thu_tuc": "TTHC được giao luật quy định chi tiết",
        "linh_vuc": "Tổ chức, cán bộ",
        "doi_tuong_thuc_hien": "Công dân Việt Nam, Cán bộ, công chức, viên chức",
        "co_quan_co_tham_quyen": "Bộ Công an",
        "dia_chi_tiep_nhan": "Trực tiếp tại các Tổng cục, Bộ Tư lệnh, đơn vị trực thuộc Bộ Công an.",
        "co_quan_duoc_uy_quyen": "",
        "co_quan_phoi_hop": "",
        "thu_tuc_lien_quan": "Không có thông tin",
        "trinh_tu_thuc_hien": "Bước 1: Thông báo công khai chỉ tiêu.\nBước 2: Công dân nộp hồ sơ.",
        "cach_thuc_thuc_hien": CHANNELS_CAND,
        "thanh_phan_ho_so": DOCUMENTS,
        "can_cu_phap_ly": LEGAL,
        "co_quan_thuc_hien": "Bộ Công an",
        "yeu_cau_dieu_kien": "Không có thông tin",
        "ket_qua_xu_ly": RESULTS,
    }
    base.update(extra)
    return base


class FakeStore:
    """Same contract as ``CatalogueStore.upsert_official``, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, Procedure] = {}

    def upsert_official(
        self, procedure: Procedure, *, partial: bool = False
    ) -> Literal["imported", "updated", "unchanged"]:
        current = self.items.get(procedure.code)
        if current is None:
            self.items[procedure.code] = procedure
            return "imported"
        if partial:
            fresh = {k: v for k, v in procedure.official_fields().items() if v not in (None, "", [])}
            merged = Procedure.model_validate({**current.model_dump(), **fresh})
        else:
            merged = current.with_official(procedure)
        if merged == current:
            return "unchanged"
        self.items[procedure.code] = merged
        return "updated"


# --- cleaning and simple fields -------------------------------------------------------------------


def test_clean_drops_no_info_ui_tail_and_makes_nfc() -> None:
    assert P.clean("Không có thông tin") == ""
    assert P.clean("Không có thông tinTừ khóaKhông có thông tinMô tảKhông có thông tinChọn cơ quan thực hiện") == ""
    decomposed = unicodedata.normalize("NFD", "Đăng ký thường trú")
    assert P.clean(decomposed) == "Đăng ký thường trú"
    assert unicodedata.is_normalized("NFC", P.clean(decomposed))


def test_lists_levels_and_names() -> None:
    assert P.parse_levels("Cấp bộ, Cấp tỉnh, Cấp xã") == ["Cấp bộ", "Cấp tỉnh", "Cấp xã"]
    assert P.split_names("Công dân Việt Nam, Cán bộ, công chức, viên chức") == [
        "Công dân Việt Nam",
        "Cán bộ, công chức, viên chức",
    ]
    assert P.split_names("Doanh nghiệp, Tổ chức (không bao gồm doanh nghiệp, HTX)") == [
        "Doanh nghiệp",
        "Tổ chức (không bao gồm doanh nghiệp, HTX)",
    ]
    assert P.split_names("Ủy ban nhân dân cấp xã\nThuế tỉnh, thành phố\nThuế cơ sở") == [
        "Ủy ban nhân dân cấp xã",
        "Thuế tỉnh, thành phố",
        "Thuế cơ sở",
    ]


def test_steps_split_on_buoc_and_join_wrapped_lines() -> None:
    text = (
        "Bước 1 1. Tiếp nhận hồ sơ:\nTiếp nhận hồ sơ trực tiếp từ tổ\nchức/cá nhân.\n"
        "Bước 2 Chuyển hồ sơ phòng Văn hoá - Xã hội để xử lý.\nBước 3 Duyệt hồ sơ."
    )
    steps = P.parse_steps(text)
    assert steps == [
        "1. Tiếp nhận hồ sơ:\nTiếp nhận hồ sơ trực tiếp từ tổ chức/cá nhân.",
        "Chuyển hồ sơ phòng Văn hoá - Xã hội để xử lý.",
        "Duyệt hồ sơ.",
    ]
    assert P.parse_steps("- Nộp hồ sơ.\n- Nhận kết quả.") == ["Nộp hồ sơ.", "Nhận kết quả."]


def test_conditions_split_bullets() -> None:
    text = "Người dự tuyển phải đảm bảo:\n1. Tiêu chuẩn chính trị;\n+ Thị lực không kính mỗi mắt\nđạt 9-10/10."
    assert P.parse_conditions(text) == [
        "Người dự tuyển phải đảm bảo:",
        "1. Tiêu chuẩn chính trị;",
        "Thị lực không kính mỗi mắt đạt 9-10/10.",
    ]
    assert P.parse_conditions("Không có thông tin") == []


def test_results_cut_codes_and_ui() -> None:
    assert P.parse_results(RESULTS) == ["Quyết định tạm tuyển, Quyết định tuyển dụng vào Công an nhân dân"]
    two = (
        "Văn bản thông báo lý do từ chối của Bộ Tài chínhMã: KQ.G12.001161Văn bản ghi nhận đăng ký nguyên tắc"
        "Mã: KQ.G12.000778Từ khóaKhông có thông tinMô tảKhông có thông tinChọn cơ quan thực hiệnNộp hồ sơ"
    )
    assert P.parse_results(two) == [
        "Văn bản thông báo lý do từ chối của Bộ Tài chính",
        "Văn bản ghi nhận đăng ký nguyên tắc",
    ]


# --- cách thức thực hiện --------------------------------------------------------------------------------


def test_channel_time_without_fee_info() -> None:
    channels, problems = P.parse_channels(CHANNELS_CAND)
    assert problems == []
    (direct,) = channels
    assert direct.kind is ChannelKind.DIRECT and direct.name == "Trực tiếp"
    assert direct.times[0].value == 3 and direct.times[0].unit == "tháng"
    assert direct.fees == []
    assert direct.description.startswith("+ Trong thời gian 3 tháng")


def test_channel_fees_with_amounts() -> None:
    channels, problems = P.parse_channels(CHANNELS_FEES)
    assert problems == []
    assert [c.kind for c in channels] == [ChannelKind.ONLINE, ChannelKind.POSTAL, ChannelKind.DIRECT]
    for channel in channels:
        assert channel.times[0].value == 2 and channel.times[0].unit == "ngày làm việc"
        assert channel.fees[0].amount == 70_000
        assert "70.000 đồng/Giấy chứng nhận" in channel.fees[0].description


def test_channel_free_and_unitless_time() -> None:
    channels, _ = P.parse_channels(CHANNELS_FREE)
    online, direct = channels
    assert online.fees[0].amount == 0 and online.fees[0].description == "Miễn phí"
    assert online.description.startswith("05 (năm) ngày làm việc")
    assert direct.times[0].value == 1 and direct.times[0].unit is None
    assert direct.fees[0].amount == 0


def test_channel_time_glued_to_fee_amount() -> None:
    (online,) = P.parse_channels(CHANNELS_GLUED)[0]
    assert online.times[0].value == 1
    assert online.fees[0].amount == 20_000


def test_channel_several_labelled_fees() -> None:
    (postal,) = P.parse_channels(CHANNELS_MULTI_FEE)[0]
    assert postal.times[0].value == 18 and postal.times[0].unit == "ngày"
    assert [f.amount for f in postal.fees] == [0, 18_000_000, 6_000_000]
    assert postal.description == "18 ngày, kể từ ngày nhận đủ hồ sơ hợp lệ"


def test_channel_time_as_text_and_no_info_row() -> None:
    online, direct = P.parse_channels(CHANNELS_TEXT_TIME)[0]
    assert online.times[0].text == "Không phải trả kết quả cho người nộp thuế"
    assert online.fees[0].amount == 0
    assert direct.times == [] and direct.fees == []
    assert direct.description == "Trực tiếp: nộp tại Bộ phận Một cửa."


def test_fee_label_phi_le_phi() -> None:
    text = (
        "Hình thức nộpThời gianPhí, lệ phíMô tảTrực tiếp7 Ngày làm việc50,000 Việt Nam Đồng(Phí : 50.000 "
        "Đồng - 50.000đ/tem)"
    )
    (direct,) = P.parse_channels(text)[0]
    assert direct.fees[0].amount == 50_000
    assert "Phí : 50.000 Đồng" in direct.fees[0].description


# --- thành phần hồ sơ -------------------------------------------------------------------------------


def test_documents_with_form_and_counts() -> None:
    cases, problems = P.parse_cases(DOCUMENTS)
    assert problems == []
    (case,) = cases
    assert case.name == ""
    first, second = case.documents
    assert first.name.endswith("Nghị định số 258/2025/NĐ-CP")
    assert first.form == "Mẫu số 01.docx"
    assert (first.originals, first.copies) == (1, None)
    assert second.name == "Ảnh chụp hiện trạng cây xanh đô thị cần chặt hạ, dịch chuyển"
    assert (second.originals, second.copies) == (0, 1)


def test_documents_cases() -> None:
    cases, problems = P.parse_cases(DOCUMENTS_CASES)
    assert problems == []
    assert [c.name for c in cases] == [
        "Ngoài hồ sơ miễn thuế nêu trên, tùy từng trường hợp người nộp thuế phải nộp thêm",
        "",
    ]
    assert len(cases[0].documents) == 2
    assert cases[1].documents[0].name == "Hồ sơ hải quan theo quy định của pháp luật hải quan"


def test_documents_count_glued_to_number_and_other_forms() -> None:
    text = (
        "--Tên giấy tờMẫu đơn, tờ khaiSố lượngTờ khai đăng ký theo Mẫu số 181 bản chính"
        "Bản khai nhân khẩu.Mẫu CT01.docx2 bản chínhBản chính: 1 Bản sao: 2"
    )
    (case,) = P.parse_cases(text)[0]
    first, second = case.documents
    assert first.name == "Tờ khai đăng ký theo Mẫu số 18" and first.originals == 1
    assert second.name == "Bản khai nhân khẩu" and second.form == "Mẫu CT01.docx" and second.originals == 2
    assert P.split_form("Tờ khai đề nghị cấp hộ chiếuTờ khai TK01.doc") == (
        "Tờ khai đề nghị cấp hộ chiếu",
        "Tờ khai TK01.doc",
    )


def test_documents_trailing_text_without_count_is_reported() -> None:
    cases, problems = P.parse_cases("--Tên giấy tờMẫu đơn, tờ khaiSố lượng+ Phương án xử lý tài khoản.")
    assert problems == ["counts"]
    assert cases[0].documents[0].originals is None


# --- căn cứ pháp lý ---------------------------------------------------------------------------------


def test_legal_basis_pairs() -> None:
    entries, problems = P.parse_legal_basis(LEGAL)
    assert problems == []
    assert [(e.name, e.number) for e in entries] == [
        ("Luật 37/2018/QH14", "37/2018/QH14"),
        ("Thông tư 55/2019/TT-BCA", "55/2019/TT-BCA"),
        ("Quy định về hoạt động vận tải đường bộ", "158/2024/NĐ-CP"),
        ("Luật Cư trú", "68/2020/QH14"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Tên văn bản pháp lýMã văn bảnThông tư quy định cư trú53/2025/TT-BCA",
            ("Thông tư quy định cư trú", "53/2025/TT-BCA"),
        ),
        (
            "Tên văn bản pháp lýMã văn bảnNghị định 05/2012/NĐ-CP05/2012/NĐ-CP",
            ("Nghị định 05/2012/NĐ-CP", "05/2012/NĐ-CP"),
        ),
        (
            "Tên văn bản pháp lýMã văn bảnQuyết định công bố TTHC24/2024/QĐ-UBND",
            ("Quyết định công bố TTHC", "24/2024/QĐ-UBND"),
        ),
        ("Tên văn bản pháp lýMã văn bảnQuyết định công bố226/QĐ-UBND", ("Quyết định công bố", "226/QĐ-UBND")),
        ("Tên văn bản pháp lýMã văn bảnQuyết định số 53/2013/QĐ-TTg", ("Quyết định số", "53/2013/QĐ-TTg")),
        (
            "Tên văn bản pháp lýMã văn bảnLuật số 43/2024/QH15 ngày 29/6/202443/2024/QH15",
            ("Luật số 43/2024/QH15 ngày 29/6/2024", "43/2024/QH15"),
        ),
        (
            "Tên văn bản pháp lýMã văn bảnNghị định số 46/2020/NĐ-CP46/2020",
            ("Nghị định số 46/2020/NĐ-CP", "46/2020"),
        ),
    ],
)
def test_legal_basis_number_shapes(text: str, expected: tuple[str, str]) -> None:
    entries, problems = P.parse_legal_basis(text)
    assert problems == []
    assert (entries[-1].name, entries[-1].number) == expected


def test_legal_basis_name_glued_before_doc_type() -> None:
    text = P.LEGAL_HEADER + "Nghị định quy định về thanh toán không dùng tiền mặtNghị định 52/2024/NĐ-CP"
    (entry,) = P.parse_legal_basis(text)[0]
    assert entry.name == "Nghị định quy định về thanh toán không dùng tiền mặt"
    assert entry.number == "52/2024/NĐ-CP"


# --- formats --------------------------------------------------------------------------------------


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_directory_import(tmp_path: Path) -> None:
    _write_json(tmp_path / "bo-cong-an" / "1.004073.json", record())
    _write_json(tmp_path / "bo-tu-phap" / "1.000094.json", record("1.000094", "Đăng ký kết hôn có yếu tố nước ngoài"))
    store = FakeStore()
    report = run_import(tmp_path, store, progress=False)
    assert (report.read, report.imported, len(report.skipped)) == (2, 2, 0)
    procedure = store.items["1.004073"]
    assert procedure.ministry == "Bộ Công an"
    assert store.items["1.000094"].ministry == "Bộ Tư pháp"
    assert procedure.url == "https://dichvucong.gov.vn/thu-tuc-hanh-chinh/019d2bf7"
    assert procedure.decision_number == "QĐ/0001-BCA"
    assert procedure.levels == ["Cấp bộ", "Cấp tỉnh"]
    assert procedure.steps == ["Thông báo công khai chỉ tiêu.", "Công dân nộp hồ sơ."]
    assert procedure.conditions == []
    assert procedure.channels[0].times[0].value == 3
    assert procedure.legal_basis[-1].number == "68/2020/QH14"
    assert procedure.results == ["Quyết định tạm tuyển, Quyết định tuyển dụng vào Công an nhân dân"]


def test_tar_gz_import_and_code_mismatch_warning(tmp_path: Path) -> None:
    archive = tmp_path / "raw_records.tar.gz"
    good = record(raw_text="…Tên thủ tụcTuyển chọnMã thủ tục1.004073Số quyết địnhQĐ/0001-BCA…")
    odd = record("3.000224", "Khai báo tạm vắng", raw_text="Mã thủ tục1.014023Số quyết định5710/QĐ-BCA")
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("raw/bo-cong-an/1.004073.json", good), ("raw/bo-cong-an/3.000224.json", odd)):
            payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    assert detect_format(archive) == "tar"
    store = FakeStore()
    report = run_import(archive, store, progress=False)
    assert report.imported == 2
    assert len(report.warnings) == 1 and "1.014023" in report.warnings[0].reason
    assert store.items["3.000224"].ministry == "Bộ Công an"


class BatchStore(FakeStore):
    """A store that writes batches in one transaction and refuses one code (a database error)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.batches: list[int] = []

    def upsert_official(
        self, procedure: Procedure, *, partial: bool = False
    ) -> Literal["imported", "updated", "unchanged"]:
        if procedure.code == self.refused:
            raise RuntimeError("database refused the row")
        return super().upsert_official(procedure, partial=partial)

    def upsert_official_many(
        self, items: Sequence[tuple[Procedure, bool]]
    ) -> list[Literal["imported", "updated", "unchanged"]]:
        if any(procedure.code == self.refused for procedure, _ in items):
            raise RuntimeError("database refused the batch")  # nothing of the batch was written
        self.batches.append(len(items))
        return [super(BatchStore, self).upsert_official(p, partial=partial) for p, partial in items]


def test_batched_import_loses_only_the_record_the_store_refuses(tmp_path: Path) -> None:
    codes = [f"1.{900000 + i}" for i in range(12)]
    path = tmp_path / "procedures.jsonl"
    path.write_text("\n".join(json.dumps(record(c, f"Thủ tục {c}"), ensure_ascii=False) for c in codes), "utf-8")
    store = BatchStore(refused=codes[5])
    report = run_import(path, store, progress=False)
    assert (report.read, report.imported) == (12, 11)
    assert [i.reason for i in report.skipped] == ["could not be stored: RuntimeError: database refused the row"]
    assert set(store.items) == set(codes) - {codes[5]}


def test_catalogue_store_imports_in_batches_and_reimports_unchanged(tmp_path: Path) -> None:
    from core.db import make_engine
    from knowledge_base.store import CatalogueStore

    path = tmp_path / "procedures.jsonl"
    rows = [record(f"1.{900000 + i}", f"Thủ tục {i}") for i in range(7)] + [record("1.900000", "Thủ tục 0 sửa")]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    store = CatalogueStore(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    first = run_import(path, store, progress=False)
    assert (first.imported, first.updated) == (7, 1)  # the repeated code updates the row of the same batch
    assert (procedure := store.get("1.900000")) is not None and procedure.name == "Thủ tục 0 sửa"
    again = run_import(path, store, progress=False)
    assert (again.imported, again.updated, again.unchanged) == (0, 2, 6)  # code 1.900000 flips twice


def test_jsonl_gz_import(tmp_path: Path) -> None:
    path = tmp_path / "procedures.jsonl.gz"
    rows = [
        {**record(), "_source_path": "raw/bo-cong-an/1.004073.json", "_ministry_folder": "bo-cong-an"},
        {**record("1.000094", "Đăng ký kết hôn"), "_ministry_folder": "bo-tu-phap"},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    store = FakeStore()
    report = run_import(path, store, progress=False)
    assert (report.read, report.imported) == (2, 2)
    assert store.items["1.000094"].ministry == "Bộ Tư pháp"


def test_xlsx_import_is_partial(tmp_path: Path) -> None:
    from openpyxl import Workbook

    path = tmp_path / "danh-sach-tthc-BoCongAn.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = "Danh sách TTHC"
    ws.append(["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập – Tự do – Hạnh phúc\n\nDANH SÁCH THỦ TỤC HÀNH CHÍNH"])
    ws.append(["Mã số", "Tên", "Cơ quan ban hành", "Cơ quan thực hiện", "Lĩnh vực"])
    ws.append(
        [
            "1.004073",
            "Tuyển chọn công dân vào Công an nhân dân",
            "Bộ Công an",
            "Bộ Công an\nCông an tỉnh",
            "Tổ chức, cán bộ",
        ]
    )
    ws.append(["3.000165", "Đăng ký cấp sao bản án", "Tòa án nhân dân", "", "Tòa án"])
    ws.append([None, None, None, None, None])
    ws.append(["bad-code", "Thủ tục lỗi", "Bộ Công an", "", ""])
    wb.save(path)

    store = FakeStore()
    first = run_import(_single(tmp_path, record()), store, progress=False)
    assert first.imported == 1
    report = run_import(path, store, progress=False)
    assert (report.read, report.imported, report.updated, len(report.skipped)) == (3, 1, 1, 1)
    assert "wrong procedure code format" in report.skipped[0].reason
    merged = store.items["1.004073"]
    assert merged.implementing_agencies == ["Bộ Công an", "Công an tỉnh"]
    assert merged.channels and merged.legal_basis  # partial rows keep the detailed fields
    assert store.items["3.000165"].ministry == "Tòa án nhân dân"
    again = run_import(path, store, progress=False)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)


def _single(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "single" / f"{data['ma_thu_tuc']}.json"
    _write_json(path, data)
    return path


def test_unsupported_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "catalogue.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormat):
        run_import(tmp_path / "catalogue.csv", FakeStore(), progress=False)
    with pytest.raises(FileNotFoundError):
        run_import(tmp_path / "missing.jsonl", FakeStore(), progress=False)


# --- bad records, idempotency, report ----------------------------------------------------------------


def test_bad_records_are_skipped_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(record(), ensure_ascii=False),
        '{"ma_thu_tuc": "1.000001", "ten_thu_tuc": ',  # truncated JSON
        json.dumps(record(code=""), ensure_ascii=False),
        json.dumps(record(code="TTHC-01"), ensure_ascii=False),
        json.dumps(record(code="1.000002", name="Không có thông tin"), ensure_ascii=False),
        json.dumps(["not", "an", "object"]),
        json.dumps(record("1.000094", "Đăng ký kết hôn"), ensure_ascii=False),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    store = FakeStore()
    report = run_import(path, store, progress=False)
    assert report.read == 7 and report.imported == 2
    reasons = [issue.reason for issue in report.skipped]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "missing procedure code (ma_thu_tuc)"
    assert reasons[2].startswith("wrong procedure code format")
    assert reasons[3] == "missing procedure name (ten_thu_tuc)"
    assert reasons[4].startswith("invalid record")
    assert report.skipped[0].source.endswith("mixed.jsonl:2")


def test_parser_crash_skips_only_that_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = P.parse_legal_basis

    def flaky(value: object) -> Any:
        if "Luật Cư trú" in str(value):
            raise RuntimeError("boom")
        return real(value)

    monkeypatch.setattr(P, "parse_legal_basis", flaky)
    _write_json(tmp_path / "a" / "1.004073.json", record())
    _write_json(tmp_path / "a" / "1.000094.json", record("1.000094", "Đăng ký kết hôn", can_cu_phap_ly=""))
    report = run_import(tmp_path, FakeStore(), progress=False)
    assert report.imported == 1
    assert report.skipped[0].reason == "unparseable record: RuntimeError: boom"


def test_import_is_idempotent(tmp_path: Path) -> None:
    _write_json(tmp_path / "bo-cong-an" / "1.004073.json", record())
    _write_json(tmp_path / "bo-cong-an" / "1.000094.json", record("1.000094", "Đăng ký kết hôn"))
    store = FakeStore()
    first = run_import(tmp_path, store, progress=False)
    second = run_import(tmp_path, store, progress=False)
    assert (first.imported, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.imported, second.updated, second.unchanged) == (0, 0, 2)


def test_idempotent_with_the_real_store(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from sqlalchemy import create_engine

    from knowledge_base.store import CatalogueStore

    _write_json(tmp_path / "bo-cong-an" / "1.004073.json", record(trinh_tu_thuc_hien="Bước 1: Nộp.\nBước 2: Nhận."))
    store = CatalogueStore(create_engine(f"sqlite:///{tmp_path / 'kb.sqlite'}"))
    assert run_import(tmp_path, store, progress=False).imported == 1
    second = run_import(tmp_path, store, progress=False)
    assert (second.imported, second.updated, second.unchanged) == (0, 0, 1)
    stored = store.get("1.004073")
    assert stored is not None and stored.channels[0].times[0].unit == "tháng"


def test_nfd_record_is_stored_nfc(tmp_path: Path) -> None:
    nfd = {k: unicodedata.normalize("NFD", v) if isinstance(v, str) else v for k, v in record().items()}
    _write_json(tmp_path / "x" / "1.004073.json", nfd)
    store = FakeStore()
    run_import(tmp_path, store, progress=False)
    dumped = store.items["1.004073"].model_dump_json()
    assert unicodedata.is_normalized("NFC", json.loads(dumped)["name"])
    assert store.items["1.004073"].legal_basis[-1].name == "Luật Cư trú"


def test_report_render_and_dict(tmp_path: Path) -> None:
    _write_json(tmp_path / "x" / "1.004073.json", record())
    (tmp_path / "x" / "broken.json").write_text("{", encoding="utf-8")
    report = run_import(tmp_path, FakeStore(), progress=False)
    data = report.to_dict()
    assert data["imported"] == 1 and data["skipped"] == 1
    assert data["coverage"]["cach_thuc_thuc_hien"]["coverage"] == 1.0
    text = report.render()
    assert "Imported (thêm mới)" in text and "broken.json" in text and "Parse coverage" in text


# --- the whole shared crawl ---------------------------------------------------------------------------


def test_whole_shared_crawl() -> None:
    if not CRAWL.exists():
        pytest.skip(f"shared crawl not found at {CRAWL}")
    store = FakeStore()
    report = run_import(CRAWL, store, progress=False)
    assert report.read == 2642
    assert report.imported == 2642 and not report.skipped
    coverage = report.coverage()
    # measured: 100 % / 98.5 % / 98.4 % (see scripts/import_coverage.py)
    assert coverage["cach_thuc_thuc_hien"]["coverage"] >= 0.99
    assert coverage["thanh_phan_ho_so"]["coverage"] >= 0.97
    assert coverage["can_cu_phap_ly"]["coverage"] >= 0.97
    assert coverage["ket_qua_xu_ly"]["coverage"] >= 0.99
    channels = [c for p in store.items.values() for c in p.channels]
    with_time = sum(1 for c in channels if any(t.value is not None for t in c.times))
    with_amount = sum(1 for c in channels if any(f.amount is not None for f in c.fees))
    assert with_time / len(channels) >= 0.93  # measured 94.7 %; the rest say "Không có thông tin"
    assert with_amount / len(channels) >= 0.83  # measured 84.7 %
    documents = [d for p in store.items.values() for case in p.cases for d in case.documents]
    assert sum(1 for d in documents if d.originals is not None) / len(documents) >= 0.99
    assert all(unicodedata.is_normalized("NFC", p.name) for p in store.items.values())
    assert not any("Từ khóa" in r for p in store.items.values() for r in p.results)
