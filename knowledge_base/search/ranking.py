"""Backend-independent ranking: the engines find candidates, this scores them.

The score is in [0, 1] and means the same thing whatever engine found the candidates, so one
"not found" threshold serves both. It rewards, in order: covering the query's informative words
(IDF-weighted; an exact-accent match beats a folded one, and a word typed with diacritics that only
matches folded — "lái" vs "lại" — barely counts), keeping the query's word pairs together in the
name or the citizen words, matching a whole citizen phrase ("mua xe cũ"), and covering most of the
procedure's own name. Words and pairs are covered for the whole message or, discounted, for its best
clause: a long message that names its procedure in one clause and tells a story in the others is not
diluted into "not found".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from knowledge_base import text as vn
from knowledge_base.search.analysis import FIELDS, AnalyzedQuery, IndexDoc

# "cases" are the situations a procedure tells apart, each with its own documents ("Hồ sơ miễn thuế
# đối với hàng hóa nhập khẩu phục vụ nghiên cứu khoa học"): more specific than its field, less than
# its name.
FIELD_WEIGHTS: dict[str, float] = {"name": 1.0, "terms": 0.95, "cases": 0.45, "field": 0.35, "body": 0.3}
# A query word pair kept together in a case name is evidence too, worth less than in the name itself.
CASE_PAIR_WEIGHT = 0.6
FOLDED_MATCH = 0.85  # citizen typed no diacritics: a folded match is nearly as good
WRONG_ACCENT_MATCH = 0.2  # citizen typed "lái", the document says "lại"
EXPANSION_WEIGHT = 0.6  # words added by synonyms count less than the citizen's own
# Words that say what to do ("gia hạn", "hết hạn", "cấp lại") are scored by the action component;
# as plain words they count half, or "sắp hết hạn" would outweigh the thing that expires.
ACTION_WORD_WEIGHT = 0.5
UNKNOWN_WORD_WEIGHT = 0.8  # a word no procedure contains still lowers confidence a little
# A query must carry this much IDF mass to be answered with full confidence: "bạn", "còn", "nộp ở đâu"
# alone say nothing about which procedure is meant, however well they match.
MIN_INFORMATION = 3.0
# A clause of a longer message can carry the score on its own, discounted (the whole message matching
# is better still) and only when it says enough: "thời gian giải quyết" alone names no procedure.
CLAUSE_DISCOUNT = 0.8
CLAUSE_INFORMATION = 14.0

W_COVERAGE, W_BIGRAM, W_NAME, W_PHRASE, W_ACTION, W_BUILTIN = 0.55, 0.4, 0.2, 0.3, 0.08, 0.0

# What a procedure does to its object, as its name starts ("Cấp lại …", "Đổi …"). Siblings differ
# only by it, so the citizen's action ("bị mất" → cấp lại, "đổi") decides between them. A query with
# no action asks about the plain procedure (cấp / đăng ký).
ACTIONS: dict[str, str] = {
    "cấp lại": "reissue",
    "làm lại": "reissue",
    "xin lại": "reissue",
    "bị mất": "reissue",
    "đánh mất": "reissue",
    "làm mất": "reissue",
    "mất giấy": "reissue",
    "mất thẻ": "reissue",
    "mất sổ": "reissue",
    "mất bằng": "reissue",
    "mất cccd": "reissue",
    "mất căn cước": "reissue",
    "mất hộ chiếu": "reissue",
    "mất ví": "reissue",
    "cấp đổi": "exchange",
    "đổi": "exchange",
    "đổi lại": "exchange",
    "hết hạn": "exchange",
    # A damaged card or certificate is exchanged (cấp đổi), not reissued: cấp lại is for a lost one.
    "hỏng": "exchange",
    "hư hỏng": "exchange",
    "rách": "exchange",
    "bể": "exchange",
    "bị bể": "exchange",  # "bi be goc": with "bị" before it, unaccented "be" is the damage
    "bị vỡ": "exchange",
    "bị mờ": "exchange",
    "vỡ": "exchange",
    "mờ": "exchange",
    "gãy": "exchange",
    "gia hạn": "extend",
    "thu hồi": "revoke",
    "xóa đăng ký": "deregister",
    "xóa": "deregister",
    "chấm dứt": "terminate",
    "giải thể": "terminate",
    "tạm ngừng": "suspend",
    "tạm dừng": "suspend",
    "điều chỉnh": "amend",
    "thay đổi": "amend",
    "bổ sung": "amend",
    "cải chính": "amend",
    "đính chính": "amend",
    "đăng ký lại": "reregister",
    "sang tên": "transfer",
    "chuyển nhượng": "transfer",
    "chuyển đổi": "convert",
    "tách": "split",
    "hợp nhất": "merge",
    "xác nhận": "confirm",
    "trình báo": "report",
    "khôi phục": "restore",
    "hủy": "cancel",
    "chứng thực": "certify",
    "sao y": "certify",
    "công chứng": "certify",
    "cấp bản sao": "copy",
    "trích lục": "copy",
    "ghi vào sổ": "record",
    "ghi chú": "record",
    "giải quyết": "settle",
    # Not actions, but typed without diacritics they would read as one: "doi voi" is "đối với"
    # (regarding), not "đổi" (exchange).
    "đối với": "",
}
# Typed without diacritics, these single words are far more often something else than the damage
# they could spell: "vo" is vợ ("lấy vợ") before vỡ, "be" is bé (a child) before bể, "mo" is mở ("mở
# quán") before mờ. Typed with diacritics they still count.
_UNACCENTED_NOT_ACTIONS = frozenset({"vo", "be", "mo"})
_BASE_ACTIONS = frozenset({"issue", "register", ""})
# Age-bound siblings ("… cho người dưới 14 tuổi" / "… từ đủ 14 tuổi trở lên"): a citizen who gives an
# age ("con 16 tuổi") means the sibling whose range holds it; the other one is demoted.
AGE_MISMATCH = 0.7
_QUERY_AGE = re.compile(r"\b(\d{1,3}) tuoi\b")
_NAME_UNDER = re.compile(r"\bduoi (\d{1,3}) tuoi\b")
_NAME_FROM = re.compile(r"\btu (?:du )?(\d{1,3}) tuoi\b")
_DOC_ACTIONS: dict[str, str] = {**ACTIONS, "cấp": "issue", "đăng ký": "register", "thủ tục đăng ký": "register"}


@dataclass(frozen=True)
class DocFeatures:
    code: str
    exact: dict[str, float]  # normalised word → best field weight it appears in
    folded: dict[str, float]  # folded word → best field weight it appears in
    vocabulary: frozenset[str]  # folded words of every field (for document frequencies)
    bigrams: frozenset[tuple[str, str]]  # folded word pairs of name + citizen words
    case_bigrams: frozenset[tuple[str, str]]  # folded word pairs of the case names
    name: str
    url: str | None
    name_words: tuple[str, ...]  # folded, unique
    action: str  # what the name says the procedure does ("" when it says nothing recognisable)
    term_phrases: tuple[tuple[str, ...], ...]
    builtin: bool
    ages: tuple[int, int] | None  # the age range the name restricts the procedure to, if any

    @classmethod
    def of(cls, doc: IndexDoc) -> DocFeatures:
        exact: dict[str, float] = {}
        folded: dict[str, float] = {}
        for field_name in reversed(FIELDS):  # strongest field last, so it wins
            weight = FIELD_WEIGHTS[field_name]
            exact.update(dict.fromkeys(doc.exact[field_name].split(), weight))
            folded.update(dict.fromkeys(doc.folded[field_name].split(), weight))
        name_sequence = vn.fold(doc.name).split()
        return cls(
            code=doc.code,
            exact=exact,
            folded=folded,
            vocabulary=frozenset(folded),
            bigrams=frozenset(doc.word_pairs()),
            case_bigrams=frozenset(doc.word_pairs(("cases",))),
            name=doc.name,
            url=doc.url,
            name_words=tuple(dict.fromkeys(name_sequence)),
            action=name_action(doc.name),
            term_phrases=_beyond_name(doc.term_phrases, name_sequence),
            builtin=doc.builtin,
            ages=name_ages(doc.name),
        )


class Ranker:
    """Holds per-document features and corpus statistics; scores candidates for a query."""

    def __init__(self, docs: Iterable[IndexDoc] = ()) -> None:
        self._features: dict[str, DocFeatures] = {}
        self._df: Counter[str] = Counter()
        self._pair_df: Counter[tuple[str, str]] = Counter()
        self._idf: dict[str, float] = {}
        self._name_weights: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {}
        self._longest_phrase = 2  # words in the longest citizen phrase of any procedure
        for doc in docs:
            self.add(doc)

    def add(self, doc: IndexDoc) -> None:
        old = self._features.get(doc.code)
        if old is not None:
            self._df.subtract(old.vocabulary)
            self._pair_df.subtract(old.bigrams)
        features = DocFeatures.of(doc)
        self._features[doc.code] = features
        self._longest_phrase = max([self._longest_phrase, *map(len, features.term_phrases)])
        self._df.update(features.vocabulary)
        self._pair_df.update(features.bigrams)
        self._idf.clear()
        self._name_weights.clear()

    def remove(self, code: str) -> None:
        old = self._features.pop(code, None)
        if old is not None:
            self._df.subtract(old.vocabulary)
            self._pair_df.subtract(old.bigrams)
            self._idf.clear()
            self._name_weights.clear()

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, code: object) -> bool:
        return code in self._features

    def display(self, code: str) -> tuple[str, str | None]:
        doc = self._features[code]
        return doc.name, doc.url

    def document_frequency(self, folded_word: str) -> float:
        """Share of procedures containing the word (0..1)."""
        return self._df.get(folded_word, 0) / max(len(self._features), 1)

    def idf(self, folded_word: str) -> float:
        cached = self._idf.get(folded_word)
        if cached is not None:
            return cached
        n = max(len(self._features), 1)
        df = self._df.get(folded_word, 0)
        value = UNKNOWN_WORD_WEIGHT if df <= 0 else math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        self._idf[folded_word] = value
        return value

    def _word_idf(self, folded_word: str, stands_for: tuple[str, ...] | None) -> float:
        """IDF of a query word; a word that only stands for a catalogue phrase ("online" for "trực
        tuyến") says no more than that phrase does. Few procedures carry the alias itself (in their
        citizen words), which would make it look rare and outweigh what the citizen asks about."""
        value = self.idf(folded_word)
        if stands_for:
            value = min(value, max(self.idf(word) for word in stands_for))
        return value

    def pair_share(self, pair: tuple[str, str]) -> float:
        """Share of procedures whose name or citizen words keep this folded word pair together."""
        return self._pair_df.get(pair, 0) / max(len(self._features), 1)

    def pair_idf(self, pair: tuple[str, str]) -> float:
        """How telling it is that a procedure's name or citizen words keep this word pair together:
        "chứng thư" together is rarer (and says more) than "chứng" and "thư" apart."""
        df = self._pair_df.get(pair, 0)
        if df <= 0:
            return min(self.idf(pair[0]), self.idf(pair[1]))
        n = max(len(self._features), 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def score(self, query: AnalyzedQuery, code: str) -> float:
        return self.rank(query, [code])[0][1]

    def rank(self, query: AnalyzedQuery, codes: Iterable[str]) -> list[tuple[str, float]]:
        plan = self._plan(query)
        scored = []
        for code in dict.fromkeys(codes):
            doc = self._features.get(code)
            scored.append((code, self._score(plan, doc) if doc is not None and plan.words else 0.0))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored

    def _plan(self, query: AnalyzedQuery) -> _QueryPlan:
        actions, action_words = _query_actions(list(query.sequence))
        own = [(word, vn.fold(word)) for word in query.words]
        words = [
            *((w, f, ACTION_WORD_WEIGHT if f in action_words else 1.0) for w, f in own),
            *((w, vn.fold(w), EXPANSION_WEIGHT) for w in query.expansions),
        ]
        stands_for = dict(query.aliases)
        weights = [self._word_idf(folded, stands_for.get(folded)) * factor for _, folded, factor in words]
        pairs = [
            (pair, self.pair_idf(pair) * (ACTION_WORD_WEIGHT if action_words.issuperset(pair) else 1.0))
            for pair in query.pairs
        ]
        return _QueryPlan(
            words=[(w, f, wt, WRONG_ACCENT_MATCH if w != f else FOLDED_MATCH) for (w, f, _), wt in zip(words, weights)],
            total=sum(weights),
            pairs=pairs,
            pair_total=sum(weight for _, weight in pairs),
            clauses=_clause_plans(query.clauses, [w for w, _, _ in words], weights, pairs),
            present=frozenset(query.folded_words),
            ngrams=_ngrams([vn.fold(w) for w in query.sequence], self._longest_phrase),
            actions=actions,
            ages=tuple(int(a) for a in _QUERY_AGE.findall(vn.fold(query.original))),
        )

    def _score(self, plan: _QueryPlan, doc: DocFeatures) -> float:
        total_weight = W_COVERAGE + W_BIGRAM + W_NAME + W_PHRASE + W_ACTION + W_BUILTIN
        age_fit = 1.0
        if doc.ages and plan.ages and not any(doc.ages[0] <= age < doc.ages[1] for age in plan.ages):
            age_fit = AGE_MISMATCH
        return (
            age_fit
            * (
                self._lexical(plan, doc)
                + W_NAME * self._name_coverage(plan, doc)
                + W_PHRASE * self._phrase_score(plan, doc)
                + W_ACTION * _action_score(plan.actions, doc.action)
                + (W_BUILTIN if doc.builtin else 0.0)
            )
            / total_weight
            * min(1.0, plan.total / MIN_INFORMATION)
        )

    # --- components ---------------------------------------------------------------------------
    def _lexical(self, plan: _QueryPlan, doc: DocFeatures) -> float:
        """Weighted coverage of the query's words plus its kept-together word pairs, for the whole
        message or, discounted, for its best clause (a long question about one thing)."""
        if not plan.total:
            return 0.0
        exact, folded = doc.exact.get, doc.folded.get  # hot loop: local lookups
        matched = []
        for word, folded_word, weight, folded_quality in plan.words:
            by_exact = exact(word, 0.0)
            by_folded = folded(folded_word, 0.0) * folded_quality
            matched.append(weight * (by_exact if by_exact > by_folded else by_folded))
        bigrams = doc.bigrams
        if plan.pairs:
            in_cases = doc.case_bigrams
            pair_hits = [
                weight if pair in bigrams else weight * CASE_PAIR_WEIGHT if pair in in_cases else 0.0
                for pair, weight in plan.pairs
            ]
            together = sum(pair_hits) / plan.pair_total if plan.pair_total else 0.0
        else:  # one word: how well that word itself matches
            pair_hits = []
            together = matched[0] / plan.words[0][2] if plan.words[0][2] else 0.0
        best = W_COVERAGE * sum(matched) / plan.total + W_BIGRAM * together
        for clause in plan.clauses:
            if best >= (W_COVERAGE + W_BIGRAM) * clause.focus:
                continue  # even a perfect match of this clause would not beat the whole message
            coverage = sum(matched[i] for i in clause.words) / clause.total
            if clause.pair_total:
                together = sum(pair_hits[i] for i in clause.pairs) / clause.pair_total
            elif not clause.pairs:
                first = clause.words[0]
                together = matched[first] / plan.words[first][2]
            else:
                together = 0.0
            best = max(best, (W_COVERAGE * coverage + W_BIGRAM * together) * clause.focus)
        return best

    def _name_coverage(self, plan: _QueryPlan, doc: DocFeatures) -> float:
        cached = self._name_weights.get(doc.code)
        if cached is None:
            weighted = tuple((word, self.idf(word)) for word in doc.name_words)
            cached = (sum(w for _, w in weighted), weighted)
            self._name_weights[doc.code] = cached
        total, weighted = cached
        if not total:
            return 0.0
        present = plan.present
        return sum(weight for word, weight in weighted if word in present) / total

    def _phrase_score(self, plan: _QueryPlan, doc: DocFeatures) -> float:
        best = 0
        for phrase in doc.term_phrases:
            if len(phrase) > best and phrase in plan.ngrams:
                best = len(phrase)
        return min(best / 3.0, 1.0)


@dataclass(frozen=True)
class _ClausePlan:
    words: tuple[int, ...]  # indices into _QueryPlan.words
    total: float
    pairs: tuple[int, ...]  # indices into _QueryPlan.pairs
    pair_total: float
    focus: float  # CLAUSE_DISCOUNT, lowered further for a clause carrying little information


@dataclass(frozen=True)
class _QueryPlan:
    words: list[tuple[str, str, float, float]]  # (as typed, folded, weight, quality of a folded-only match)
    total: float
    pairs: list[tuple[tuple[str, str], float]]
    pair_total: float
    clauses: list[_ClausePlan]
    present: frozenset[str]
    ngrams: frozenset[tuple[str, ...]]  # runs of 2+ folded words of the message, as typed (fillers too)
    actions: frozenset[str]
    ages: tuple[int, ...]  # ages the citizen mentions ("con 16 tuổi")


def _clause_plans(
    clauses: tuple[tuple[str, ...], ...],
    words: list[str],
    weights: list[float],
    pairs: list[tuple[tuple[str, str], float]],
) -> list[_ClausePlan]:
    index = {word: i for i, word in reversed(list(enumerate(words)))}
    plans = []
    for clause in clauses:
        members = tuple(dict.fromkeys(index[w] for w in clause if w in index))
        total = sum(weights[i] for i in members)
        if not members or not total:
            continue
        folded = {vn.fold(words[i]) for i in members}
        own_pairs = tuple(i for i, ((a, b), _) in enumerate(pairs) if a in folded and b in folded)
        plans.append(
            _ClausePlan(
                words=members,
                total=total,
                pairs=own_pairs,
                pair_total=sum(pairs[i][1] for i in own_pairs),
                focus=CLAUSE_DISCOUNT * min(1.0, total / CLAUSE_INFORMATION),
            )
        )
    return plans


def _beyond_name(phrases: tuple[tuple[str, ...], ...], name: list[str]) -> tuple[tuple[str, ...], ...]:
    """Citizen phrases that say more than the official name: "đăng ký kết hôn" for "Thủ tục đăng ký kết
    hôn" only repeats it (name coverage scores that), and would also pull a question about "kết hôn có
    yếu tố nước ngoài" to the plain procedure."""
    joined = f" {' '.join(name)} "
    return tuple(p for p in phrases if f" {' '.join(p)} " not in joined)


