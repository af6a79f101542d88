"""Photos citizens send on Telegram, copied into the data directory (``<data dir>/attachments/telegram``).

An update carries only a ``file_id``. The gateway keeps that id as the message's attachment (it is what a
complaint records), and right after the webhook (or poller) has stored the message a background task
resolves it with ``getFile`` and downloads the file here, named by a hash of the id. Staff open it through
the back office (``/admin/complaints/<code>/attachments/<n>``), which fetches it then if the early
download failed. The download URL contains the bot token (python-telegram-bot's ``File.file_path`` is
that URL): it is used only in memory, never logged, stored or shown.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
OTHER = ".bin"
RETRY_SECONDS = (2.0, 10.0)  # pauses between the background attempts (then: on demand only)


class FileUnavailable(Exception):
    """The file could not be fetched now (Telegram unreachable, file too large or gone)."""


_FILE_ID = re.compile(r"[A-Za-z0-9_-]{6,256}")


def looks_like_file_id(value: str) -> bool:
    """A Telegram file_id (URL-safe base64), not a link or text someone typed."""
    return bool(_FILE_ID.fullmatch(value or ""))


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments" / "telegram"


def stored_stem(file_id: str) -> str:
    """The local name of a file id (no id, token or path of Telegram's in the name)."""
    return hashlib.sha256(file_id.encode("utf-8")).hexdigest()[:40]


def stored_copy(directory: Path, file_id: str) -> Path | None:
    """The downloaded copy of ``file_id`` in ``directory``, if there is one."""
    if not directory.is_dir():
        return None
    return next(iter(sorted(directory.glob(f"{stored_stem(file_id)}.*"))), None)


def media_type(path: Path) -> str:
    return IMAGE_TYPES.get(path.suffix, "application/octet-stream")


class TelegramFiles:
    def __init__(self, bot: Bot, directory: Path, *, retry_seconds: tuple[float, ...] = RETRY_SECONDS) -> None:
        self.bot = bot
        self.directory = directory
        self.retry_seconds = retry_seconds

    def stored(self, file_id: str) -> Path | None:
        return stored_copy(self.directory, file_id)

    async def fetch(self, file_id: str) -> Path:
        """The local copy of ``file_id``, downloaded now if missing; raises ``FileUnavailable``."""
        found = await asyncio.to_thread(self.stored, file_id)
        if found is not None:
            return found
        try:
            remote = await self.bot.get_file(file_id)
            if remote.file_size and remote.file_size > MAX_BYTES:
                raise FileUnavailable(f"the file is too large ({remote.file_size} bytes)")
            suffix = PurePosixPath(remote.file_path or "").suffix.lower()
            data = bytes(await remote.download_as_bytearray())
        except TelegramError as exc:  # a network error may quote the URL, which holds the token
            message = exc.message.replace(self.bot.token, "<token>")
            raise FileUnavailable(f"{type(exc).__name__}: {message}") from exc
        except (OSError, RuntimeError) as exc:
            raise FileUnavailable(type(exc).__name__) from exc
        if len(data) > MAX_BYTES:
            raise FileUnavailable(f"the file is too large ({len(data)} bytes)")
        name = stored_stem(file_id) + (suffix if suffix in IMAGE_TYPES else OTHER)
        return await asyncio.to_thread(self._write, name, data)

    def _write(self, name: str, data: bytes) -> Path:
        """Write atomically (a reader never sees half a file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    async def fetch_in_background(self, file_ids: list[str]) -> None:
        """Download ``file_ids`` (a background task: a few attempts, then left for on-demand fetching)."""
        for file_id in file_ids:
            for attempt, pause in enumerate((0.0, *self.retry_seconds)):
                await asyncio.sleep(pause)
                try:
                    await self.fetch(file_id)
                    break
                except FileUnavailable as exc:
                    final = attempt == len(self.retry_seconds)
                    log.warning("telegram: photo not downloaded%s (%s)", "; kept for later" if final else "", exc)
