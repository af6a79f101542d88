"""What the skill actions share: who is talking (channel + user id), the SQL stores (built once from
settings), the conversation id, bot-turn records for the dashboard, and yes/no/skip/stop words."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker
from sqlalchemy import Engine

from core.bot_turns import BotTurnStore, TurnOutcome
from core.clock import Clock, system_clock
from core.complaints import ComplaintService, complaint_service_from_settings
from core.db import get_engine
from core.dossiers import DossierLookup, dossier_lookup_from_settings
from core.feedback import FeedbackService
from core.handoff import HandoffService, handoff_service_from_settings
from core.lockout import Lockout
from core.settings import Settings, get_settings
from knowledge_base.text import fold, nfc

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL = "rest"  # a sender id without "<channel>:" (e.g. someone calling Rasa's REST API directly)
_CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
HUMAN_BUTTON = {"title": "Gặp cán bộ", "payload": "/request_human"}
BUSY_TEXT = (
    "Dạ, hệ thống đang bận nên em chưa xử lý được yêu cầu này. Anh/chị vui lòng thử lại sau ít phút "
    "hoặc gặp cán bộ Bộ phận Một cửa ạ."
)


# --- who is talking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sender:
    channel: str  # zalo | telegram | webchat | rest
    user_id: str  # the platform's user id


def parse_sender(sender_id: str) -> Sender:
    """``"zalo:8464…"`` → Sender("zalo", "8464…"); without a channel prefix the channel is ``rest``."""
    channel, sep, user = (sender_id or "").partition(":")
    if sep and user and _CHANNEL_RE.match(channel):
        return Sender(channel, user)
    return Sender(DEFAULT_CHANNEL, sender_id or "")


def sender_of(tracker: Tracker) -> Sender:
    return parse_sender(tracker.sender_id)


def conversation_id(tracker: Tracker) -> str:
    """The Rasa session this message belongs to: ``<sender id>@<session start, epoch seconds>``."""
    started = 0
    for event in reversed(tracker.events or []):
        if event.get("event") == "session_started":
            started = int(float(event.get("timestamp") or 0))
            break
    return f"{tracker.sender_id[:110]}@{started}"


def message_text(tracker: Tracker) -> str:
    return nfc(str((tracker.latest_message or {}).get("text") or "")).strip()


def intent_of(tracker: Tracker) -> tuple[str, float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def attachments_of(tracker: Tracker) -> list[str]:
    """Image URLs / platform file ids the gateway put in the message metadata ({"attachments": [...]})."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    found = metadata.get("attachments") if isinstance(metadata, dict) else None
    if not isinstance(found, list):
        return []
    out: list[str] = []
    for item in found:
        if isinstance(item, dict):  # {"url": ...} or {"file_id": ...}
            item = item.get("url") or item.get("file_id") or item.get("id")
        if isinstance(item, (str, int)) and str(item).strip():
            out.append(str(item).strip()[:2000])
    return out


# --- words -------------------------------------------------------------------------------------------
def _words(text: str) -> str:
    """Folded, punctuation and polite particles dropped: "Dạ, không ạ!" → "khong"."""
    folded = re.sub(r"[^\w\s/]", " ", fold(text))
    kept = [w for w in folded.split() if w not in {"a", "da", "nhe", "nha", "ne", "oi", "vay", "ah", "ha"}]
    return " ".join(kept)


_YES = {"/affirm", "co", "dong y", "ok", "oke", "okay", "vang", "u", "uh", "um", "duoc", "dung", "gui",
        "xac nhan", "tiep tuc", "yes", "chac chan", "co dong y", "toi dong y", "dong y gui", "gui di",
        "gui phan anh", "tiep", "co chu", "ok gui"}  # fmt: skip
_NO = {"/deny", "khong", "ko", "k", "kg", "khong dong y", "no", "khong can", "khong muon", "toi khong dong y",
       "tu choi", "khong can dau", "thoi khong can"}  # fmt: skip
_SKIP = {"bo qua", "skip", "khong", "ko", "k", "kg", "khong co", "khong muon", "an danh", "-", "/deny",
         "khong de lai", "khong de lai ten", "khong can", "de trong", "gui an danh", "khong co so",
         "khong co so dien thoai", "khong ro", "khong biet"}  # fmt: skip
_STOP = {"huy", "huy bo", "dung", "dung lai", "thoi", "thoi khong gui nua", "khong gui nua", "thoat", "stop",
         "cancel", "/stop", "huy phan anh", "thoi bo qua", "thoi khong", "khong lam nua", "dung lai di",
         "huy di", "thoi di", "ket thuc", "khong tra nua", "thoi khong tra nua"}  # fmt: skip


def is_yes(tracker: Tracker, text: str) -> bool:
    words = _words(text)
    return words in _YES or (words == "" and intent_of(tracker)[0] == "affirm")


def is_no(tracker: Tracker, text: str) -> bool:
    return _words(text) in _NO


def is_skip(text: str) -> bool:
    return _words(text) in _SKIP


_STOP_STRONG = {"huy", "thoi", "dung", "thoat", "cancel", "stop"}
_STOP_TOKENS = _STOP_STRONG | {"bo", "lai", "nhe", "di", "khong", "gui", "nua", "lam", "toi", "em", "minh", "ma", "thi"}
_STOP_MARKERS = (" huy ", " dung lai ", " thoat ", " cancel ", " stop ", " khong gui nua ", " khong tra nua ")


