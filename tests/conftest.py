"""Shared pytest fixtures. Each section is self-contained; add new sections below, do not merge them."""

from __future__ import annotations

# --- Elasticsearch: a real server for @pytest.mark.elasticsearch tests ---------------------------
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests import es_server

_ES_STATUS: list[str] = []  # what happened to the ES server, for the terminal summary


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """URL of a real Elasticsearch 8: $ELASTICSEARCH_URL, else one started here (mvn + Java 17).

    Skips loudly when neither is possible; fails instead when CI=true or MOTCUA_REQUIRE_ES=1."""
    url = os.environ.get("ELASTICSEARCH_URL", "").strip()
    if url:
        try:
            es_server.wait_until_ready(url, timeout=60)
        except es_server.EsUnavailable as exc:
            pytest.fail(f"ELASTICSEARCH_URL={url} is not usable: {exc}", pytrace=False)
        _ES_STATUS.append(f"Elasticsearch: using ELASTICSEARCH_URL={url}")
        yield url
        return
    reason = es_server.why_unavailable()
    server = None
    if reason is None:
        try:
            server = es_server.start_server()
        except es_server.EsUnavailable as exc:
            reason = f"could not start Elasticsearch {es_server.ES_VERSION}: {exc}"
    if server is None:
        _ES_STATUS.append(f"ELASTICSEARCH TESTS NOT RUN: {reason}")
        if es_server.es_required():
            message = f"Elasticsearch is required here (CI=true or MOTCUA_REQUIRE_ES=1): {reason}"
            pytest.fail(message, pytrace=False)
        pytest.skip(f"ELASTICSEARCH TESTS SKIPPED: {reason}")
    _ES_STATUS.append(f"Elasticsearch {es_server.ES_VERSION} started at {server.url}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Where ES is required, an Elasticsearch test that ends up skipped (for whatever reason) fails."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("elasticsearch") is not None
        and es_server.es_required()
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: Elasticsearch test was skipped but CI=true or MOTCUA_REQUIRE_ES=1 requires it "
            f"to run. Skip reason: {report.longrepr}"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _ES_STATUS:
        terminalreporter.write_line(line, yellow="NOT RUN" in line, bold="NOT RUN" in line)


# --- end Elasticsearch -------------------------------------------------------------------------


# --- PostgreSQL: a real server for the store tests (tests/test_stores_*.py) ----------------------
# Fixtures: ``postgres_server`` (session: PgServer we started, or ExternalPg from
# MOTCUA_TEST_POSTGRES_URL), ``postgres_url`` (a fresh empty database per test) and ``store_url``
# (parametrised: every store test runs on SQLite and on PostgreSQL). Without PostgreSQL the
# PostgreSQL cases skip with a warning in the summary; under CI=true or MOTCUA_REQUIRE_PG=1 they fail.
import subprocess as _pg_subprocess  # noqa: E402
import warnings as _pg_warnings  # noqa: E402
from pathlib import Path as _PgPath  # noqa: E402

from tests import pg_server  # noqa: E402


class PostgresNotTested(UserWarning):
    """PostgreSQL store tests were skipped (no server here)."""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg_server.PgServer | pg_server.ExternalPg]:
    url = os.environ.get("MOTCUA_TEST_POSTGRES_URL", "").strip()
    if url:
        try:
            pg_server.wait_until_ready(url)
        except pg_server.PgUnavailable as exc:
            pytest.fail(f"MOTCUA_TEST_POSTGRES_URL is not usable: {exc}", pytrace=False)
        yield pg_server.ExternalPg(url)
        return
    reason = pg_server.why_unavailable()
    server = None
    if reason is None:
        try:
            server = pg_server.start_server()
        except (pg_server.PgUnavailable, OSError, _pg_subprocess.SubprocessError) as exc:
            reason = f"could not start PostgreSQL: {exc}"
    if server is None:
        if pg_server.pg_required():
            pytest.fail(f"PostgreSQL is required here (CI=true or MOTCUA_REQUIRE_PG=1): {reason}", pytrace=False)
        _pg_warnings.warn(PostgresNotTested(f"POSTGRESQL STORE TESTS SKIPPED: {reason}"), stacklevel=1)
        pytest.skip(f"POSTGRESQL TESTS SKIPPED: {reason}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture()
def postgres_url(postgres_server: pg_server.PgServer | pg_server.ExternalPg) -> Iterator[str]:
    url = pg_server.create_database(postgres_server.url)
    try:
        yield url
    finally:
        from core.db import get_engine

        get_engine.cache_clear()
        pg_server.drop_database(postgres_server.url, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: _PgPath) -> str:
    """A URL of an empty database, once SQLite (a file) and once PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stores.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def engine(store_url: str) -> Iterator[Engine]:
    """An engine on an empty database with every table, once SQLite and once PostgreSQL."""
    from core.db import create_all, make_engine

    engine = make_engine(store_url)
    create_all(engine)
    yield engine
    engine.dispose()


# --- end PostgreSQL ----------------------------------------------------------------------------
