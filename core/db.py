"""Database engine and session factory (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from core.settings import get_settings


class Base(DeclarativeBase):
    """The one metadata every table of the project belongs to."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().database_url)


def session_factory(engine: Engine | None = None) -> sessionmaker:  # type: ignore[type-arg]
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


def create_all(engine: Engine) -> None:
    """Create every table (development and tests; production runs Alembic migrations)."""
    import core.models  # noqa: F401  (registers the tables)

    Base.metadata.create_all(engine)


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Run ``alembic upgrade <revision>`` on ``url`` (default: the configured database).

    A database that ``create_all`` made (tests, or a run before migrations existed) has the tables but no
    ``alembic_version``: its missing tables are created and it is stamped as ``head`` instead, since
    ``create_all`` builds the current models. Uses alembic.ini and migrations/ at the repository root."""
    import logging
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    import core.models  # noqa: F401  (registers the tables)

    url = url or get_settings().database_url
    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    engine = make_engine(url)
    try:
        existing = set(inspect(engine).get_table_names())
        if "alembic_version" not in existing and existing & set(Base.metadata.tables):
            logging.getLogger(__name__).warning("database without alembic_version: create_all + stamp head")
            Base.metadata.create_all(engine)
            command.stamp(config, "head")
            return
    finally:
        engine.dispose()
    command.upgrade(config, revision)
