"""Catalogue store and HTTP API: what a province (import) and a caller (search, record) notice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.db import make_engine
from core.settings import Settings
from knowledge_base.builtin_catalogue import load_builtin
from knowledge_base.model import Channel, ChannelKind, Fee, Procedure, ProcessingTime
from knowledge_base.store import CatalogueStore
from motcua.app import create_app


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'motcua.db'}",
        search_backend="sqlite",
        elasticsearch_url="",
        elasticsearch_index="unused",
        rasa_url="http://127.0.0.1:5005",
        not_found_threshold=0.30,
    )


@pytest.fixture()
def store(tmp_path: Path) -> CatalogueStore:
    return CatalogueStore(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


def _official(code: str = "9.999001", fee: int = 20000) -> Procedure:
    return Procedure(
        code=code,
        name="Thủ tục thử nghiệm đăng ký",
        field="Thử nghiệm",
        channels=[
            Channel(
                kind=ChannelKind.DIRECT,
                name="Trực tiếp",
                times=[ProcessingTime(value=3, unit="ngày làm việc")],
                fees=[Fee(amount=fee, description=f"Lệ phí: {fee:,} đồng".replace(",", "."))],
            )
        ],
    )


def test_builtin_catalogue_is_present_in_a_fresh_store(store: CatalogueStore) -> None:
    builtin = load_builtin()
    store.ensure_builtin()
    assert store.count() == len(builtin)
    for procedure in builtin[:5]:
        stored = store.get(procedure.code)
        assert stored is not None and stored.builtin and stored.citizen_terms == procedure.citizen_terms


def test_upsert_is_idempotent_and_reports_changes(store: CatalogueStore) -> None:
    assert store.upsert_official(_official()) == "imported"
    assert store.upsert_official(_official()) == "unchanged"
    assert store.upsert_official(_official(fee=30000)) == "updated"
    stored = store.get("9.999001")
    assert stored is not None and stored.channels[0].fees[0].amount == 30000


def test_import_refreshes_official_fields_and_keeps_citizen_words(store: CatalogueStore) -> None:
    ours = _official().model_copy(update={"citizen_terms": ["con mới sinh"], "summary": "Của chúng tôi"})
    store.upsert_official(ours)
    store.upsert_official(_official(fee=50000).model_copy(update={"citizen_terms": []}))
    stored = store.get("9.999001")
    assert stored is not None
    assert stored.channels[0].fees[0].amount == 50000
    assert stored.citizen_terms == ["con mới sinh"]


def test_partial_record_does_not_wipe_richer_fields(store: CatalogueStore) -> None:
    store.upsert_official(_official())
    partial = Procedure(code="9.999001", name="Tên mới của thủ tục", field="")
    assert store.upsert_official(partial, partial=True) == "updated"
    stored = store.get("9.999001")
    assert stored is not None
    assert stored.name == "Tên mới của thủ tục"
    assert stored.field == "Thử nghiệm"
    assert stored.channels[0].fees[0].amount == 20000


def test_health_and_search_over_http(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    builtin = load_builtin()
    if not builtin:
        pytest.skip("no built-in procedures yet")
    target = builtin[0]
    body = client.get("/api/procedures/search", params={"q": target.name, "top": 3}).json()
    assert body["results"][0]["code"] == target.code
    assert body["found"] is True
    assert set(body["results"][0]) == {"code", "name", "score", "url"}


def test_full_record_over_http(client: TestClient) -> None:
    builtin = load_builtin()
    if not builtin:
        pytest.skip("no built-in procedures yet")
    record = client.get(f"/api/procedures/{builtin[0].code}").json()
    assert record["code"] == builtin[0].code and record["name"] == builtin[0].name
    missing = client.get("/api/procedures/0.000000")
    assert missing.status_code == 404
    assert "Không tìm thấy" in missing.json()["detail"]


@pytest.mark.parametrize("query", ["", "   ", "?!..."])
def test_empty_query_is_a_clear_422(client: TestClient, query: str) -> None:
    response = client.get("/api/procedures/search", params={"q": query})
    assert response.status_code == 422
    assert "Vui lòng nhập" in response.text


@pytest.mark.parametrize(
    "query",
    [
        '"khai sinh',
        "khai* -sinh",
        "a AND b OR NEAR(c d)",
        "(x) ~y :z",
        "' OR 1=1; DROP TABLE procedures --",
        "khai sinh " * 1000,
    ],
)
def test_hostile_queries_never_raise(client: TestClient, query: str) -> None:
    response = client.get("/api/procedures/search", params={"q": query[:10_000]})
    assert response.status_code == 200
    assert client.get("/health").json()["procedures"] > 0 or not load_builtin()
