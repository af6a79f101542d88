"""The real application served by uvicorn on a free 127.0.0.1 port, against a temporary data directory.

Shared by the gateway, webchat, browser, back-office and channel tests::

    from tests.app_server import app_server

    with app_server(tmp_path, rasa_url=rasa.rasa_url, env={"TELEGRAM_BOT_TOKEN": "123:abc"}) as app:
        httpx.get(f"{app.url}/health")
        with Session(app.engine()) as session: ...   # the same database the app uses

The app runs in its own process (``uvicorn motcua.app:create_app --factory``) with a clean channel
environment: every ZALO_*/TELEGRAM_* variable is removed unless given in ``env``. ``rasa_url`` defaults
to a closed port (Rasa down). The database is SQLite in the data directory unless ``database_url`` is
given (e.g. the ``postgres_url`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tests.local_services import free_port

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = float(os.environ.get("MOTCUA_APP_START_TIMEOUT", "180"))
_CHANNEL_PREFIXES = ("ZALO_", "TELEGRAM_")


class AppFailed(RuntimeError):
    """The app did not start (the log tail is in the message)."""


def closed_port_url() -> str:
    """A URL nothing listens on (a stopped Rasa)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class AppServer:
    url: str  # http://127.0.0.1:<port>
    data_dir: Path
    database_url: str
    log: Path
    process: subprocess.Popen[bytes]
    _engines: list[Engine] = field(default_factory=list)

    def engine(self) -> Engine:
        """An engine on the app's database (disposed by ``stop``)."""
        from core.db import make_engine

        engine = make_engine(self.database_url)
        self._engines.append(engine)
        return engine

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def app_env(data_dir: Path, *, rasa_url: str, database_url: str, env: dict[str, str] | None = None) -> dict[str, str]:
    result = {k: v for k, v in os.environ.items() if not k.startswith(_CHANNEL_PREFIXES)}
    for name in ("DATABASE_URL", "ELASTICSEARCH_URL"):
        result.pop(name, None)
    result.update(
        {
            "MOTCUA_DATA_DIR": str(data_dir),
            "MOTCUA_DATABASE_URL": database_url,
            "MOTCUA_SEARCH": "sqlite",
            "RASA_URL": rasa_url,
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONPATH": str(REPO) + (os.pathsep + result["PYTHONPATH"] if result.get("PYTHONPATH") else ""),
        }
    )
    result.update(env or {})
    return result


def start_app(
    data_dir: Path,
    *,
    rasa_url: str | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
    factory: str = "motcua.app:create_app",
) -> AppServer:
    """Start the app and wait until ``GET /health`` answers; raises ``AppFailed`` with the log otherwise.

    ``factory``: the app factory uvicorn calls (the gateway benchmark adds a test channel to the app)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = database_url or f"sqlite:///{data_dir / 'motcua.db'}"
    port = free_port()
    log = data_dir / f"app-{port}.log"
    command = [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    environment = app_env(data_dir, rasa_url=rasa_url or closed_port_url(), database_url=database_url, env=env)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", data_dir, database_url, log, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AppFailed(f"the app exited with {process.returncode}; log:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=3) as response:
                if json.loads(response.read().decode("utf-8")).get("status") == "ok":
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError):
            pass
        time.sleep(0.2)
    server.stop()
    raise AppFailed(f"the app did not answer /health within {timeout:.0f}s; log:\n{server.log_tail()}")


@contextmanager
def app_server(
    data_dir: Path,
    *,
    rasa_url: str | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[AppServer]:
    server = start_app(data_dir, rasa_url=rasa_url, database_url=database_url, env=env)
    try:
        yield server
    finally:
        server.stop()


# --- a real Rasa + action server for the channel tests ---------------------------------------------


@dataclass
class RealRasa:
    servers: Any  # tests.rasa_server.Servers
    model: Path
    work_dir: Path

    @property
    def url(self) -> str:
        return str(self.servers.rasa_url)


def start_real_rasa(work_dir: Path) -> RealRasa:
    """Rasa and the action server, or a skip (a failure under CI=true / MOTCUA_REQUIRE_RASA=1).

    The model is the one for the current training data (trained if missing). Outside CI, when that
    training fails (training data being edited), the newest model in models/ is used with a warning."""
    import pytest

    from tests import rasa_server

    reason = rasa_server.why_unavailable()
    if reason is not None:
        if rasa_server.rasa_required():
            pytest.fail(f"Rasa is required here (CI=true or MOTCUA_REQUIRE_RASA=1): {reason}", pytrace=False)
        pytest.skip(f"RASA TESTS SKIPPED: {reason}")
    try:
        model = rasa_server.ensure_model(work_dir).model
    except rasa_server.RasaFailed as error:
        newest = sorted(rasa_server.MODELS_DIR.glob("motcua-[0-9a-f]*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if rasa_server.rasa_required() or not newest:
            pytest.fail(str(error), pytrace=False)
        model = newest[-1]
        warnings.warn(f"training failed, testing with the newest model {model.name}: {error}", stacklevel=1)
    try:
        servers = rasa_server.start_servers(model, work_dir)
    except rasa_server.RasaFailed as error:
        pytest.fail(str(error), pytrace=False)
    return RealRasa(servers, model, work_dir)
