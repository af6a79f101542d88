"""A real, throw-away PostgreSQL for the store tests.

Order of preference:
1. ``MOTCUA_TEST_POSTGRES_URL`` is set (``postgresql+psycopg://user:pw@127.0.0.1:5432/db``): use that
   server; each test gets its own database, created and dropped here (the user needs CREATEDB).
2. Debian's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin``: initdb, pg_ctl) are installed:
   start a cluster in a temporary directory on a free port of 127.0.0.1, as the non-root user
   ``motcua-pg`` (created with useradd) when we are root, and delete it afterwards.
3. Neither: PostgreSQL tests are skipped, loudly — unless ``CI=true`` or ``MOTCUA_REQUIRE_PG=1``,
   where that is a failure (see :func:`pg_required`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.local_services import ensure_system_user, free_port

PG_USER = "motcua-pg"  # initdb and postgres refuse to run as root
START_TIMEOUT = 60


class PgUnavailable(RuntimeError):
    """No way to get a real PostgreSQL here (the reason says what is missing)."""


def pg_required(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() == "true" or env.get("MOTCUA_REQUIRE_PG", "").strip() == "1"


def find_bin_dir() -> Path | None:
    """Newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""
    candidates = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            version = re.match(r"\d+", bin_dir.parent.name)
            candidates.append((int(version.group(0)) if version else 0, bin_dir))
    return max(candidates)[1] if candidates else None


def why_unavailable() -> str | None:
    if find_bin_dir() is None:
        return (
            "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (apt-get install -y postgresql) and "
            "MOTCUA_TEST_POSTGRES_URL is not set"
        )
    return None


@dataclass
class PgServer:
    """A cluster this module started: it can be stopped, started and restarted (``controllable``)."""

    bin_dir: Path
    workdir: Path
    port: int
    uid: int | None = None
    gid: int | None = None
    controllable: bool = True

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        return self.workdir / "postgres.log"

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.uid is not None:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
            env=env, cwd=self.workdir, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.is_file() else "(no log)"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )
        out = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "start")
        if out.returncode != 0:
            raise PgUnavailable(f"pg_ctl start failed: {out.stderr.strip()}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class ExternalPg:
    """A server given by MOTCUA_TEST_POSTGRES_URL: used, never stopped or restarted."""

    url: str
    controllable: bool = False

    def destroy(self) -> None:
        pass


def start_server() -> PgServer:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PgUnavailable(why_unavailable() or "no PostgreSQL")
    workdir = Path(tempfile.mkdtemp(prefix="motcua-pg-"))
    server = PgServer(bin_dir=bin_dir, workdir=workdir, port=free_port())
    if os.geteuid() == 0:
        user = ensure_system_user(PG_USER)
        server.uid, server.gid = user.pw_uid, user.pw_gid
        os.chown(workdir, user.pw_uid, user.pw_gid)
    workdir.chmod(0o700)
    init = server._run(
        "initdb", "-D", str(server.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--locale=C.UTF-8", "--no-sync",
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise PgUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    try:
        server.start()
    except PgUnavailable:
        server.destroy()
        raise
    return server


def wait_until_ready(url: str, timeout: float = 30) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PgUnavailable(f"{url} does not accept connections: {exc}") from exc
            time.sleep(0.3)


def create_database(admin_url: str) -> str:
    """A new empty database on the server of ``admin_url``; returns its URL."""
    import psycopg

    name = f"motcua_test_{uuid.uuid4().hex[:12]}"
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with contextlib.suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
