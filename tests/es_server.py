"""A real, throw-away Elasticsearch 8 for the test suite.

Order of preference:
1. ``ELASTICSEARCH_URL`` is set: use that server (nothing is started or stopped).
2. ``mvn`` and a Java 17 (or 21) runtime are available: fetch the integ-test zip of :data:`ES_VERSION` from
   Maven Central with maven-dependency-plugin into ``.cache/elasticsearch/`` (git-ignored), unpack it
   once and run it on 127.0.0.1, on free ports, as a dedicated non-root user when we are root.
3. Neither: the ES tests are skipped — unless ``CI=true`` or ``MOTCUA_REQUIRE_ES=1``, where that is a
   failure (see :func:`es_required`).

Facts about the integ-test zip this module relies on: it bundles no JDK (ES_JAVA_HOME must point to
one), it has no analysis-common module (no asciifolding, synonym, ngram filters; the project folds in
Python anyway) and from about 8.9 ``GET /`` answers 400 so the client's ping() is False: readiness is
``cluster.health(wait_for_status="yellow")``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.local_services import ensure_system_user, free_port

ES_VERSION = "8.19.9"  # newest 8.x integ-test zip on Maven Central when pinned (8.19.10 did not exist)
ES_ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy"
REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache" / "elasticsearch"
ES_USER = "motcua-es"  # Elasticsearch refuses to run as root
START_TIMEOUT = 120.0
HEAP = "-Xms512m -Xmx512m"
JAVA_VERSIONS = (17, 21)  # supported by ES 8.19 and packaged by Debian; 17 preferred


class EsUnavailable(RuntimeError):
    """No way to get a real Elasticsearch here (the reason says what is missing)."""


def es_required(env: Mapping[str, str] | None = None) -> bool:
    """In CI (CI=true) or when MOTCUA_REQUIRE_ES=1, missing Elasticsearch is a failure, not a skip."""
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() == "true" or env.get("MOTCUA_REQUIRE_ES", "").strip() == "1"


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (out.stderr + out.stdout).splitlines():
        if " version " in line and '"' in line:
            version = line.split('"')[1]
            head = version.split(".")[0]
            if head == "1":  # 1.8.0_x
                head = version.split(".")[1]
            return int(head) if head.isdigit() else None
    return None


@functools.lru_cache(maxsize=1)
def find_java_home() -> Path | None:
    """A JDK/JRE home for ES: Java 17 preferred (21 accepted, e.g. Debian 13 has no 17). Looks at
    ES_JAVA_HOME, JAVA_HOME, /usr/lib/jvm/* and java on PATH."""
    candidates: list[Path] = []
    for name in ("ES_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(name):
            candidates.append(Path(os.environ[name]))
    if Path("/usr/lib/jvm").is_dir():
        candidates += sorted(p for p in Path("/usr/lib/jvm").iterdir() if p.is_dir())
    java_on_path = shutil.which("java")
    if java_on_path:
        candidates.append(Path(java_on_path).resolve().parent.parent)
    found: dict[int, Path] = {}
    for home in candidates:
        java = home / "bin" / "java"
        if java.is_file():
            major = _java_major(java)
            if major in JAVA_VERSIONS and major not in found:
                found[major] = home.resolve()
    for major in JAVA_VERSIONS:
        if major in found:
            return found[major]
    return None


def why_unavailable() -> str | None:
    """None when a server can be started here, else what is missing."""
    missing = []
    if shutil.which("mvn") is None and not (CACHE_DIR / f"elasticsearch-{ES_VERSION}.zip").is_file():
        missing.append("maven (mvn)")
    if find_java_home() is None:
        missing.append("Java 17 (or 21)")
    if os.geteuid() == 0 and shutil.which("runuser") is None and shutil.which("su") is None:
        missing.append("runuser/su (ES refuses to run as root)")
    if not missing:
        return None
    return (
        "Elasticsearch tests need ELASTICSEARCH_URL or mvn + Java 17 to start a server; missing: "
        + ", ".join(missing)
        + " (on Debian: apt-get install -y openjdk-17-jre-headless maven)"
    )


def ensure_distribution() -> Path:
    """Download (once) and unpack (once) the integ-test zip; returns the ES home directory."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    home = CACHE_DIR / f"elasticsearch-{ES_VERSION}"
    marker = home / ".unpacked"
    if marker.is_file():
        return home
    archive = CACHE_DIR / f"elasticsearch-{ES_VERSION}.zip"
    if not archive.is_file():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise EsUnavailable("mvn not found: cannot fetch the Elasticsearch integ-test zip")
        cmd = [mvn, "-q", "-B", DEPENDENCY_PLUGIN, f"-Dartifact={ES_ARTIFACT}"]
        cmd.append(f"-DoutputDirectory={CACHE_DIR}")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tempfile.gettempdir())
        if done.returncode != 0 or not archive.is_file():
            raise EsUnavailable(f"mvn could not fetch {ES_ARTIFACT}:\n{(done.stdout + done.stderr)[-3000:]}")
    if home.exists():
        shutil.rmtree(home)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, CACHE_DIR))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)
    for script in (home / "bin").iterdir():  # zipfile may not carry the exec bit
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    marker.write_text(ES_VERSION)
    return home


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for entry in (*dirs, *files):
            os.lchown(os.path.join(root, entry), uid, gid)


@dataclass
class EsServer:
    url: str
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    log_file: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def log_tail(self, chars: int = 4000) -> str:
        parts = []
        for path in (self.log_file, *(sorted(self.workdir.glob("logs/*.log")) if self.workdir else [])):
            if path and path.is_file():
                parts.append(f"--- {path.name} ---\n" + path.read_text(errors="replace")[-chars:])
        return "\n".join(parts) or "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _health(url: str) -> dict[str, object]:
    query = "wait_for_status=yellow&timeout=2s"
    with urllib.request.urlopen(f"{url.rstrip('/')}/_cluster/health?{query}", timeout=10) as response:
        return dict(json.loads(response.read()))


def wait_until_ready(url: str, timeout: float = START_TIMEOUT, server: EsServer | None = None) -> None:
    """Wait for yellow health (ping() is False on the integ-test zip since ~8.9: GET / answers 400)."""
    deadline = time.monotonic() + timeout
    last_error: object = None
    while time.monotonic() < deadline:
        if server is not None and server.process is not None and server.process.poll() is not None:
            code = server.process.returncode
            raise EsUnavailable(f"Elasticsearch exited with code {code}:\n{server.log_tail()}")
        try:
            health = _health(url)
            if health.get("status") in ("yellow", "green"):
                return
            last_error = health
        except (OSError, ValueError) as exc:  # refused while booting; 408/503 until the cluster is up
            last_error = exc
        time.sleep(1.0)
    tail = server.log_tail() if server is not None else ""
    raise EsUnavailable(f"Elasticsearch at {url} not ready after {timeout:.0f}s ({last_error!r})\n{tail}")


def start_server(timeout: float = START_TIMEOUT) -> EsServer:
    """Start a single-node, security-less Elasticsearch on 127.0.0.1 and wait until it is yellow."""
    reason = why_unavailable()
    if reason:
        raise EsUnavailable(reason)
    java_home = find_java_home()
    assert java_home is not None
    home = ensure_distribution()
    workdir = Path(tempfile.mkdtemp(prefix="motcua-es-"))
    data, logs = workdir / "data", workdir / "logs"
    data.mkdir()
    logs.mkdir()
    http_port, transport_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ES_JAVA_HOME": str(java_home),
        "ES_JAVA_OPTS": HEAP,
        "ES_TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
    }
    (workdir / "tmp").mkdir()
    command = [
        str(home / "bin" / "elasticsearch"),
        "-E", "network.host=127.0.0.1",
        "-E", f"http.port={http_port}",
        "-E", f"transport.port={transport_port}",
        "-E", "discovery.type=single-node",
        "-E", "xpack.security.enabled=false",
        "-E", "cluster.routing.allocation.disk.threshold_enabled=false",
        "-E", f"path.data={data}",
        "-E", f"path.logs={logs}",
        "-E", f"cluster.name=motcua-test-{http_port}",
    ]
    if os.geteuid() == 0:
        user = ensure_system_user(ES_USER)
        _chown_tree(home, user.pw_uid, user.pw_gid)
        _chown_tree(workdir, user.pw_uid, user.pw_gid)
        env_args = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), f"HOME={workdir}"]
        if shutil.which("runuser"):
            command = ["runuser", "-u", ES_USER, "--", *env_args, *command]
        else:
            script = " ".join(map(_shell_quote, [*env_args, *command]))
            command = ["su", "-s", "/bin/sh", ES_USER, "-c", script]
    log_file = workdir / "stdout.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            command, env={**env, "HOME": str(workdir)}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(workdir),
        )
    url = f"http://127.0.0.1:{http_port}"
    server = EsServer(url=url, process=process, workdir=workdir, log_file=log_file)
    try:
        wait_until_ready(server.url, timeout=timeout, server=server)
    except EsUnavailable as exc:
        server.stop()
        raise EsUnavailable(f"Elasticsearch {ES_VERSION} did not start: {exc}") from None
    except BaseException:
        server.stop()
        raise
    return server


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":  # python -m tests.es_server: start one by hand and keep it up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop ES on kill, not only on Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    srv = start_server()
    print(srv.url, flush=True)
    try:
        while True:
            signal.pause()
    finally:
        srv.stop()
