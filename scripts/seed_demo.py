"""Bring the configured database to the latest schema and add the demo dossiers (idempotent).

Used by ``make run``:  .venv/bin/python scripts/seed_demo.py
Database from MOTCUA_DATABASE_URL / DATABASE_URL, else $MOTCUA_DATA_DIR/motcua.db.
"""

from __future__ import annotations

from core.db import make_engine, migrate
from core.demo import DEMO_DOSSIERS, seed_demo_dossiers
from core.settings import get_settings


def main() -> None:
    settings = get_settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        added = seed_demo_dossiers(engine, tz=settings.timezone)
    finally:
        engine.dispose()
    print(f"demo dossiers: {len(added)} added, {len(DEMO_DOSSIERS) - len(added)} already there")
    for demo in DEMO_DOSSIERS:
        print(f"  {demo.code:<28} last 4 phone digits {demo.phone[-4:]}  ({demo.procedure_name})")


if __name__ == "__main__":
    main()
