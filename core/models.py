"""Every SQL table of the project, defined once (actions, gateway and back office import these)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import as_utc
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


# --- shared stores: dossiers, verification, notifications, complaints, feedback, handoff ----------
# Every timestamp below is an aware UTC datetime (UtcDateTime); calendar days (ngày hẹn trả, hạn trả
# lời) are plain dates in the office's time zone.


class UtcDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that refuses naive input and always gives aware UTC back (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else as_utc(value)


class DossierRow(Base):
    """A dossier (hồ sơ) in the built-in registry, used when no provincial system is connected."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # mã hồ sơ, as printed on the receipt
    procedure_code: Mapped[str] = mapped_column(String(32), index=True)  # mã thủ tục
    procedure_name: Mapped[str] = mapped_column(Text, default="")
    applicant_name: Mapped[str] = mapped_column(Text)  # never shown in full to a chat user
    applicant_phone: Mapped[str] = mapped_column(String(20))  # E.164; its last 4 digits verify a lookup
    applicant_id_number: Mapped[str | None] = mapped_column(String(20), nullable=True)  # số CCCD, never shown
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)  # ngày tiếp nhận
    appointment_date: Mapped[date] = mapped_column(Date)  # ngày hẹn trả
    status: Mapped[str] = mapped_column(String(32))  # core.dossiers.DossierStatus
    status_note: Mapped[str] = mapped_column(Text, default="")  # e.g. what to supplement
    current_unit: Mapped[str] = mapped_column(Text, default="")  # đơn vị đang xử lý
    result_text: Mapped[str] = mapped_column(Text, default="")  # kết quả giải quyết
    pickup_info: Mapped[str] = mapped_column(Text, default="")  # nơi / cách nhận kết quả
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # ngày trả kết quả
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[DossierEventRow]] = relationship(
        back_populates="dossier", order_by="DossierEventRow.id", cascade="all, delete-orphan"
    )


class DossierEventRow(Base):
    """One status change of a dossier (lịch sử xử lý)."""

    __tablename__ = "dossier_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    dossier: Mapped[DossierRow] = relationship(back_populates="history")


class VerificationAttemptRow(Base):
    """A lookup that needed a verification factor (last 4 phone digits); failures feed the lockout."""

    __tablename__ = "verification_attempts"
    __table_args__ = (Index("ix_verification_attempts_sender", "channel", "sender_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(32))  # "dossier" | "complaint"
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class DossierSubscriptionRow(Base):
    """A citizen who asked to be told when a dossier's status changes (per sender and channel)."""

    __tablename__ = "dossier_subscriptions"
    __table_args__ = (UniqueConstraint("dossier_code", "channel", "sender_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class NotificationRow(Base):
    """Outbox of messages for the gateway to send (pending -> sent | failed)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "dossier_status"
    text: Mapped[str] = mapped_column(Text)  # the message as the citizen will read it (no personal data)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ComplaintCounterRow(Base):
    """Last number handed out per year for PA-<year>-<6 digits> (row-locked while incremented)."""

    __tablename__ = "complaint_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ComplaintRow(Base):
    """A complaint or petition (phản ánh, kiến nghị)."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # PA-2025-000123
    content: Mapped[str] = mapped_column(Text)  # exactly as typed (NFC), at most 5,000 characters
    place: Mapped[str] = mapped_column(Text, default="")  # nơi xảy ra
    agency: Mapped[str] = mapped_column(Text, default="")  # cơ quan bị phản ánh
    procedure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    category: Mapped[str] = mapped_column(String(32))  # suggested from the text, officers may change it
    name: Mapped[str | None] = mapped_column(Text, nullable=True)  # only with consent
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164, only with consent
    consent: Mapped[bool] = mapped_column(Boolean, default=False)  # Nghị định 13/2023/NĐ-CP
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128), index=True)
    attachments: Mapped[list] = mapped_column(JSON, default=list)  # image URLs or platform file ids
    status: Mapped[str] = mapped_column(String(32))  # core.complaints.ComplaintStatus
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_date: Mapped[date] = mapped_column(Date)  # hạn trả lời
    reply_text: Mapped[str] = mapped_column(Text, default="")
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    assigned_agency: Mapped[str | None] = mapped_column(String(64), nullable=True)  # agency code handling it
    priority: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")  # low|normal|high
    outcome: Mapped[str] = mapped_column(Text, default="", server_default="")  # kết quả xử lý, when closed
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[ComplaintEventRow]] = relationship(
        back_populates="complaint", order_by="ComplaintEventRow.id", cascade="all, delete-orphan"
    )


class ComplaintEventRow(Base):
    """One step in a complaint's life (status change, assignment, reply)."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128), default="")  # officer, or "citizen"/"system"
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    complaint: Mapped[ComplaintRow] = relationship(back_populates="history")


class FeedbackRow(Base):
    """Satisfaction feedback, the three levels of Nghị định 61/2018/NĐ-CP."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))  # rat_hai_long | hai_long | khong_hai_long
    comment: Mapped[str] = mapped_column(Text, default="")
    procedure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    flow: Mapped[str] = mapped_column(String(32), default="")  # what was rated: procedure, dossier, ...
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FeedbackPromptRow(Base):
    """A conversation in which the citizen was already asked for feedback (ask once)."""

    __tablename__ = "feedback_prompts"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConversationRow(Base):
    """A citizen's conversation on one channel: with the bot, waiting for an officer, or with one."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_sender", "channel", "sender_id", "status"),
        # at most one open conversation per sender and channel
        Index(
            "uq_conversations_open",
            "channel",
            "sender_id",
            unique=True,
            sqlite_where=sql_text("status != 'closed'"),
            postgresql_where=sql_text("status != 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="bot")  # bot | waiting | with_officer | closed
    assigned_officer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    last_message_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    handoffs: Mapped[list[HandoffRow]] = relationship(back_populates="conversation", order_by="HandoffRow.id")


class HandoffRow(Base):
    """A request to talk to an officer (chuyển cán bộ), from request to return to the bot."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    officer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    conversation: Mapped[ConversationRow] = relationship(back_populates="handoffs")


# --- Channel gateway (connectors/) -------------------------------------------------------------------


class InboxMessageRow(Base):
    """A message received from a channel, stored before it is acknowledged (durable inbox).

    Keyed by the platform's own message id so a redelivered webhook is dropped. The worker passes
    ``pending`` rows to Rasa (or to the officer's inbox when the conversation is handed off)."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("channel", "platform_message_id", name="uq_inbox_platform_id"),
        Index("ix_inbox_status", "status", "next_attempt_at", "id"),
        Index("ix_inbox_sender", "channel", "sender_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))  # zalo | telegram | webchat
    platform_message_id: Mapped[str] = mapped_column(String(128))
    sender_id: Mapped[str] = mapped_column(String(128))  # the platform's user id (no channel prefix)
    kind: Mapped[str] = mapped_column(String(32), default="text")  # text | button | image | location | follow
    text: Mapped[str] = mapped_column(Text, default="")  # or the button payload sent to Rasa
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # image URL / file id, location, raw event name
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | officer | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OutboxMessageRow(Base):
    """A message to send to a citizen through a channel (bot replies, officer replies, notifications)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_status", "status", "next_attempt_at", "id"),
        Index("ix_outbox_recipient", "channel", "recipient_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[str] = mapped_column(String(128))  # the platform's user id
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_messages.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(128), default="bot")  # bot | officer:<username> | system
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list] = mapped_column(JSON, default=list)  # [{"title": ..., "payload": ...}]
    image_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed | dismissed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")  # for staff: Vietnamese reason, no personal data
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # parts of a split long text already delivered (a restart goes on from the next part)
    chunks_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "" for chat messages; a notification's kind (dossier_status, complaint_reply…) for notifications
    kind: Mapped[str] = mapped_column(String(32), default="", server_default="")


