"""Index-time and query-time analysis shared by every search backend.

Both engines receive the same pre-analysed text (folding and synonyms happen here, in Python, with
knowledge_base.text), so SQLite FTS5 and Elasticsearch see identical tokens: one behaviour, two
engines. Each text field exists twice: ``<field>`` (normalised, diacritics kept: exact) and
``<field>_f`` (folded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any

from knowledge_base import text as vn
from knowledge_base.model import Procedure

# field → weight in ranking; name is boosted, citizen words next, then the names of the cases the
# procedure tells apart (each with its own documents), then the rest.
FIELDS: tuple[str, ...] = ("name", "terms", "cases", "field", "body")
# Fields the engines search for candidates first: what a procedure *is*. The long body (documents,
# results, conditions) matches almost any question and only slows the engines down; it is searched
# only when these find too little.
RECALL_FIELDS: tuple[str, ...] = ("name", "terms", "field")
# One more engine column, derived from name + citizen words: every adjacent folded word pair as one
# token ("cu_tru"). Words too common to ask an engine for ("cư", "trú") are often telling together;
# a pair token is one cheap, rare term where a phrase query would read both words' long posting lists.
PAIRS_COLUMN = "pairs_f"
PAIR_JOINER = "_"


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
        """Engine columns: each field exact and folded, plus the pair tokens (PAIRS_COLUMN)."""
        out: dict[str, str] = {}
        for name in FIELDS:
            out[name] = self.exact[name]
            out[f"{name}_f"] = self.folded[name]
        out[PAIRS_COLUMN] = " ".join(sorted(pair_token(pair) for pair in self.word_pairs()))
        return out

    def word_pairs(self, fields: tuple[str, ...] = ("name", "terms")) -> set[tuple[str, str]]:
        """Adjacent folded word pairs of ``fields`` (by default the name and the citizen words), never
        across lines."""
        pairs: set[tuple[str, str]] = set()
        for name in fields:
            for line in self.folded[name].split("\n"):
                pairs.update(pairwise(line.split()))
        return pairs


def pair_token(pair: tuple[str, ...]) -> str:
    return PAIR_JOINER.join(pair)


def _join(parts: list[str]) -> str:
    return " \n ".join(p for p in parts if p)


def analyze_procedure(procedure: Procedure) -> IndexDoc:
    documents = [d.name for case in procedure.cases for d in case.documents]
    raw = {
        "name": procedure.name,
        "terms": _join([*procedure.citizen_terms, procedure.summary]),
        "cases": _join([case.name for case in procedure.cases]),
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
    # Folded pairs of words adjacent in the citizen's phrasing (same clause, no filler between). The
    # engines look for them as PAIRS_COLUMN tokens ("cu_tru"); the recall query keeps the telling ones.
    pairs: tuple[tuple[str, str], ...] = field(default=())
    # Content words (with their synonym words) of each clause of a message that has several: a long
    # question often names its procedure in one clause and spends the others on circumstances.
    clauses: tuple[tuple[str, ...], ...] = field(default=())
    sequence: tuple[str, ...] = field(default=())  # every word as typed, filler too (abbreviations expanded)
    # Folded words that only stand for a catalogue phrase, with that phrase's folded words: "online"
    # → ("truc", "tuyen"), "do" of "sổ đỏ" → the words of "giấy chứng nhận quyền sử dụng đất".
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def all_words(self) -> tuple[str, ...]:
        return self.words + self.expansions

    @property
    def is_empty(self) -> bool:
        return not self.all_words


def _words(text: str) -> list[str]:
    """Normalised words; numbers lose leading zeros so "09 số" and "9 số" agree."""
    return _numbers(vn.syllables(text))


def _numbers(words: list[str]) -> list[str]:
    return [w.lstrip("0") or "0" if w.isdigit() else w for w in words]


@lru_cache(maxsize=4096)
def analyze_query(query: str) -> AnalyzedQuery:
    query = query[:2000]  # citizens do not write novels; keeps pathological input cheap
    runs: list[tuple[str, ...]] = []
    clauses: list[tuple[list[str], list[str]]] = []  # (content words, synonym canonicals) per clause
    sequence: list[str] = []
    for clause in vn.clauses(query):
        expanded = vn.expand_abbreviations(clause).split()
        sequence += expanded
        clause_runs = [tuple(_numbers(run)) for run in vn.filler_runs(expanded)]
        canonicals = vn.synonym_expansions(" ".join(expanded))
        if clause_runs or canonicals:
            runs += clause_runs
            clauses.append(([w for run in clause_runs for w in run], canonicals))
    if not runs:  # only filler ("cho em hỏi"): search for it as typed
        words_as_typed = tuple(_numbers(sequence))
        runs = [words_as_typed] if words_as_typed else []
        clauses = [(list(words_as_typed), [c for _, found in clauses for c in found])]
    content = [w for run in runs for w in run]
    words = tuple(dict.fromkeys(content))
    present = {vn.fold(w) for w in content}
    extra: list[str] = []
    clause_words: list[tuple[str, ...]] = []
    for clause_content, canonicals in clauses:
        added = [w for canonical in canonicals for w in vn.syllables(canonical) if vn.fold(w) not in present]
        extra += [w for w in added if w not in extra]
        clause_words.append(tuple(dict.fromkeys([*clause_content, *added])))
    folded = tuple(dict.fromkeys(vn.fold(w) for w in (*words, *extra)))
    pairs = tuple(dict.fromkeys((vn.fold(a), vn.fold(b)) for run in runs for a, b in pairwise(run)))
    return AnalyzedQuery(
        original=query,
        words=words,
        expansions=tuple(extra),
        folded_words=folded,
        pairs=pairs,
        clauses=tuple(clause_words) if len(clause_words) > 1 else (),
        sequence=tuple(sequence),
        aliases=tuple((word, tuple(vn.fold(phrase).split())) for word, phrase in vn.synonym_aliases(sequence).items()),
    )
