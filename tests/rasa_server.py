"""A real Rasa 3.6 server and the real action server, for end-to-end tests (@pytest.mark.rasa).

- The model is trained once with ``.venv-rasa/bin/rasa train`` into ``models/`` under the same name
  ``scripts/run.sh`` uses (``motcua-<sha1 of config.yml, domain.yml, nlu_data/**/*.yml, bot/**/*.py,
  knowledge_base/text.py>``), so a model trained by ``make run`` is reused here and the other way round,
  and a change to the tokenizer or the text normalisation trains a new one.
- Both servers listen on free ports on 127.0.0.1; Rasa gets a generated endpoints file pointing at
  the action server and a SQLite tracker store under a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.local_services import free_port

REPO = Path(__file__).resolve().parents[1]
RASA_VENV = REPO / ".venv-rasa"
RASA_BIN = RASA_VENV / "bin" / "rasa"
APP_PYTHON = Path(sys.executable)
MODELS_DIR = Path(os.environ.get("MOTCUA_MODELS_DIR", str(REPO / "models")))
TRAIN_TIMEOUT = float(os.environ.get("MOTCUA_RASA_TRAIN_TIMEOUT", "2400"))
START_TIMEOUT = float(os.environ.get("MOTCUA_RASA_START_TIMEOUT", "600"))


class RasaUnavailable(RuntimeError):
    """The Rasa environment or project is missing (a skip, unless required)."""


class RasaFailed(RuntimeError):
    """Training or a server failed (always a failure)."""


def rasa_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MOTCUA_REQUIRE_RASA") == "1"


def why_unavailable() -> str | None:
    if not RASA_BIN.exists():
        return f"{RASA_BIN.relative_to(REPO)} not found (run `make setup-rasa`)"
    for name in ("config.yml", "domain.yml"):
        if not (REPO / name).exists():
            return f"{name} not found in the repository root"
    if not (REPO / "nlu_data").is_dir():
        return "nlu_data/ not found"
    return None


def training_files() -> list[Path]:
    """What shapes the model (training data, and the code that makes features of a message), in the order
    scripts/run.sh hashes it."""
    return [
        REPO / "config.yml",
        REPO / "domain.yml",
        *sorted((REPO / "nlu_data").rglob("*.yml")),
        *sorted((REPO / "bot").rglob("*.py")),
        REPO / "knowledge_base" / "text.py",
    ]


def model_stamp() -> str:
    digest = hashlib.sha1()
    for path in training_files():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONPATH": str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            "MOTCUA_DATA_DIR": str(data_dir),
            "SANIC_HOST": "127.0.0.1",  # rasa_sdk binds to $SANIC_HOST
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    env.pop("RASA_TRACKER_DB_URL", None)
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class TrainResult:
    model: Path
    seconds: float  # 0 when an existing model was reused
    reused: bool


def ensure_model(log_dir: Path) -> TrainResult:
    """The model for the current training data: reused when its stamp matches, trained otherwise."""
    stamp = model_stamp()
    name = f"motcua-{stamp}"
    model = MODELS_DIR / f"{name}.tar.gz"
    if model.exists():
        return TrainResult(model, 0.0, True)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    log = log_dir / "rasa-train.log"
    command = [
        str(RASA_BIN), "train", "--data", "nlu_data", "--config", "config.yml", "--domain", "domain.yml",
        "--out", str(MODELS_DIR), "--fixed-model-name", name,
    ]
    started = time.monotonic()
    with log.open("wb") as out:
        try:
            done = subprocess.run(command, cwd=REPO, env=_env(log_dir / "data"), stdout=out,
                                  stderr=subprocess.STDOUT, timeout=TRAIN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RasaFailed(f"rasa train took more than {TRAIN_TIMEOUT:.0f}s; log:\n{_tail(log)}") from exc
    if done.returncode != 0 or not model.exists():
        raise RasaFailed(f"rasa train failed (exit {done.returncode}); log {log}:\n{_tail(log)}")
    return TrainResult(model, time.monotonic() - started, False)


def write_endpoints(path: Path, action_port: int, tracker_db: Path) -> Path:
    path.write_text(
        "action_endpoint:\n"
        f'  url: "http://127.0.0.1:{action_port}/webhook"\n'
        "tracker_store:\n"
        "  type: SQL\n"
        "  dialect: sqlite\n"
        f'  db: "{tracker_db}"\n',
        encoding="utf-8",
    )
    return path


def _get_json(url: str, timeout: float = 5.0) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8") or "{}")


@dataclass
class Servers:
    rasa_url: str
    action_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)
    start_seconds: dict[str, float] = field(default_factory=dict)

    def send(
        self, sender: str, message: str, timeout: float = 60.0, metadata: dict[str, object] | None = None
    ) -> list[dict[str, object]]:
        """POST /webhooks/rest/webhook; the bot's messages as the citizen receives them."""
        payload: dict[str, object] = {"sender": sender, "message": message}
        if metadata is not None:
            payload["metadata"] = metadata
        body = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return list(json.loads(response.read().decode("utf-8")))

    def parse(self, text: str) -> dict[str, object]:
        body = json.dumps({"text": text}).encode("utf-8")
        request = urllib.request.Request(f"{self.rasa_url}/model/parse", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read().decode("utf-8")))

    def log_tails(self) -> str:
        return "\n".join(f"--- {name} ({path}) ---\n{_tail(path)}" for name, path in self.logs.items())

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait(check_url: str, ready: object, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RasaFailed(f"{process.args!r} exited with {process.returncode}; log:\n{_tail(log)}")
        try:
            if callable(ready) and ready(_get_json(check_url, timeout=3)):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError):
            pass
        time.sleep(0.5)
    raise RasaFailed(f"{check_url} not ready after {timeout:.0f}s; log:\n{_tail(log)}")