class ChannelTokenRow(Base):
    """The current OAuth token pair of a channel (Zalo's refresh tokens are single-use: replace atomically)."""

    __tablename__ = "channel_tokens"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class CallbackKeyRow(Base):
    """A short key standing for a long button payload (Telegram's callback_data holds 64 bytes)."""

    __tablename__ = "callback_keys"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChatMessageRow(Base):
    """The transcript: every message in and out of a conversation, as the citizen and staff saw it.

    Written by the gateway (citizen and bot messages) and the back office (officer replies). The widget's
    history, the officer's transcript view and the dashboard's message counts read it."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_sender", "channel", "sender_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(128))  # the citizen's platform user id
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    author: Mapped[str] = mapped_column(String(128), default="citizen")  # citizen | bot | officer:<username>
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list] = mapped_column(JSON, default=list)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


# --- Back office (backoffice/) -----------------------------------------------------------------------


class StaffUserRow(Base):
    """An officer (cán bộ), supervisor or admin of the back office. Passwords are argon2 hashes."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # officer | supervisor | admin
    agency: Mapped[str | None] = mapped_column(String(64), nullable=True)  # agency code
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class StaffSessionRow(Base):
    """A logged-in staff session; the cookie holds the token, the table only its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAttemptRow(Base):
    """A failed or successful staff login, for throttling (per username and per client address)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_user", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditLogRow(Base):
    """Who did what, when, to which record (staff actions; visible to admins)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))  # e.g. complaint.assign, user.create, catalogue.import
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # never personal data of citizens
    client: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKeyRow(Base):
    """An API key of a source system (one-stop-shop software) pushing dossier statuses; stored hashed."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the key
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ComplaintNoteRow(Base):
    """An internal note of staff on a complaint (never shown to the citizen)."""

    __tablename__ = "complaint_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BotTurnRow(Base):
    """One citizen message as the bot understood it (written by the action server), for the dashboard:
    % understood, questions without an answer, top asked procedures."""

    __tablename__ = "bot_turns"
    __table_args__ = (Index("ix_bot_turns_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), default="")
    sender_id: Mapped[str] = mapped_column(String(128), default="")
    text: Mapped[str] = mapped_column(Text, default="")  # as typed (phone numbers/CCCD masked before storing)
    intent: Mapped[str] = mapped_column(String(64), default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(16), default="answered")  # answered | not_found | fallback
    procedure_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
