"""Telegram sender: ``sendMessage`` (plain text, inline keyboard) through python-telegram-bot's ``Bot``.

Rasa's buttons become one inline button per row (Vietnamese titles are long); ``callback_data`` is a
short key of the payload (connectors/button_keys.py), stored before the message leaves. Errors:
403 (the citizen blocked the bot) and 400 (bad chat, bad text) cannot be helped by retrying; timeouts,
network errors, 429 and 5xx can.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from connectors import button_keys
from connectors.base import Button, OutgoingMessage, SendError

CHANNEL = "telegram"
MAX_TEXT = 4096  # characters of one message
MAX_BUTTON_TEXT = 64  # characters shown on a button (longer titles are shortened)
EMPTY_TEXT_WITH_BUTTONS = "Mời bạn chọn:"
# Why a message did not go, for staff (connectors/outbox.py failure_text).
BLOCKED = "Người dân đã chặn bot hoặc xoá cuộc trò chuyện trên Telegram; cần liên hệ qua kênh khác."
REFUSED = "Telegram từ chối tin nhắn (cuộc trò chuyện không còn hoặc nội dung không hợp lệ)."
RATE_LIMITED = "Telegram tạm giới hạn vì gửi quá nhiều tin trong thời gian ngắn."
UNAVAILABLE = "Không kết nối được Telegram, hoặc máy chủ Telegram báo lỗi (kiểm tra mạng và mã bot)."


def make_bot(token: str, api_base: str) -> Bot:
    """A ``Bot`` talking to ``api_base`` (https://api.telegram.org, or a fake server in tests)."""
    base = api_base.rstrip("/")
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = []
    for button in buttons:
        title = " ".join(button.title.split()) or button.payload
        if len(title) > MAX_BUTTON_TEXT:
            title = title[: MAX_BUTTON_TEXT - 1] + "…"
        rows.append([InlineKeyboardButton(title, callback_data=button_keys.telegram_key(button.payload))])
    return InlineKeyboardMarkup(rows)


class TelegramSender:
    """``ChannelSender`` for Telegram private chats (the recipient id is the chat id)."""

    channel = CHANNEL
    max_text_length = MAX_TEXT

    def __init__(self, bot: Bot, engine: Engine) -> None:
        self.bot = bot
        self._engine = engine

    async def send(self, message: OutgoingMessage) -> None:
        if message.buttons:
            await asyncio.to_thread(self._remember_buttons, message.buttons)
        try:
            if message.image_url:
                await self.bot.send_photo(message.recipient_id, photo=message.image_url)
            text = message.text if message.text.strip() else (EMPTY_TEXT_WITH_BUTTONS if message.buttons else "")
            if text:
                await self.bot.send_message(message.recipient_id, text, reply_markup=keyboard(message.buttons))
        except Forbidden as exc:
            raise SendError(f"telegram: forbidden ({exc.message})", retryable=False, reason=BLOCKED) from exc
        except (BadRequest, ChatMigrated) as exc:
            raise SendError(f"telegram: bad request ({exc.message})", retryable=False, reason=REFUSED) from exc
        except RetryAfter as exc:
            raise SendError(f"telegram: rate limited ({exc.message})", reason=RATE_LIMITED) from exc
        except TelegramError as exc:  # TimedOut, NetworkError (5xx), InvalidToken (misconfiguration)
            raise SendError(f"telegram: {type(exc).__name__} ({exc.message})", reason=UNAVAILABLE) from exc

    def _remember_buttons(self, buttons: tuple[Button, ...]) -> None:
        for button in buttons:
            key = button_keys.telegram_key(button.payload)
            button_keys.remember(self._engine, CHANNEL, key, button.payload, button.title)

    async def aclose(self) -> None:
        await self.bot.shutdown()