def name_ages(name: str) -> tuple[int, int] | None:
    """[low, high) age range a procedure name restricts itself to: "dưới 14 tuổi" → (0, 14)."""
    folded = vn.fold(name)
    under = _NAME_UNDER.search(folded)
    if under:
        return 0, int(under.group(1))
    start = _NAME_FROM.search(folded)
    if start:
        return int(start.group(1)), 1000
    return None


@lru_cache(maxsize=1)
def _action_matchers() -> tuple[vn.PhraseMatcher, vn.PhraseMatcher]:
    return vn.PhraseMatcher(ACTIONS), vn.PhraseMatcher(_DOC_ACTIONS)


def query_actions(words: list[str]) -> frozenset[str]:
    """Actions the citizen asks for, in their words (normalised, abbreviations expanded)."""
    return _query_actions(words)[0]


def _query_actions(words: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(actions, the folded words that said them)."""
    found: set[str] = set()
    consumed: set[str] = set()
    # the longest phrase consumes its words: "thay đổi" is amend, not also "đổi"
    for start, length, action in _action_matchers()[0].hits(words):
        if action and not (length == 1 and words[start] in _UNACCENTED_NOT_ACTIONS):
            found.add(action)
            consumed.update(vn.fold(w) for w in words[start : start + length])
    return frozenset(found), frozenset(consumed)


def name_action(name: str) -> str:
    """The action a procedure name starts with (within its first words), e.g. "Cấp lại …" → reissue."""
    matcher = _action_matchers()[1]
    words = vn.syllables(name)[:4]
    for i in range(len(words)):
        hit = matcher.match_at(words, i)
        if hit and hit[1]:
            return hit[1]
    return ""


def _action_score(query_actions: frozenset[str], doc_action: str) -> float:
    if not query_actions:
        return 1.0 if doc_action in _BASE_ACTIONS else 0.0
    return 1.0 if doc_action in query_actions else 0.0


def _ngrams(sequence: list[str], longest: int) -> frozenset[tuple[str, ...]]:
    return frozenset(
        tuple(sequence[i : i + n]) for n in range(2, longest + 1) for i in range(len(sequence) - n + 1)
    )
