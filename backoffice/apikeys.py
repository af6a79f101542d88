"""API keys of source systems (one-stop-shop software pushing dossier statuses); only SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.auth import AccountError
from core.clock import as_utc
from core.models import ApiKeyRow

KEY_PREFIX = "mck_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str, *, now: datetime) -> str:
    """Register a source system and return its key (shown once; the caller commits)."""
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise AccountError("Tên hệ thống chỉ gồm chữ không dấu, chữ số và . _ - (tối đa 64 ký tự).")
    if session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == name)) is not None:
        raise AccountError(f"Đã có khóa API tên “{name}”.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKeyRow(name=name, key_hash=hash_key(key), created_at=as_utc(now)))
    session.flush()
    return key


def revoke_api_key(session: Session, name: str, *, now: datetime) -> bool:
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None)))
    if row is None:
        return False
    row.revoked_at = as_utc(now)
    return True


def check_api_key(session: Session, key: str, *, now: datetime) -> str | None:
    """The name of the source system owning this (unrevoked) key, else None; records its last use."""
    if not key or len(key) > 256:
        return None
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key), ApiKeyRow.revoked_at.is_(None)))
    if row is None:
        return None
    row.last_used_at = as_utc(now)
    return row.name
