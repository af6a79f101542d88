"""Gateway benchmark: webhook ack latency and end-to-end reply latency, against the real app and Rasa.

1. Ack latency: 200 concurrent webhook posts (several rounds) to a test channel (``POST /bench/webhook``,
   which verifies nothing and calls ``Gateway.accept`` exactly like the Zalo and Telegram webhooks), once
   with Rasa up (the worker answering at the same time) and once with Rasa down. Target p99 ≤ 100 ms.
2. Reply latency at 20 concurrent users, each sending a short conversation: through the gateway
   (``POST /api/chat``, inbox → Rasa → outbox, synchronous answer) vs straight to Rasa's REST channel in
   the same run. Target: gateway p95 ≤ 2 × direct p95.

Starts the app with uvicorn on free ports and Rasa + the action server as the tests do (tests/rasa_server),
the bot at ``nice 10`` as scripts/run.sh starts it (the gateway's acks go before the bot's turns for the
CPU). The test channel's webhook is a plain route placed with the Zalo and Telegram ones, so a post costs
what theirs cost (minus the signature check); the client is a separate process on the same machine (on
2 cores client, app and bot share the CPU: the latencies include that, and whatever else runs there).
Run: ``make bench`` or ``.venv/bin/python -m benchmarks.gateway [--rounds 5] [--users 20] [--turns 4]``.
Prints one JSON line and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from connectors.base import IncomingMessage, OutgoingMessage
from connectors.channel_support import add_webhook

BOT_NICE = 10  # scripts/run.sh starts Rasa and the action server with `nice -n 10` (MOTCUA_BOT_NICE)
CONVERSATION = ["xin chào", "làm căn cước cần giấy tờ gì", "lệ phí bao nhiêu", "cảm ơn"]
BENCH_CHANNEL = "bench"


class _NullSender:
    channel = BENCH_CHANNEL
    max_text_length = 4000

    async def send(self, message: OutgoingMessage) -> None:
        return None


def bench_app() -> FastAPI:
    """The real app plus a test channel whose webhook only accepts (uvicorn factory)."""
    from motcua.app import create_app

    app = create_app()
    gateway = app.state.gateway
    gateway.add_sender(_NullSender())

    async def webhook(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        fresh = await gateway.accept(
            IncomingMessage(BENCH_CHANNEL, str(body["id"]), str(body["user"]), text=str(body["text"]))
        )
        return JSONResponse({"ok": True, "duplicate": not fresh})

    add_webhook(app, "/bench/webhook", webhook)  # a plain route, like the Zalo and Telegram webhooks
    # Matched where the platform webhooks are, ahead of the API and back-office routers (appended last,
    # it would be matched against every route of the app first: a cost the real webhooks do not pay).
    routes = app.router.routes
    routes.insert(next(i for i, r in enumerate(routes) if getattr(r, "path", "") == "/webhooks/zalo"), routes.pop())
    return app


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 1),
        "p95_ms": round(percentile(values_ms, 95), 1),
        "p99_ms": round(percentile(values_ms, 99), 1),
        "mean_ms": round(statistics.fmean(values_ms), 1) if values_ms else float("nan"),
    }


async def _post_raw(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], host: str, body: bytes) -> int:
    """One keep-alive HTTP/1.1 POST on an open connection; the status code."""
    reader, writer = stream
    head = (
        f"POST /bench/webhook HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()
    response_head = await reader.readuntil(b"\r\n\r\n")
    lines = response_head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def ack_latency(url: str, concurrency: int, rounds: int) -> dict[str, Any]:
    """``concurrency`` posts at once per round, on as many open keep-alive connections.

    The client is a minimal asyncio HTTP/1.1 client: a general-purpose client (httpx) spends more time
    per request than the server does at this concurrency and would measure itself."""
    host = url.split("://", 1)[1]
    address, port = host.rsplit(":", 1)
    streams = [await asyncio.open_connection(address, int(port)) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0

    async def post(n: int, stream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        nonlocal errors
        text = CONVERSATION[n % len(CONVERSATION)]
        body = json.dumps({"id": uuid.uuid4().hex, "user": f"b{n % 50}", "text": text}).encode("utf-8")
        started = time.perf_counter()
        status = await _post_raw(stream, host, body)
        latencies.append((time.perf_counter() - started) * 1000)
        errors += status != 200

    try:
        await asyncio.gather(*(post(n, s) for n, s in enumerate(streams)))  # warm-up round, not counted
        latencies.clear()
        for _ in range(rounds):
            await asyncio.sleep(0.5)
            await asyncio.gather(*(post(n, s) for n, s in enumerate(streams)))
    finally:
        for _, writer in streams:
            writer.close()
    return {**summary(latencies), "errors": errors, "load_average_1min": round(os.getloadavg()[0], 2)}


async def reply_latency(send: Any, users: int, turns: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    empty = 0

    async def user(n: int) -> None:
        nonlocal empty
        sender = f"bench{uuid.uuid4().hex[:12]}"
        for text in turns:
            started = time.perf_counter()
            replies = await send(sender, text)
            latencies.append((time.perf_counter() - started) * 1000)
            empty += not replies

    await asyncio.gather(*(user(n) for n in range(users)))
    return {**summary(latencies), "no_reply": empty}


async def end_to_end(app_url: str, rasa_url: str, users: int, turns: list[str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=users * 2, max_keepalive_connections=users * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def direct(sender: str, text: str) -> list[Any]:
            response = await client.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
            return list(response.json())

        async def gateway(sender: str, text: str) -> list[Any]:
            response = await client.post(f"{app_url}/api/chat", json={"sender": sender, "text": text})
            return list(response.json().get("messages") or [])

        await reply_latency(direct, 2, turns[:2])  # warm both paths up (models, connections)
        await reply_latency(gateway, 2, turns[:2])
        direct_result = await reply_latency(direct, users, turns)
        gateway_result = await reply_latency(gateway, users, turns)
    ratio = gateway_result["p95_ms"] / direct_result["p95_ms"] if direct_result["p95_ms"] else float("nan")
    return {"direct_rasa": direct_result, "gateway": gateway_result, "p95_ratio": round(ratio, 2)}


def start_rasa(work_dir: Path) -> tuple[Any, str]:
    """Rasa + action server (the model for the current data, or the newest one if training fails)."""
    from tests import rasa_server

    reason = rasa_server.why_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    note = ""
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        model = rasa_server.ensure_model(work_dir).model
    except rasa_server.RasaFailed as error:
        newest = sorted(rasa_server.MODELS_DIR.glob("motcua-[0-9a-f]*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not newest:
            raise
        model = newest[-1]
        note = f"training failed ({str(error).splitlines()[0]}); used {model.name}"
    servers = rasa_server.start_servers(model, work_dir)
    for process in servers.processes:
        lower_priority(process.pid, BOT_NICE)
    return servers, note or model.name


def lower_priority(pid: int, nice: int) -> None:
    """``nice`` for every thread of a running process (Linux; elsewhere nothing), as ``nice -n`` at start."""
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    for tid in threads:
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.setpriority(os.PRIO_PROCESS, tid, nice)


def wait_drained(engine: Any, timeout: float) -> float:
    """Seconds until the inbox has no pending message (the ack rounds answered) before measuring replies."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from core.models import InboxMessageRow

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with Session(engine) as session:
            pending = session.scalar(
                select(func.count()).select_from(InboxMessageRow).where(InboxMessageRow.status == "pending")
            )
        if not pending:
            break
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def table(result: dict[str, Any]) -> str:
    lines = [
        "| measure | n | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = [
        (f"webhook ack, {result['concurrency']} concurrent, Rasa up", result["ack_rasa_up"]),
        (f"webhook ack, {result['concurrency']} concurrent, Rasa down", result["ack_rasa_down"]),
        (f"reply, {result['users']} users, direct Rasa REST", result["end_to_end"]["direct_rasa"]),
        (f"reply, {result['users']} users, through the gateway", result["end_to_end"]["gateway"]),
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |")
    up, down = result["ack_rasa_up"]["p99_ms"], result["ack_rasa_down"]["p99_ms"]
    ratio = result["end_to_end"]["p95_ratio"]
    load_up, load_down = result["ack_rasa_up"]["load_average_1min"], result["ack_rasa_down"]["load_average_1min"]
    lines.append(
        f"\nack p99 (target ≤ 100 ms): Rasa up {up} ms (load {load_up}), Rasa down {down} ms (load {load_down})"
    )
    lines.append(f"reply p95 gateway / direct (target ≤ 2): {ratio}; the {result['rounds']} ack rounds were answered")
    lines.append(f"by the bot in {result['drain_seconds_rasa_up']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=len(CONVERSATION))
    args = parser.parse_args(argv)

    from tests.app_server import closed_port_url, start_app

    work = Path(tempfile.mkdtemp(prefix="motcua-bench-gateway-"))
    try:
        rasa, model_note = start_rasa(work / "rasa")
    except Exception as error:  # no Rasa environment here
        print(f"# gateway benchmark skipped: Rasa unavailable: {error}")
        return 0
    apps = []
    try:
        up = start_app(work / "app-up", rasa_url=rasa.rasa_url, factory="benchmarks.gateway:bench_app")
        apps.append(up)
        down = start_app(work / "app-down", rasa_url=closed_port_url(), factory="benchmarks.gateway:bench_app")
        apps.append(down)
        turns = (CONVERSATION * (args.turns // len(CONVERSATION) + 1))[: args.turns]
        result: dict[str, Any] = {
            "benchmark": "gateway",
            "model": model_note,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "users": args.users,
            "turns_per_user": len(turns),
            # Rasa down first: afterwards the up-app's worker keeps Rasa busy answering the ack rounds.
            "ack_rasa_down": asyncio.run(ack_latency(down.url, args.concurrency, args.rounds)),
            "ack_rasa_up": asyncio.run(ack_latency(up.url, args.concurrency, args.rounds)),
        }
        result["drain_seconds_rasa_up"] = wait_drained(up.engine(), timeout=900)
        result["end_to_end"] = asyncio.run(end_to_end(up.url, rasa.rasa_url, args.users, turns))
    finally:
        for app in apps:
            app.stop()
        rasa.stop()
    print(json.dumps(result, ensure_ascii=False))
    print(table(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
