"""What every channel shares: the message shapes that cross the gateway, and the sender interface.

A channel adapter (Zalo, Telegram, webchat) turns a verified webhook into ``IncomingMessage`` values
for ``Gateway.accept`` and implements ``ChannelSender`` to deliver ``OutgoingMessage`` values. The
gateway core (inbox → Rasa or officer → outbox) knows nothing platform-specific.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Button:
    title: str  # what the citizen sees
    payload: str  # what goes back to Rasa when pressed (e.g. '/ask_procedure{"aspect":"fee"}')


@dataclass(frozen=True)
class IncomingMessage:
    channel: str  # "zalo" | "telegram" | "webchat"
    platform_message_id: str  # the platform's own id: duplicates of it are dropped
    sender_id: str  # the platform's user id, without the channel prefix
    kind: str = "text"  # text | button | image | location | follow | unfollow
    text: str = ""  # the text typed, or the payload of the button pressed
    payload: dict[str, object] = field(default_factory=dict)  # image URL/file id, location, event name

    @property
    def rasa_sender(self) -> str:
        """The sender id Rasa sees: ``<channel>:<user id>``."""
        return f"{self.channel}:{self.sender_id}"


@dataclass(frozen=True)
class OutgoingMessage:
    channel: str
    recipient_id: str  # the platform's user id
    text: str = ""
    buttons: tuple[Button, ...] = ()
    image_url: str | None = None
    author: str = "bot"  # bot | officer:<username> | system
    outbox_id: int | None = None  # set by the gateway's dispatcher: the outbox row being delivered


class SendError(Exception):
    """A delivery that failed. ``retryable`` False means retrying cannot help (blocked bot, bad id).

    The message is technical (for logs); ``reason`` says in Vietnamese, for staff, what went wrong and
    what they can do. Neither may quote the message text or other personal data."""

    def __init__(self, message: str, *, retryable: bool = True, reason: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason


class ChannelSender(Protocol):
    channel: str
    max_text_length: int  # the platform's limit for one text message; longer replies are split

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver one message (already split under ``max_text_length``) or raise ``SendError``."""
        ...
