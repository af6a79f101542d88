"""Index-time and query-time analysis shared by every search backend.

Both engines receive the same pre-analysed text (folding and synonyms happen here, in Python, with
knowledge_base.text), so SQLite FTS5 and Elasticsearch see identical tokens: one behaviour, two
engines. Each text field exists twice: ``<field>`` (normalised, diacritics kept: exact) and
``<field>_f`` (folded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from knowledge_base import text as vn
from knowledge_base.model import Procedure

# field → weight in ranking; name is boosted, citizen words next, then the rest.
FIELDS: tuple[str, ...] = ("name", "terms", "field", "body")
# Fields the engines search for candidates first: what a procedure *is*. The long body (documents,
# results, conditions) matches almost any question and only slows the engines down; it is searched
# only when these find too little.
RECALL_FIELDS: tuple[str, ...] = ("name", "terms", "field")


@dataclass(frozen=True)
class IndexDoc:
    """What a backend indexes for one procedure."""

    code: str
    name: str
    url: str | None
    builtin: bool
    exact: dict[str, str]  # field → normalised text (with synonym expansions)
    folded: dict[str, str]  # field → folded text
    term_phrases: tuple[tuple[str, ...], ...]  # citizen terms as folded word tuples

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "url": self.url,
            "builtin": self.builtin,
            "exact": self.exact,
            "folded": self.folded,
            "term_phrases": [list(p) for p in self.term_phrases],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexDoc:
        return cls(
            code=data["code"],
            name=data["name"],
            url=data["url"],
            builtin=data["builtin"],
            exact=dict(data["exact"]),
            folded=dict(data["folded"]),
            term_phrases=tuple(tuple(p) for p in data["term_phrases"]),
        )

    def fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in FIELDS:
            out[name] = self.exact[name]
            out[f"{name}_f"] = self.folded[name]
        return out


def _join(parts: list[str]) -> str:
    return " \n ".join(p for p in parts if p)


def analyze_procedure(procedure: Procedure) -> IndexDoc:
    documents = [d.name for case in procedure.cases for d in case.documents]
    raw = {
        "name": procedure.name,
        "terms": _join([*procedure.citizen_terms, procedure.summary]),
        "field": _join([procedure.field, *procedure.subjects]),
        "body": _join([*documents[:40], *procedure.results[:5], *procedure.conditions[:5]])[:6000],
    }
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for name, value in raw.items():
        # Synonyms are added only for the short fields: they describe what the procedure *is*.
        normalised = " ".join(_words(value))
        if name in ("name", "terms"):
            normalised = vn.expand_synonyms(normalised)
        exact[name] = normalised
        folded[name] = vn.fold(normalised)
    phrases = tuple(tuple(vn.fold(term).split()) for term in procedure.citizen_terms if len(vn.syllables(term)) >= 2)
    return IndexDoc(
        code=procedure.code,
        name=procedure.name,
        url=procedure.url,
        builtin=procedure.builtin,
        exact=exact,
        folded=folded,
        term_phrases=phrases,
    )


@dataclass(frozen=True)
class AnalyzedQuery:
    """A citizen's question reduced to what search needs."""

    original: str
    words: tuple[str, ...]  # normalised content words as typed (diacritics kept if typed)
    expansions: tuple[str, ...]  # words added by synonyms
    folded_words: tuple[str, ...] = field(default=())

    @property
    def all_words(self) -> tuple[str, ...]:
        return self.words + self.expansions

    @property
    def is_empty(self) -> bool:
        return not self.all_words


def _words(text: str) -> list[str]:
    """Normalised words; numbers lose leading zeros so "09 số" and "9 số" agree."""
    return [w.lstrip("0") or "0" if w.isdigit() else w for w in vn.syllables(text)]


@lru_cache(maxsize=4096)
def analyze_query(query: str) -> AnalyzedQuery:
    query = query[:2000]  # citizens do not write novels; keeps pathological input cheap
    expanded = vn.expand_abbreviations(query)
    content = vn.strip_fillers(expanded) or expanded
    words = tuple(dict.fromkeys(_words(content)))
    present = set(vn.fold(content).split())
    extra: list[str] = []
    for canonical in vn.synonym_expansions(expanded):
        for word in vn.syllables(canonical):
            if vn.fold(word) not in present and word not in extra:
                extra.append(word)
    folded = tuple(dict.fromkeys(vn.fold(w) for w in (*words, *extra)))
    return AnalyzedQuery(
        original=query,
        words=words,
        expansions=tuple(extra),
        folded_words=folded,
    )
