"""Embedded search backend: SQLite FTS5 in one file under the data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from knowledge_base.search.analysis import (
    FIELDS,
    PAIR_JOINER,
    PAIRS_COLUMN,
    RECALL_FIELDS,
    AnalyzedQuery,
    IndexDoc,
    pair_token,
)

_COLUMNS = [*(c for f in FIELDS for c in (f, f"{f}_f")), PAIRS_COLUMN]
# bm25() weights, in column order: code (unindexed), then name, name_f, terms, terms_f, ..., pairs_f
_WEIGHTS = {"name": 10.0, "terms": 7.0, "field": 2.0, "body": 1.0}
PAIRS_WEIGHT = 5.0
# unicode61 keeps the pair joiner inside a token ("cu_tru"), as Elasticsearch's standard tokenizer does.
_CREATE_FTS = (
    f"CREATE VIRTUAL TABLE procedures_fts USING fts5(code UNINDEXED, {', '.join(_COLUMNS)}, "
    f"tokenize = 'unicode61 remove_diacritics 0 tokenchars ''{PAIR_JOINER}''')"
)


def _bm25_weights() -> str:
    weights = ["0.0"]
    for field in FIELDS:
        weights += [str(_WEIGHTS[field] * 1.2), str(_WEIGHTS[field])]
    weights.append(str(PAIRS_WEIGHT))
    return ", ".join(weights)


def _quote(word: str) -> str:
    return '"' + word.replace('"', "") + '"'


def fts_expression(query: AnalyzedQuery, fields: tuple[str, ...] = RECALL_FIELDS) -> str | None:
    """An FTS5 MATCH expression built only from analysed \\w+ tokens, each quoted: user text can never
    inject FTS syntax (AND, NEAR, *, :, quotes) and nothing reaches SQL except as a bound parameter."""
    # Candidates come from the folded columns only (recall); accents matter in the shared ranking.
    # Pair tokens ("cu_tru") exist only in the pairs column and words never do: one OR over all.
    folded = [_quote(w) for w in query.folded_words if w]
    folded += [_quote(pair_token(p)) for p in query.pairs if p]
    if not folded:
        return None
    folded_cols = " ".join([*(f"{f}_f" for f in FIELDS if f in fields), PAIRS_COLUMN])
    return f"{{{folded_cols}}} : ({' OR '.join(folded)})"


class SqliteFtsBackend:
    name = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._create()

    def _create(self) -> None:
        with self._lock, self._conn:
            row = self._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'procedures_fts'").fetchone()
            if row is not None and row[0] != _CREATE_FTS:
                # An index laid out by an older version: derived data, so drop it; count() is then 0
                # and Catalogue.ensure_ready rebuilds it from the store.
                self._conn.execute("DROP TABLE procedures_fts")
                self._conn.execute("DROP TABLE IF EXISTS procedure_docs")
                row = None
            if row is None:
                self._conn.execute(_CREATE_FTS)
            self._conn.execute("CREATE TABLE IF NOT EXISTS procedure_docs (code TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def rebuild(self, docs: Iterable[IndexDoc]) -> int:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM procedures_fts")
            self._conn.execute("DELETE FROM procedure_docs")
            count = self._insert(docs)
            self._conn.execute("INSERT INTO procedures_fts(procedures_fts) VALUES ('optimize')")
        return count

    def upsert(self, docs: Iterable[IndexDoc]) -> int:
        docs = list(docs)
        with self._lock, self._conn:
            codes = [(d.code,) for d in docs]
            self._conn.executemany("DELETE FROM procedures_fts WHERE code = ?", codes)
            self._conn.executemany("DELETE FROM procedure_docs WHERE code = ?", codes)
            return self._insert(docs)

    def _insert(self, docs: Iterable[IndexDoc]) -> int:
        placeholders = ", ".join("?" for _ in range(len(_COLUMNS) + 1))
        count = 0
        for doc in docs:
            fields = doc.fields()
            self._conn.execute(
                f"INSERT INTO procedures_fts (code, {', '.join(_COLUMNS)}) VALUES ({placeholders})",
                [doc.code, *(fields[c] for c in _COLUMNS)],
            )
            payload = json.dumps(doc.to_dict(), ensure_ascii=False)
            self._conn.execute("INSERT INTO procedure_docs (code, doc) VALUES (?, ?)", (doc.code, payload))
            count += 1
        return count

    def candidates(self, query: AnalyzedQuery, limit: int, fields: tuple[str, ...] = RECALL_FIELDS) -> list[str]:
        expression = fts_expression(query, fields)
        if expression is None:
            return []
        sql = (
            f"SELECT code FROM procedures_fts WHERE procedures_fts MATCH ? "
            f"ORDER BY bm25(procedures_fts, {_bm25_weights()}) LIMIT ?"
        )
        with self._lock:
            try:
                rows = self._conn.execute(sql, (expression, limit)).fetchall()
            except sqlite3.OperationalError:
                return []
        return [row[0] for row in rows]

    def all_docs(self) -> Iterator[IndexDoc]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM procedure_docs ORDER BY code").fetchall()
        for (raw,) in rows:
            yield IndexDoc.from_dict(json.loads(raw))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM procedure_docs").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
