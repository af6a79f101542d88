"""Alembic ``upgrade head`` on an empty database creates exactly what ``create_all`` creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import core.models
from core.db import Base, create_all, make_engine, migrate
from tests import pg_server


def schema(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    tables = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        indexes = inspector.get_indexes(table)
        fks = inspector.get_foreign_keys(table)
        tables[table] = {
            "columns": {c["name"]: (type(c["type"]).__name__, c["nullable"]) for c in inspector.get_columns(table)},
            "pk": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in indexes),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in fks),
        }
    return tables


def test_migrations_match_create_all(store_url: str, request: pytest.FixtureRequest) -> None:
    migrate(store_url)
    migrated = make_engine(store_url)
    if store_url.startswith("sqlite"):
        reference_url = store_url.replace("stores.db", "reference.db")
    else:
        reference_url = pg_server.create_database(request.getfixturevalue("postgres_server").url)
    reference = make_engine(reference_url)
    try:
        create_all(reference)
        assert set(schema(migrated)) == set(Base.metadata.tables)  # every table, procedures included
        assert schema(migrated) == schema(reference)
        with migrated.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], diff
        migrate(store_url)  # a second upgrade is a no-op
    finally:
        migrated.dispose()
        reference.dispose()
        if not store_url.startswith("sqlite"):
            pg_server.drop_database(request.getfixturevalue("postgres_server").url, reference_url)


def test_migrate_adopts_a_database_made_by_create_all(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        from sqlalchemy import text

        core.models.ProcedureRow.__table__.create(engine)  # type: ignore[attr-defined]  # a catalogue-only database
        migrate(url)
        migrate(url)
        assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
        with engine.connect() as conn:
            head = ScriptDirectory(str(Path(__file__).resolve().parent.parent / "migrations")).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    finally:
        engine.dispose()


def test_upgrade_keeps_queued_outbox_rows(tmp_path: Any) -> None:
    """0003 adds the outbox's ``chunks_sent`` and ``kind`` to a database that already has queued rows."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'queued.db'}"
    migrate(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox_messages (channel, recipient_id, author, text, buttons, status, attempts,"
                    " last_error, created_at, next_attempt_at) VALUES ('zalo', 'u1', 'bot', 'Chào anh', '[]',"
                    " 'pending', 0, '', '2025-01-02 03:04:05', '2025-01-02 03:04:05')"
                )
            )
        migrate(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, chunks_sent, kind FROM outbox_messages")).one()
        assert tuple(row) == ("pending", 0, "")
    finally:
        engine.dispose()
