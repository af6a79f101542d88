"""Elasticsearch 8 search backend (MOTCUA_SEARCH=elasticsearch).

Documents arrive already analysed in Python (search.analysis): each text field exists as ``<field>``
(exact, diacritics kept) and ``<field>_f`` (folded), so the index needs no Vietnamese analysis of its
own. The analyzer only splits on the spaces Python left and lowercases, and uses nothing from the
analysis-common module (absent from minimal distributions such as the integ-test zip: there is no
``whitespace`` *tokenizer* there, so the custom analyzer is ``standard`` tokenizer + ``lowercase`` —
identical on text that is already ``\\w+`` words separated by spaces).

The index name given is an alias: ``rebuild`` fills a fresh concrete index and swaps the alias
atomically, so searches never see a half-built catalogue. User text only ever reaches Elasticsearch as
``match`` query *values* (never query_string syntax), so no input can raise a parse error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from knowledge_base.search.analysis import FIELDS, PAIRS_COLUMN, RECALL_FIELDS, AnalyzedQuery, IndexDoc, pair_token

log = logging.getLogger(__name__)

# Same weights as the SQLite FTS5 backend: name boosted, citizen words next.
FIELD_BOOSTS: dict[str, float] = {"name": 10.0, "terms": 7.0, "cases": 3.0, "field": 2.0, "body": 1.0}
PAIRS_BOOST = 5.0  # sqlite_fts.PAIRS_WEIGHT
# Bumped whenever the mapping changes: an index made by an older version counts as empty, so
# Catalogue.ensure_ready rebuilds it (into a fresh index behind the alias).
MAPPING_VERSION = 3
MAX_QUERY_WORDS = 100  # bounds the clause count far below max_clause_count
ANALYZER = "motcua_words"

SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "number_of_replicas": 0,
    "analysis": {
        "analyzer": {ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}},
    },
}


def _mappings() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": {"type": "keyword"},
        "builtin": {"type": "boolean"},
        "doc": {"type": "object", "enabled": False},  # the whole IndexDoc, stored, not indexed
    }
    for name in FIELDS:
        properties[name] = {"type": "text", "analyzer": ANALYZER}
        properties[f"{name}_f"] = {"type": "text", "analyzer": ANALYZER}
    properties[PAIRS_COLUMN] = {"type": "text", "analyzer": ANALYZER}  # standard keeps "cu_tru" one token
    return {"dynamic": "strict", "_meta": {"motcua_mapping": MAPPING_VERSION}, "properties": properties}


def _source(doc: IndexDoc) -> dict[str, Any]:
    return {"code": doc.code, "builtin": doc.builtin, **doc.fields(), "doc": doc.to_dict()}


def build_query(query: AnalyzedQuery, fields: tuple[str, ...] = RECALL_FIELDS) -> dict[str, Any] | None:
    """The folded words (and pair tokens) over the folded fields (and the pairs field), scored like
    SQLite FTS5's bm25(): ``combined_fields`` (BM25F) sums a word's weighted frequencies over the
    fields before saturating, as FTS5 does over its columns, with the same weights; ``most_fields``
    would score each field on its own and rank long, many-field documents differently. Candidates are
    about recall; accents are weighed by the shared ranker, as on SQLite. User text is only ever a
    match value. None when there is nothing to look for."""
    tokens = [*(w for w in query.folded_words if w), *(pair_token(p) for p in query.pairs if p)]
    tokens = list(dict.fromkeys(tokens))[:MAX_QUERY_WORDS]
    if not tokens:
        return None
    boosted = [f"{name}_f^{FIELD_BOOSTS[name]}" for name in FIELDS if name in fields]
    boosted.append(f"{PAIRS_COLUMN}^{PAIRS_BOOST}")
    return {"combined_fields": {"query": " ".join(tokens), "fields": boosted}}


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, url: str, index: str = "motcua-procedures", timeout: float = 10) -> None:
        self.url = url
        self.index = index  # an alias over a concrete "<index>-<timestamp>" index
        self.client = Elasticsearch(url, request_timeout=timeout, max_retries=1, retry_on_timeout=False)

    # --- index management ---------------------------------------------------------------------
    def _create_concrete(self) -> str:
        concrete = f"{self.index}-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
        self.client.indices.create(index=concrete, settings=SETTINGS, mappings=_mappings())
        return concrete

    def _aliased(self) -> list[str]:
        """Concrete indices behind the alias (empty when the alias does not exist)."""
        try:
            return sorted(self.client.indices.get_alias(name=self.index).keys())
        except NotFoundError:
            return []

    def _ensure_index(self) -> None:
        if self._aliased():
            return
        if self.client.indices.exists(index=self.index):
            return  # a plain index under our name (made by hand): use it as is
        concrete = self._create_concrete()
        self.client.indices.put_alias(index=concrete, name=self.index)

    def rebuild(self, docs: Iterable[IndexDoc]) -> int:
        concrete = self._create_concrete()
        try:
            count = self._bulk(concrete, docs, refresh=False)
            self.client.indices.refresh(index=concrete)
        except BaseException:
            self.client.indices.delete(index=concrete, ignore_unavailable=True)
            raise
        old = self._aliased()
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.index}} for i in old]
        if not old and self.client.indices.exists(index=self.index):
            # A plain index occupies the alias name: it has to go before the alias can exist.
            self.client.indices.delete(index=self.index)
        actions.append({"add": {"index": concrete, "alias": self.index}})
        self.client.indices.update_aliases(actions=actions)
        for index in old:
            self.client.indices.delete(index=index, ignore_unavailable=True)
        return count

    def upsert(self, docs: Iterable[IndexDoc]) -> int:
        self._ensure_index()
        return self._bulk(self.index, docs, refresh="wait_for")

    def _bulk(self, index: str, docs: Iterable[IndexDoc], refresh: bool | str) -> int:
        actions = ({"_op_type": "index", "_index": index, "_id": doc.code, "_source": _source(doc)} for doc in docs)
        count, _ = helpers.bulk(self.client, actions, refresh=refresh, chunk_size=500)
        return int(count)

    def delete_index(self) -> None:
        """Drop the alias and every index behind it (tests, `kb index --reset`)."""
        for index in self._aliased():
            self.client.indices.delete(index=index, ignore_unavailable=True)
        self.client.indices.delete(index=self.index, ignore_unavailable=True)

    # --- searching ----------------------------------------------------------------------------
    def candidates(self, query: AnalyzedQuery, limit: int, fields: tuple[str, ...] = RECALL_FIELDS) -> list[str]:
        body = build_query(query, fields)
        if body is None or limit <= 0:
            return []
        try:
            response = self.client.search(
                index=self.index,
                query=body,
                size=int(limit),
                source=False,
                track_total_hits=False,
            )
        except (ApiError, TransportError) as exc:
            log.warning("elasticsearch candidates failed: %s", exc)
            return []
        return [hit["_id"] for hit in response["hits"]["hits"]]

    def all_docs(self) -> Iterator[IndexDoc]:
        try:
            hits = list(
                helpers.scan(
                    self.client, index=self.index, query={"query": {"match_all": {}}}, _source=["doc"], size=500
                )
            )
        except NotFoundError:
            return
        docs = [IndexDoc.from_dict(hit["_source"]["doc"]) for hit in hits]
        yield from sorted(docs, key=lambda d: d.code)

    def count(self) -> int:
        """Documents indexed; 0 when the index was laid out by an older version (it needs a rebuild)."""
        try:
            mappings = self.client.indices.get_mapping(index=self.index)
            if any(
                m.get("mappings", {}).get("_meta", {}).get("motcua_mapping") != MAPPING_VERSION
                for m in mappings.values()
            ):
                return 0
            return int(self.client.count(index=self.index)["count"])
        except NotFoundError:
            return 0

    def close(self) -> None:
        self.client.close()
