"""NLU benchmark: intent accuracy, macro-F1, per-style accuracy, entity P/R/F1, parse latency, RAM.

Evaluates /work/shared/eval/intents_dev.jsonl (override with MOTCUA_NLU_EVAL or --eval) against
``POST /model/parse`` of a Rasa server:

    .venv/bin/python -m benchmarks.nlu                        # RASA_URL if it answers, else newest models/*.tar.gz
    .venv/bin/python -m benchmarks.nlu --url http://127.0.0.1:5005
    .venv/bin/python -m benchmarks.nlu --model models/nlu.tar.gz   # starts a server on 127.0.0.1
    .venv/bin/python -m benchmarks.nlu --train --config config.yml # trains an NLU model first (timed)

Standard library only, so it runs from either virtualenv. An entity counts as found when type, start
and end match; an ``aspect`` must also have the right canonical value. Prints one JSON line, then a
table. With no eval file, prints why and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVAL = Path("/work/shared/eval/intents_dev.jsonl")
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
VALUE_CHECKED = {"aspect"}


# --- Rasa server ---------------------------------------------------------------------------------
def parse(url: str, text: str, timeout: float = 30.0) -> dict[str, Any]:
    body = json.dumps({"text": text}).encode("utf-8")
    request = urllib.request.Request(
        f"{url.rstrip('/')}/model/parse", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def server_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=2) as response:
            status = json.loads(response.read().decode("utf-8"))
        return bool(status.get("model_file"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start_server(model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    empty_endpoints = Path(tempfile.mkdtemp()) / "endpoints.yml"
    empty_endpoints.write_text("{}\n", encoding="utf-8")
    command = [
        str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "-m", str(model),
        "--endpoints", str(empty_endpoints), "--credentials", str(ROOT / "credentials.yml"),
    ]
    with log.open("wb") as handle:
        return subprocess.Popen(
            command, cwd=ROOT, env=rasa_env(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and its descendants, in MB (Linux /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    if pid not in rss:
        return None
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return round(total / 1e6, 1)


def train(config: Path, out_dir: Path, name: str) -> tuple[Path, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(RASA_BIN), "train", "nlu", "--config", str(config), "--nlu", str(ROOT / "nlu_data"),
        "--domain", str(ROOT / "domain.yml"), "--out", str(out_dir), "--fixed-model-name", name,
    ]
    env = {**rasa_env(), "RASA_MAX_CACHE_SIZE": "0"}  # no training cache: honest training time
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = round(time.monotonic() - started, 1)
    model = out_dir / f"{name}.tar.gz"
    model.with_suffix("").with_suffix(".meta.json").write_text(
        json.dumps({"config": str(config), "train_seconds": seconds}), encoding="utf-8"
    )
    return model, seconds


def newest_model() -> Path | None:
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def train_seconds_of(model: Path | None) -> float | None:
    if model is None:
        return None
    meta = model.with_suffix("").with_suffix(".meta.json")
    if meta.is_file():
        return float(json.loads(meta.read_text(encoding="utf-8")).get("train_seconds"))
    return None


# --- metrics -------------------------------------------------------------------------------------
def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _entity_keys(entities: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    keys = set()
    for entity in entities:
        value = str(entity.get("value")) if entity["entity"] in VALUE_CHECKED else ""
        keys.add((entity["entity"], int(entity["start"]), int(entity["end"]), value))
    return keys


def _overlaps(
    gold: list[dict[str, Any]], found: list[dict[str, Any]]
) -> list[tuple[str, str, bool]]:
    """(entity, "gold"|"pred", overlaps one of the other side) — a boundary-tolerant view."""
    def hit(entity: dict[str, Any], others: list[dict[str, Any]]) -> bool:
        return any(
            o["entity"] == entity["entity"] and o["start"] < entity["end"] and entity["start"] < o["end"]
            for o in others
        )

    unique = list({(e["entity"], e["start"], e["end"]): e for e in found}.values())
    return [(e["entity"], "gold", hit(e, unique)) for e in gold] + [
        (e["entity"], "pred", hit(e, gold)) for e in unique
    ]


def _loose_f1(c: Counter[str]) -> float:
    precision = c["pred"] / (c["pred"] + c["fp"]) if c["pred"] + c["fp"] else 0.0
    recall = c["gold"] / (c["gold"] + c["fn"]) if c["gold"] + c["fn"] else 0.0
    return round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0


def score(rows: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> dict[str, Any]:
    labels = sorted({r["intent"] for r in rows} | {p["intent"]["name"] for p in predictions})
    confusion: Counter[tuple[str, str]] = Counter()
    by_style: dict[str, list[bool]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    loose: dict[str, Counter[str]] = defaultdict(Counter)  # same type, overlapping span
    errors: list[dict[str, Any]] = []
    for row, prediction in zip(rows, predictions):
        predicted = prediction["intent"]["name"]
        confusion[(row["intent"], predicted)] += 1
        by_style[row.get("style", "unknown")].append(predicted == row["intent"])
        gold = _entity_keys(row.get("entities", []))
        found = _entity_keys(prediction.get("entities", []))
        for key in gold & found:
            counts[key[0]]["tp"] += 1
        for key in found - gold:
            counts[key[0]]["fp"] += 1
        for key in gold - found:
            counts[key[0]]["fn"] += 1
        for name, kind, hit in _overlaps(row.get("entities", []), prediction.get("entities", [])):
            loose[name][kind if hit else ("fn" if kind == "gold" else "fp")] += 1
        if predicted != row["intent"]:
            errors.append({"id": row.get("id"), "gold": row["intent"], "predicted": predicted})
    per_intent = {}
    for label in labels:
        tp = confusion[(label, label)]
        fp = sum(n for (g, p), n in confusion.items() if p == label and g != label)
        fn = sum(n for (g, p), n in confusion.items() if g == label and p != label)
        per_intent[label] = _prf(tp, fp, fn)
    gold_labels = sorted({r["intent"] for r in rows})
    correct = sum(confusion[(label, label)] for label in labels)
    entities = {name: _prf(c["tp"], c["fp"], c["fn"]) for name, c in sorted(counts.items())}
    total = Counter[str]()
    for c in counts.values():
        total.update(c)
    return {
        "n": len(rows),
        "intent_accuracy": round(correct / len(rows), 4) if rows else 0.0,
        "intent_macro_f1": round(statistics.fmean(per_intent[g]["f1"] for g in gold_labels), 4),
        "style_accuracy": {s: round(sum(v) / len(v), 4) for s, v in sorted(by_style.items())},
        "entities": entities,
        "entity_micro": _prf(total["tp"], total["fp"], total["fn"]),
        "entity_overlap_f1": {
            name: _loose_f1(c) for name, c in sorted(loose.items())
        },
        "intent_errors": errors,
    }


# --- output --------------------------------------------------------------------------------------
def table(result: dict[str, Any]) -> str:
    lines = [
        f"| metric | value |\n|---|---|\n| examples | {result['n']} |",
        f"| intent accuracy | {result['intent_accuracy']:.1%} |",
        f"| intent macro-F1 | {result['intent_macro_f1']:.1%} |",
    ]
    lines += [f"| accuracy ({style}) | {acc:.1%} |" for style, acc in result["style_accuracy"].items()]
    for name, prf in [*result["entities"].items(), ("all entities", result["entity_micro"])]:
        lines.append(
            f"| {name} P / R / F1 | {prf['precision']:.1%} / {prf['recall']:.1%} / {prf['f1']:.1%} |"
        )
    lat = result["latency_ms"]
    lines.append(f"| parse latency p50 / p95 | {lat['p50']} ms / {lat['p95']} ms |")
    lines.append(f"| training time | {result.get('train_seconds')} s |")
    lines.append(f"| model size | {result.get('model_mb')} MB |")
    lines.append(f"| server RSS | {result.get('server_rss_mb')} MB |")
    return "\n".join(lines)


def evaluate(url: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    parse(url, "xin chào")  # warm-up
    predictions, latencies = [], []
    for row in rows:
        started = time.perf_counter()
        predictions.append(parse(url, row["text"]))
        latencies.append((time.perf_counter() - started) * 1000)
    result = score(rows, predictions)
    ordered = sorted(latencies)
    result["latency_ms"] = {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rasa NLU benchmark on the intent dev set")
    parser.add_argument("--eval", type=Path, default=Path(os.environ.get("MOTCUA_NLU_EVAL", DEFAULT_EVAL)))
    parser.add_argument("--url", help="running Rasa server (default: RASA_URL if it answers)")
    parser.add_argument("--model", type=Path, help="model to serve on a temporary port")
    parser.add_argument("--train", action="store_true", help="train an NLU model with --config first")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--name", default="nlu", help="model name for --train (models/<name>.tar.gz)")
    parser.add_argument("--port", type=int, default=5085)
    parser.add_argument("--label", default="", help="label stored in the JSON line")
    parser.add_argument("--errors", action="store_true", help="also print misclassified example ids")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])

    if not args.eval.is_file():
        print(f"# NLU benchmark skipped: eval file {args.eval} is absent")
        return 0
    rows = [json.loads(line) for line in args.eval.read_text(encoding="utf-8").splitlines() if line.strip()]

    model: Path | None = args.model
    train_seconds: float | None = None
    if args.train:
        model, train_seconds = train(args.config, ROOT / "models", args.name)
    url = args.url
    if url is None and model is None:
        candidate = os.environ.get("RASA_URL", "http://127.0.0.1:5005")
        if server_ready(candidate):
            url = candidate
        else:
            model = newest_model()
    if url is None and model is None:
        print("# NLU benchmark skipped: no Rasa server answering and no model under models/")
        return 0
    if url is None and not RASA_BIN.exists():
        print("# NLU benchmark skipped: .venv-rasa is missing (make setup-rasa)")
        return 0

    process = None
    if url is None and model is not None:
        log = ROOT / "models" / f"bench-server-{args.port}.log"
        process = start_server(model, args.port, log)
        url = f"http://127.0.0.1:{args.port}"
        deadline = time.monotonic() + 300
        while not server_ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                print(f"# NLU benchmark failed: Rasa server did not start, see {log}")
                stop_server(process)
                return 1
            time.sleep(1)
    try:
        result = evaluate(url, rows)
        result["server_rss_mb"] = rss_mb(process.pid) if process else None
    finally:
        if process is not None:
            stop_server(process)
    result["label"] = args.label or (args.config.stem if args.train else "")
    result["model"] = str(model) if model else None
    result["model_mb"] = round(model.stat().st_size / 1e6, 1) if model and model.is_file() else None
    result["train_seconds"] = train_seconds if train_seconds is not None else train_seconds_of(model)
    errors = result.pop("intent_errors")
    print(json.dumps({"benchmark": "nlu", **result}, ensure_ascii=False))
    print(table(result))
    if args.errors:
        for error in errors:
            print(f"# {error['id']}: {error['gold']} → {error['predicted']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
