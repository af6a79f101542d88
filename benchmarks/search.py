"""Search benchmark: accuracy on the labelled dev sets, "not found" behaviour, latency, BM25 baseline.

Imports the full shared crawl into a temporary data directory, then evaluates
``../shared/eval/queries_dev.jsonl`` and ``../shared/eval/faq_dev.jsonl`` (skipped with a message
when absent). Prints one JSON line and a table. Run: ``make bench`` or
``.venv/bin/python -m benchmarks.search [--backend sqlite|elasticsearch|both]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.db import make_engine
from core.settings import Settings
from knowledge_base import text as vn
from knowledge_base.catalogue import Catalogue
from knowledge_base.model import Procedure
from knowledge_base.search import Searcher, make_backend
from knowledge_base.search.analysis import analyze_query
from knowledge_base.store import CatalogueStore

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTCUA_SHARED_DIR", REPO.parent / "shared"))
CRAWL = SHARED / "data" / "catalogue" / "procedures.jsonl.gz"
EVAL = SHARED / "eval"

Ranker = Callable[[str, int], list[tuple[str, float]]]


@dataclass
class Item:
    query: str
    gold: list[str]
    accented: bool
    set_name: str


@dataclass
class Scores:
    top1: int = 0
    top3: int = 0
    n: int = 0

    def add(self, codes: list[str], gold: list[str]) -> None:
        self.n += 1
        self.top1 += bool(codes) and codes[0] in gold
        self.top3 += any(c in gold for c in codes[:3])

    def to_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "top1": round(self.top1 / self.n, 4) if self.n else 0.0,
            "top3": round(self.top3 / self.n, 4) if self.n else 0.0,
        }


@dataclass
class Report:
    by_split: dict[str, Scores] = field(default_factory=dict)
    rejected_unknown: int = 0  # gold [] questions whose best score fell below the threshold
    unknown: int = 0
    rejected_known: int = 0  # gold questions wrongly below the threshold
    known: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def split(self, name: str) -> Scores:
        return self.by_split.setdefault(name, Scores())


def load_items() -> list[Item]:
    items: list[Item] = []
    queries = EVAL / "queries_dev.jsonl"
    faq = EVAL / "faq_dev.jsonl"
    if queries.exists():
        for line in queries.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            items.append(Item(row["query"], row["gold"], vn.has_diacritics(row["query"]), "queries_dev"))
    if faq.exists():
        for line in faq.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            items.append(Item(row["question"], row["gold"], True, "faq_dev"))
            if row.get("question_no_diacritics"):
                items.append(Item(row["question_no_diacritics"], row["gold"], False, "faq_dev"))
    return items


def evaluate(rank: Ranker, items: list[Item], threshold: float | None) -> Report:
    """Accuracy, "not found" behaviour and latency of one ranker. Every query is asked once before the
    timed pass: a freshly started engine (Elasticsearch's JIT and caches, SQLite's page cache) answers
    its first queries several times slower than it ever will in service, and the targets are about
    the service."""
    report = Report()
    for item in items:
        rank(item.query, 3)
    analyze_query.cache_clear()  # a citizen's new question is analysed afresh: time that too
    for item in items:
        start = time.perf_counter()
        results = rank(item.query, 3)
        report.latencies_ms.append((time.perf_counter() - start) * 1000)
        codes = [code for code, _ in results]
        best = results[0][1] if results else 0.0
        if item.gold:
            for name in (item.set_name, f"{item.set_name}:{'diacritics' if item.accented else 'no_diacritics'}",
                         "all"):
                report.split(name).add(codes, item.gold)
            if threshold is not None:
                report.known += 1
                report.rejected_known += best < threshold
        elif threshold is not None:
            report.unknown += 1
            report.rejected_unknown += best < threshold
    return report


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(report: Report, threshold: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: s.to_dict() for name, s in sorted(report.by_split.items())}
    out["latency_ms"] = {
        "p50": round(statistics.median(report.latencies_ms), 2) if report.latencies_ms else 0.0,
        "p95": round(percentile(report.latencies_ms, 0.95), 2),
        # Timings mean little on a busy machine: the 1-minute load average right after measuring.
        "load_1min": round(os.getloadavg()[0], 2),
    }
    if threshold is not None:
        out["not_found"] = {
            "threshold": threshold,
            "unknown_rejected": f"{report.rejected_unknown}/{report.unknown}",
            "unknown_rejected_rate": round(report.rejected_unknown / report.unknown, 4) if report.unknown else None,
            "known_wrongly_rejected_rate": round(report.rejected_known / report.known, 4) if report.known else None,
        }
    return out


def bm25_ranker(procedures: list[Procedure]) -> Ranker:
    """The plain baseline: rank_bm25 over folded names + fields."""
    from rank_bm25 import BM25Okapi

    codes = [p.code for p in procedures]
    corpus = [vn.fold(f"{p.name} {p.field}").split() for p in procedures]
    bm25 = BM25Okapi(corpus)

    def rank(query: str, top: int) -> list[tuple[str, float]]:
        scores = bm25.get_scores(vn.fold(query).split())
        best = sorted(range(len(codes)), key=lambda i: -scores[i])[:top]
        return [(codes[i], float(scores[i])) for i in best]

    return rank


def searcher_ranker(searcher: Searcher) -> Ranker:
    def rank(query: str, top: int) -> list[tuple[str, float]]:
        return [(h.code, h.score) for h in searcher.search(query, top)]

    return rank


@contextmanager
def elasticsearch_url() -> Iterator[str | None]:
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"]
        return
    sys.path.insert(0, str(REPO))
    from tests import es_server  # the same real server the test suite uses

    reason = es_server.why_unavailable()
    if reason:
        print(f"# Elasticsearch: {reason}; skipped", file=sys.stderr)
        yield None
        return
    server = es_server.start_server()
    try:
        yield server.url
    finally:
        server.stop()


def build_catalogue(data_dir: Path) -> tuple[Catalogue, float]:
    settings = _settings(data_dir, "sqlite", "")
    catalogue = Catalogue(CatalogueStore(make_engine(settings.database_url)), Searcher(make_backend(settings)))
    catalogue.ensure_ready()
    start = time.perf_counter()
    report = catalogue.import_path(CRAWL, progress=False)
    elapsed = time.perf_counter() - start
    print(f"# imported {report.to_dict().get('imported')} records in {elapsed:.1f}s", file=sys.stderr)
    return catalogue, elapsed


def _settings(data_dir: Path, backend: str, es_url: str) -> Settings:
    base = Settings.from_env()
    return Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'motcua.db'}",
        search_backend=backend,
        elasticsearch_url=es_url,
        elasticsearch_index="motcua-bench",
        rasa_url=base.rasa_url,
        not_found_threshold=base.not_found_threshold,
    )


def run(backends: list[str]) -> dict[str, Any]:
    items = load_items()
    if not items:
        return {"skipped": f"no dev sets under {EVAL}"}
    if not CRAWL.exists():
        return {"skipped": f"crawl not found at {CRAWL}"}
    with tempfile.TemporaryDirectory(prefix="motcua-bench-") as tmp:
        catalogue, import_seconds = build_catalogue(Path(tmp))
        procedures = list(catalogue.store.all())
        threshold = catalogue.searcher.not_found_threshold
        result: dict[str, Any] = {"procedures": len(procedures), "import_seconds": round(import_seconds, 1)}
        result["bm25"] = summarise(evaluate(bm25_ranker(procedures), items, None), None)
        if "sqlite" in backends:
            result["sqlite"] = summarise(evaluate(searcher_ranker(catalogue.searcher), items, threshold), threshold)
        if "elasticsearch" in backends:
            with elasticsearch_url() as url:
                if url is None:
                    reason = "no Elasticsearch (set ELASTICSEARCH_URL or install mvn + Java 17)"
                    result["elasticsearch"] = {"skipped": reason}
                else:
                    settings = _settings(Path(tmp), "elasticsearch", url)
                    es_searcher = Searcher(make_backend(settings), not_found_threshold=threshold)
                    es_searcher.rebuild(procedures)
                    result["elasticsearch"] = summarise(evaluate(searcher_ranker(es_searcher), items, threshold),
                                                        threshold)
                    es_searcher.backend.close()
    return result


def table(result: dict[str, Any]) -> str:
    rows = ["engine         split                              n   top1   top3"]
    for engine in ("bm25", "sqlite", "elasticsearch"):
        block = result.get(engine)
        if not isinstance(block, dict) or "skipped" in block:
            if block:
                rows.append(f"{engine:<14} {block.get('skipped')}")
            continue
        for name, scores in block.items():
            if isinstance(scores, dict) and "top1" in scores:
                rows.append(f"{engine:<14} {name:<32} {scores['n']:>3}  {scores['top1']:.3f}  {scores['top3']:.3f}")
        latency = block["latency_ms"]
        rows.append(f"{engine:<14} latency p50 {latency['p50']} ms, p95 {latency['p95']} ms"
                    f" (load average {latency['load_1min']})")
        if "not_found" in block:
            nf = block["not_found"]
            rows.append(f"{engine:<14} not-found: gold-[] rejected {nf['unknown_rejected']}"
                        f" ({nf['unknown_rejected_rate']}), gold wrongly rejected {nf['known_wrongly_rejected_rate']}"
                        f" at threshold {nf['threshold']}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "elasticsearch", "both"], default="both")
    args = parser.parse_args(argv)
    backends = ["sqlite", "elasticsearch"] if args.backend == "both" else [args.backend]
    result = run(backends)
    print(json.dumps({"benchmark": "search", **result}, ensure_ascii=False))
    if "skipped" in result:
        print(f"search benchmark skipped: {result['skipped']}")
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