def is_stop(text: str, *, exact: bool = False) -> bool:
    """ "hủy", "thôi, hủy", "dừng lại nhé": the citizen wants to stop. ``exact`` (for free-text answers
    such as a complaint, where "hồ sơ bị hủy" is content): only a whole stop phrase counts."""
    words = _words(text)
    tokens = set(words.split())
    if words in _STOP or (tokens and tokens <= _STOP_TOKENS and tokens & _STOP_STRONG):
        return True
    return not exact and len(tokens) <= 5 and any(m in f" {words} " for m in _STOP_MARKERS)


# --- stores ------------------------------------------------------------------------------------------
@dataclass
class Stores:
    settings: Settings
    engine: Engine
    clock: Clock
    dossiers: DossierLookup
    complaints: ComplaintService
    feedback: FeedbackService
    handoff: HandoffService
    turns: BotTurnStore

    @property
    def lockout(self) -> Lockout:
        return self.dossiers.lockout


def build_stores(
    settings: Settings | None = None, engine: Engine | None = None, *, clock: Clock = system_clock
) -> Stores:
    settings = settings or get_settings()
    engine = engine or get_engine(settings.database_url)
    return Stores(
        settings=settings,
        engine=engine,
        clock=clock,
        dossiers=dossier_lookup_from_settings(settings, engine, clock=clock),
        complaints=complaint_service_from_settings(settings, engine, clock=clock),
        feedback=FeedbackService(engine, clock=clock),
        handoff=handoff_service_from_settings(settings, engine, clock=clock),
        turns=BotTurnStore(engine, clock=clock),
    )


_lock = threading.Lock()
_stores: Stores | None = None


def get_stores() -> Stores:
    """The process-wide stores (from ``get_settings()``), built on first use."""
    global _stores
    if _stores is None:
        with _lock:
            if _stores is None:
                _stores = build_stores()
    return _stores


def use_stores(stores: Stores | None) -> None:
    """Replace the process-wide stores (tests); ``None`` makes the next call build them again."""
    global _stores
    with _lock:
        _stores = stores
        _turn_ids.clear()


# --- bot turns (dashboard) ---------------------------------------------------------------------------
_turn_ids: OrderedDict[tuple[str, float], int] = OrderedDict()  # (sender, user message time) → row id
_MAX_REMEMBERED = 5000


def _user_event_time(tracker: Tracker) -> float | None:
    for event in reversed(tracker.events or []):
        if event.get("event") == "user":
            stamp = event.get("timestamp")
            return float(stamp) if stamp is not None else None
    return None


def record_turn(
    tracker: Tracker,
    outcome: TurnOutcome | str,
    procedure_code: str | None = None,
    *,
    private: bool = False,
) -> None:
    """One dashboard row per citizen message. Several actions may handle one message (a form's
    validation, then the action after the form): the last one's outcome wins. ``private`` hides the
    text (an answer with a name or the last digits of a phone). Never raises: the dashboard must not
    cost the citizen their answer."""
    sender = sender_of(tracker)
    stamp = _user_event_time(tracker)
    key = (tracker.sender_id, stamp) if stamp is not None else None
    intent, confidence = intent_of(tracker)
    text = "(thông tin cá nhân)" if private else message_text(tracker)
    try:
        turns = get_stores().turns
        with _lock:
            known = _turn_ids.get(key) if key else None
        if known is not None:
            turns.set_outcome(known, outcome, procedure_code)
            return
        turn_id = turns.record(
            channel=sender.channel, sender_id=sender.user_id, text=text, intent=intent,
            confidence=confidence, outcome=outcome, procedure_code=procedure_code,
        )  # fmt: skip
        if key:
            with _lock:
                _turn_ids[key] = turn_id
                while len(_turn_ids) > _MAX_REMEMBERED:
                    _turn_ids.popitem(last=False)
    except Exception as exc:  # the database is down: the reply matters more than the statistics
        logger.warning("bot turn not recorded: %s", type(exc).__name__)


def local_time_text(stores: Stores, moment: Any) -> str:
    """ "07:30 ngày 17/03/2025" in the office's time zone."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(stores.settings.timezone))
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def lock_text(stores: Stores, retry_at: Any) -> str:
    """The polite lock message (too many failed verifications)."""
    minutes = stores.settings.lockout_window_minutes
    when = f" Anh/chị có thể thử lại sau {local_time_text(stores, retry_at)}." if retry_at else ""
    return (
        f"Dạ, anh/chị đã nhập thông tin chưa khớp quá {stores.settings.lockout_max_failures} lần trong "
        f"{minutes} phút, nên để bảo vệ thông tin của người dân em tạm dừng tra cứu.{when} Nếu cần gấp, "
        "anh/chị vui lòng mang giấy tiếp nhận đến Bộ phận Một cửa hoặc gặp cán bộ ạ."
    )


def remaining_attempts(stores: Stores, sender: Sender) -> int:
    state = stores.lockout.state(sender.channel, sender.user_id)
    return max(0, stores.lockout.max_failures - state.failures)
