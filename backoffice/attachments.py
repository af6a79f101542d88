"""Files citizens attached to a complaint or sent during a conversation, opened by staff.

Zalo images are links to Zalo's servers and open directly; a Telegram photo is recorded as its
``file_id``: ``GET /admin/complaints/<code>/attachments/<n>`` and, for a photo in a handoff transcript,
``GET /admin/handoffs/<id>/messages/<message id>/attachments/<n>`` serve the copy downloaded into the
data directory (connectors/telegram_files.py), fetching it from Telegram first when the early download
failed. The bot token never reaches the page: the browser only sees these URLs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, StaffUser, require_role
from backoffice.complaints import is_link, visible_complaint
from backoffice.handoff import viewable_conversation
from backoffice.handoff_inbox import message_attachments
from backoffice.state import get_state
from backoffice.web import PageNotFound, staff_router, templates
from connectors.telegram_files import (
    IMAGE_TYPES,
    FileUnavailable,
    TelegramFiles,
    attachments_dir,
    looks_like_file_id,
    media_type,
    stored_copy,
)

router = staff_router(tags=["back office: attachments"])
templates.env.globals["telegram_file_id"] = looks_like_file_id  # complaints/detail.html links these
templates.env.globals["is_link"] = is_link  # … and handoff_transcript.html
Staff = Annotated[StaffUser, Depends(require_role(OFFICER, SUPERVISOR, ADMIN))]

NOT_FOUND = "Không tìm thấy tệp đính kèm này."
NOT_YET = "Chưa tải được ảnh từ Telegram (máy chủ Telegram chưa phản hồi). Anh/chị vui lòng thử lại sau ít phút."


@router.get("/complaints/{code}/attachments/{index}")
async def complaint_attachment(request: Request, code: str, index: int, user: Staff) -> FileResponse:
    row = await run_in_threadpool(visible_complaint, request, user, code)
    items = [str(item) for item in row.attachments or []]
    if not 0 <= index < len(items) or row.channel != "telegram":
        raise PageNotFound(NOT_FOUND)
    return await _telegram_file(request, items[index], f"{row.code}-{index + 1}")


@router.get("/handoffs/{conversation_id}/messages/{message_id}/attachments/{index}")
async def transcript_attachment(
    request: Request, conversation_id: int, message_id: int, index: int, user: Staff
) -> FileResponse:
    """A photo the citizen sent during the conversation (officers: only conversations they may read)."""
    state = get_state(request)
    conversation = await run_in_threadpool(viewable_conversation, state, user, conversation_id)
    items = await run_in_threadpool(message_attachments, state.engine, conversation, message_id)
    if not 0 <= index < len(items) or conversation.channel != "telegram":
        raise PageNotFound(NOT_FOUND)
    return await _telegram_file(request, items[index], f"hoi-thoai-{conversation_id}-{message_id}-{index + 1}")


async def _telegram_file(request: Request, file_id: str, filename_stem: str) -> FileResponse:
    """The stored copy of a Telegram file (downloaded now if it is not there yet), served privately."""
    if not looks_like_file_id(file_id):
        raise PageNotFound(NOT_FOUND)
    files: TelegramFiles | None = getattr(request.app.state, "telegram_files", None)
    if files is None:  # Telegram switched off since: only what was downloaded before
        path = stored_copy(attachments_dir(get_state(request).settings.data_dir), file_id)
        if path is None:
            raise PageNotFound(NOT_YET)
    else:
        try:
            path = await files.fetch(file_id)
        except FileUnavailable as exc:
            raise PageNotFound(NOT_YET) from exc
    inline = path.suffix in IMAGE_TYPES
    return FileResponse(
        path,
        media_type=media_type(path),
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename_stem}{path.suffix}"',
            "Cache-Control": "private, no-store",
        },
    )
