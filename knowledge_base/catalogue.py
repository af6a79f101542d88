"""The catalogue as the rest of the product sees it: the store plus its search index, kept in step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.db import get_engine
from core.settings import Settings, get_settings
from knowledge_base.model import Procedure
from knowledge_base.search import Searcher, SearchHit, make_searcher
from knowledge_base.store import CatalogueStore

if TYPE_CHECKING:
    from knowledge_base.importer.report import ImportReport


class Catalogue:
    def __init__(self, store: CatalogueStore, searcher: Searcher) -> None:
        self.store = store
        self.searcher = searcher

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Catalogue:
        settings = settings or get_settings()
        catalogue = cls(CatalogueStore(get_engine(settings.database_url)), make_searcher(settings))
        catalogue.ensure_ready()
        return catalogue

    def ensure_ready(self) -> None:
        """The built-in catalogue is present and the index holds what the store holds."""
        changed = self.store.ensure_builtin()
        if self.searcher.backend.count() != self.store.count():
            self.reindex()
        elif changed:
            self.searcher.upsert(self.store.get_many(changed).values())

    def reindex(self) -> int:
        return self.searcher.rebuild(self.store.all())

    def import_path(self, path: Path, *, progress: bool = True) -> ImportReport:
        from knowledge_base.importer import run_import

        report = run_import(path, self.store, progress=progress)
        if report.imported or report.updated:
            self.reindex()
        return report

    def get(self, code: str) -> Procedure | None:
        return self.store.get(code)

    def search(self, query: str, top: int = 5) -> list[SearchHit]:
        return self.searcher.search(query, top)
