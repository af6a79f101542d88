"""Catalogue search: one interface (Searcher), two engines (SQLite FTS5, Elasticsearch 8)."""

from __future__ import annotations

from core.settings import Settings, get_settings
from knowledge_base.search.base import SearchBackend, SearchHit
from knowledge_base.search.service import EmptyQueryError, Searcher

__all__ = ["EmptyQueryError", "SearchBackend", "SearchHit", "Searcher", "make_backend", "make_searcher"]


def make_backend(settings: Settings | None = None) -> SearchBackend:
    settings = settings or get_settings()
    if settings.search_backend == "elasticsearch":
        from knowledge_base.search.elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend(settings.elasticsearch_url, index=settings.elasticsearch_index)
    from knowledge_base.search.sqlite_fts import SqliteFtsBackend

    return SqliteFtsBackend(settings.search_db_path)


def make_searcher(settings: Settings | None = None) -> Searcher:
    settings = settings or get_settings()
    return Searcher(make_backend(settings), not_found_threshold=settings.not_found_threshold)
