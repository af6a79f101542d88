"""The search service every caller uses: analyse → engine candidates → shared ranking."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from knowledge_base import text as vn
from knowledge_base.model import Procedure
from knowledge_base.search.analysis import FIELDS, AnalyzedQuery, analyze_procedure, analyze_query
from knowledge_base.search.base import SearchBackend, SearchHit
from knowledge_base.search.ranking import Ranker

MAX_QUERY_CHARS = 10_000
CANDIDATES = 80  # the shared ranker re-scores these; more costs latency and gains almost nothing
MIN_CANDIDATES = 10  # fewer: ask again with every word, in every field (documents, results) too
COMMON_WORD_SHARE = 0.2
# Word pairs added to the engine's recall query (see _telling_pairs): at most this many, the rarest,
# each kept together by at least MIN_PAIR_DOCS procedures (a pair found once is usually two words
# that happen to meet in a summary) and by at most COMMON_PAIR_SHARE of them.
MAX_PAIRS = 4
MIN_PAIR_DOCS = 2
COMMON_PAIR_SHARE = 0.1


class EmptyQueryError(ValueError):
    """The query has no searchable word (empty, only punctuation or only filler)."""


class Searcher:
    def __init__(self, backend: SearchBackend, *, not_found_threshold: float = 0.32) -> None:
        self.backend = backend
        self.not_found_threshold = not_found_threshold
        self._ranker: Ranker | None = None
        self._lock = threading.Lock()

    @property
    def ranker(self) -> Ranker:
        with self._lock:
            if self._ranker is None:
                self._ranker = Ranker(self.backend.all_docs())
            return self._ranker

    # --- indexing -----------------------------------------------------------------------------
    def rebuild(self, procedures: Iterable[Procedure]) -> int:
        docs = [analyze_procedure(p) for p in procedures]
        count = self.backend.rebuild(docs)
        with self._lock:
            self._ranker = Ranker(docs)
        return count

    def upsert(self, procedures: Iterable[Procedure]) -> int:
        docs = [analyze_procedure(p) for p in procedures]
        count = self.backend.upsert(docs)
        ranker = self.ranker
        for doc in docs:
            ranker.add(doc)
        return count

    # --- searching ----------------------------------------------------------------------------
    def search(self, query: str, top: int = 5) -> list[SearchHit]:
        """Best procedures for a citizen's words, best first, each with a comparable score.

        Raises EmptyQueryError when nothing searchable is left; never raises on odd input."""
        if not query or not query.strip():
            raise EmptyQueryError("empty query")
        analyzed = analyze_query(query[:MAX_QUERY_CHARS])
        if analyzed.is_empty:
            raise EmptyQueryError("no searchable words")
        top = max(1, min(int(top), 50))
        ranker = self.ranker
        recall = self._recall_query(analyzed, ranker)
        codes = self.backend.candidates(recall, CANDIDATES)
        if len(codes) < MIN_CANDIDATES:
            codes += self.backend.candidates(analyzed, CANDIDATES, FIELDS)
        ranked = ranker.rank(analyzed, codes)[:top]
        hits = []
        for code, score in ranked:
            name, url = ranker.display(code)
            hits.append(SearchHit(code=code, name=name, score=round(score, 4), url=url))
        return hits

    @staticmethod
    def _recall_query(query: AnalyzedQuery, ranker: Ranker) -> AnalyzedQuery:
        """The words worth asking the engine for: very common ones ("đăng", "ký", "cấp") match most of
        the catalogue and only slow the engine down; ranking still sees every word."""

        def keep(word: str) -> bool:
            return ranker.document_frequency(vn.fold(word)) <= COMMON_WORD_SHARE

        folded = tuple(w for w in query.folded_words if keep(w))
        if not folded:  # only common words: ask for the rarest few
            folded = tuple(sorted(query.folded_words, key=lambda w: ranker.document_frequency(w))[:3])
        keep_folded = set(folded)
        return replace(
            query,
            words=tuple(w for w in query.words if vn.fold(w) in keep_folded),
            expansions=tuple(w for w in query.expansions if vn.fold(w) in keep_folded),
            folded_words=folded,
            pairs=_telling_pairs(query, ranker, keep_folded),
        )

    def is_confident(self, hit: SearchHit) -> bool:
        return hit.score >= self.not_found_threshold


def _telling_pairs(query: AnalyzedQuery, ranker: Ranker, kept: set[str]) -> tuple[tuple[str, str], ...]:
    """Adjacent content words of the query, one of them too common to be asked for alone, that
    procedure names or citizen words keep together rarely enough to single a few out: "xác nhận
    thông tin cư trú" is asked for as "cu_tru" (and "xac_nhan", "thong_tin" if rare enough), where
    "cư" and "trú" alone match a large share of the catalogue."""
    pairs: dict[tuple[str, str], float] = {}
    for pair in query.pairs:
        if pair[0] in kept and pair[1] in kept:
            continue  # both words are asked for already
        share = ranker.pair_share(pair)
        if MIN_PAIR_DOCS / max(len(ranker), 1) <= share <= COMMON_PAIR_SHARE:
            pairs[pair] = share
    return tuple(sorted(pairs, key=lambda p: (pairs[p], p))[:MAX_PAIRS])
