"""The one search interface; engines implement :class:`SearchBackend`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from knowledge_base.search.analysis import RECALL_FIELDS, AnalyzedQuery, IndexDoc


@dataclass(frozen=True)
class SearchHit:
    code: str
    name: str
    score: float  # 0..1, comparable across engines; below the threshold means "not found"
    url: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class SearchBackend(Protocol):
    """A full-text engine holding pre-analysed documents (see search.analysis)."""

    name: str

    def rebuild(self, docs: Iterable[IndexDoc]) -> int:
        """Replace the whole index; returns the number of documents indexed."""

    def upsert(self, docs: Iterable[IndexDoc]) -> int:
        """Add or replace documents; returns how many."""

    def candidates(self, query: AnalyzedQuery, limit: int, fields: tuple[str, ...] = RECALL_FIELDS) -> list[str]:
        """Codes of the documents whose folded ``fields`` best match, best first (recall matters, not order)."""

    def all_docs(self) -> Iterator[IndexDoc]:
        """Every indexed document (used to build the shared ranker)."""

    def count(self) -> int: ...

    def close(self) -> None: ...
