"""Embedded search backend: SQLite FTS5 in one file under the data directory.

Two FTS5 tables hold the folded columns (accents are weighed by the shared ranker, not here):

- ``procedures_recall``: what a procedure *is* (RECALL_FIELDS plus the pair tokens), asked first. Kept
  apart from the long body text so that bm25() reads short position lists (the candidate query is
  half of a search's time), and so that its document frequencies count these fields only, as
  Elasticsearch's ``combined_fields`` does over the same fields.
- ``procedures_fts``: every field, asked only when the first finds too little.
"""

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

RECALL_TABLE, FULL_TABLE = "procedures_recall", "procedures_fts"
_TABLES: dict[str, list[str]] = {
    RECALL_TABLE: [*(f"{f}_f" for f in RECALL_FIELDS), PAIRS_COLUMN],
    FULL_TABLE: [*(f"{f}_f" for f in FIELDS), PAIRS_COLUMN],
}
DOCS_TABLE = "procedure_docs"
# bm25() weights by field, the same as Elasticsearch's FIELD_BOOSTS: name boosted, citizen words next.
_WEIGHTS = {"name": 10.0, "terms": 7.0, "cases": 3.0, "field": 2.0, "body": 1.0}
PAIRS_WEIGHT = 5.0
# unicode61 keeps the pair joiner inside a token ("cu_tru"), as Elasticsearch's standard tokenizer does.
_TOKENIZER = f"tokenize = 'unicode61 remove_diacritics 0 tokenchars ''{PAIR_JOINER}'''"


def _create_sql(table: str) -> str:
    return f"CREATE VIRTUAL TABLE {table} USING fts5(code UNINDEXED, {', '.join(_TABLES[table])}, {_TOKENIZER})"


def _bm25_weights(table: str) -> str:
    """bm25() column weights in column order: code (unindexed), each folded field, the pairs."""
    weights = ["0.0"]
    for column in _TABLES[table]:
        weights.append(str(PAIRS_WEIGHT if column == PAIRS_COLUMN else _WEIGHTS[column.removesuffix("_f")]))
    return ", ".join(weights)


# The candidate query of each table, made once (it is on every search's path).
_SEARCH_SQL = {
    table: f"SELECT code FROM {table} WHERE {table} MATCH ? ORDER BY bm25({table}, {_bm25_weights(table)}) LIMIT ?"
    for table in _TABLES
}


def _quote(word: str) -> str:
    return '"' + word.replace('"', "") + '"'


def fts_expression(query: AnalyzedQuery, columns: list[str] | None = None) -> str | None:
    """An FTS5 MATCH expression built only from analysed \\w+ tokens, each quoted: user text can never
    inject FTS syntax (AND, NEAR, *, :, quotes) and nothing reaches SQL except as a bound parameter.
    Pair tokens ("cu_tru") exist only in the pairs column and words never do: one OR over all, limited
    to ``columns`` when given."""
    tokens = [_quote(w) for w in query.folded_words if w]
    tokens += [_quote(pair_token(p)) for p in query.pairs if p]
    if not tokens:
        return None
    expression = " OR ".join(tokens)
    return f"{{{' '.join(columns)}}} : ({expression})" if columns else expression


def _table_for(fields: tuple[str, ...]) -> tuple[str, list[str] | None]:
    """The smallest table holding ``fields``, and the column filter when it holds more."""
    table = RECALL_TABLE if set(fields) <= set(RECALL_FIELDS) else FULL_TABLE
    wanted = [c for c in _TABLES[table] if c == PAIRS_COLUMN or c.removesuffix("_f") in fields]
    return table, (None if wanted == _TABLES[table] else wanted)


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
            found = dict(self._conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
            if any(found.get(table) != _create_sql(table) for table in _TABLES):
                # An index laid out by an older version: derived data, so drop it; count() is then 0
                # and Catalogue.ensure_ready rebuilds it from the store.
                for table in (*_TABLES, DOCS_TABLE):
                    self._conn.execute(f"DROP TABLE IF EXISTS {table}")
                for table in _TABLES:
                    self._conn.execute(_create_sql(table))
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {DOCS_TABLE} (code TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def rebuild(self, docs: Iterable[IndexDoc]) -> int:
        with self._lock, self._conn:
            for table in (*_TABLES, DOCS_TABLE):
                self._conn.execute(f"DELETE FROM {table}")
            count = self._insert(docs)
            for table in _TABLES:
                self._conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
        return count

    def upsert(self, docs: Iterable[IndexDoc]) -> int:
        docs = list(docs)
        with self._lock, self._conn:
            codes = [(d.code,) for d in docs]
            for table in (*_TABLES, DOCS_TABLE):
                self._conn.executemany(f"DELETE FROM {table} WHERE code = ?", codes)
            return self._insert(docs)

    def _insert(self, docs: Iterable[IndexDoc]) -> int:
        inserts = {
            table: f"INSERT INTO {table} (code, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 1))})"
            for table, columns in _TABLES.items()
        }
        count = 0
        for doc in docs:
            fields = doc.fields()
            for table, columns in _TABLES.items():
                self._conn.execute(inserts[table], [doc.code, *(fields[c] for c in columns)])
            payload = json.dumps(doc.to_dict(), ensure_ascii=False)
            self._conn.execute(f"INSERT INTO {DOCS_TABLE} (code, doc) VALUES (?, ?)", (doc.code, payload))
            count += 1
        return count

    def candidates(self, query: AnalyzedQuery, limit: int, fields: tuple[str, ...] = RECALL_FIELDS) -> list[str]:
        table, columns = _table_for(fields)
        expression = fts_expression(query, columns)
        if expression is None:
            return []
        with self._lock:
            try:
                rows = self._conn.execute(_SEARCH_SQL[table], (expression, limit)).fetchall()
            except sqlite3.OperationalError:
                return []
        return [row[0] for row in rows]

    def all_docs(self) -> Iterator[IndexDoc]:
        with self._lock:
            rows = self._conn.execute(f"SELECT doc FROM {DOCS_TABLE} ORDER BY code").fetchall()
        for (raw,) in rows:
            yield IndexDoc.from_dict(json.loads(raw))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {DOCS_TABLE}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
