"""Every SQL table of the project, defined once (actions, gateway and back office import these)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ProcedureRow(Base):
    """A procedure of the catalogue (thủ tục hành chính), stored as its validated JSON document."""

    __tablename__ = "procedures"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # mã thủ tục
    name: Mapped[str] = mapped_column(Text)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    official: Mapped[bool] = mapped_column(Boolean, default=False)  # refreshed from a portal import
    document: Mapped[dict] = mapped_column(JSON)  # knowledge_base.model.Procedure as JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
