"""The catalogue as the action server sees it: one instance per process, built on first use."""

from __future__ import annotations

import threading

from knowledge_base.catalogue import Catalogue

_lock = threading.Lock()
_catalogue: Catalogue | None = None


def get_catalogue() -> Catalogue:
    """The process-wide catalogue (store + search index under MOTCUA_DATA_DIR), loaded lazily."""
    global _catalogue
    if _catalogue is None:
        with _lock:
            if _catalogue is None:
                _catalogue = Catalogue.from_settings()
    return _catalogue


def use_catalogue(catalogue: Catalogue | None) -> None:
    """Replace the process-wide catalogue (tests); ``None`` makes the next call load it again."""
    global _catalogue
    with _lock:
        _catalogue = catalogue