def start_servers(model: Path, work_dir: Path, extra_env: dict[str, str] | None = None) -> Servers:
    """Action server, then Rasa (which calls it); both ready on return. Stops both on failure.
    ``extra_env`` adds settings for both (e.g. MOTCUA_DATABASE_URL, MOTCUA_OFFICER_HOURS)."""
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**_env(data_dir), **(extra_env or {})}
    action_port, rasa_port = free_port(), free_port()
    while rasa_port == action_port:
        rasa_port = free_port()
    servers = Servers(rasa_url=f"http://127.0.0.1:{rasa_port}", action_url=f"http://127.0.0.1:{action_port}")
    try:
        log = servers.logs.setdefault("action server", work_dir / "action-server.log")
        started = time.monotonic()
        with log.open("wb") as out:
            servers.processes.append(subprocess.Popen(
                [str(APP_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            ))
        _wait(f"{servers.action_url}/health", lambda body: body.get("status") == "ok",
              servers.processes[-1], log, START_TIMEOUT)
        servers.start_seconds["action server"] = time.monotonic() - started

        endpoints = write_endpoints(work_dir / "endpoints.yml", action_port, data_dir / "rasa_tracker.db")
        log = servers.logs.setdefault("rasa", work_dir / "rasa-server.log")
        started = time.monotonic()
        command = [str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(rasa_port),
                   "--model", str(model), "--endpoints", str(endpoints)]
        if (REPO / "credentials.yml").exists():
            command += ["--credentials", str(REPO / "credentials.yml")]
        with log.open("wb") as out:
            servers.processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                                      stderr=subprocess.STDOUT))
        _wait(f"{servers.rasa_url}/status", lambda body: bool(body.get("model_id") or body.get("model_file")),
              servers.processes[-1], log, START_TIMEOUT)
        servers.start_seconds["rasa"] = time.monotonic() - started
    except BaseException:
        servers.stop()
        raise
    return servers


# --- stopping and restarting Rasa on the same port (gateway tests: "Rasa down, then back") -------


def stop_rasa(servers: Servers) -> None:
    """Stop the Rasa server only (the action server keeps running)."""
    process = servers.processes[-1]
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def restart_rasa(servers: Servers, model: Path, work_dir: Path) -> None:
    """Start Rasa again on the port it had, with the same endpoints (tracker store) file."""
    port = servers.rasa_url.rsplit(":", 1)[-1]
    log = servers.logs["rasa"]
    command = [str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "-p", port, "--model", str(model),
               "--endpoints", str(work_dir / "endpoints.yml")]  # fmt: skip
    if (REPO / "credentials.yml").exists():
        command += ["--credentials", str(REPO / "credentials.yml")]
    with log.open("ab") as out:
        servers.processes[-1] = subprocess.Popen(command, cwd=REPO, env=_env(work_dir / "data"), stdout=out,
                                                 stderr=subprocess.STDOUT)  # fmt: skip
    _wait(f"{servers.rasa_url}/status", lambda body: bool(body.get("model_id") or body.get("model_file")),
          servers.processes[-1], log, START_TIMEOUT)  # fmt: skip
