"""Files citizens attached to a complaint that staff open through the back office.

Zalo images are links to Zalo's servers and open directly; a Telegram photo is recorded as its
``file_id``: ``GET /admin/complaints/<code>/attachments/<n>`` serves the copy downloaded into the data
directory (connectors/telegram_files.py), fetching it from Telegram first when the early download failed.
The bot token never reaches the page: the browser only sees this URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, StaffUser, require_role
from backoffice.complaints import visible_complaint
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
Staff = Annotated[StaffUser, Depends(require_role(OFFICER, SUPERVISOR, ADMIN))]

NOT_FOUND = "Không tìm thấy tệp đính kèm này."
NOT_YET = "Chưa tải được ảnh từ Telegram (máy chủ Telegram chưa phản hồi). Anh/chị vui lòng thử lại sau ít phút."


@router.get("/complaints/{code}/attachments/{index}")
async def complaint_attachment(request: Request, code: str, index: int, user: Staff) -> FileResponse:
    row = await run_in_threadpool(visible_complaint, request, user, code)
    items = [str(item) for item in row.attachments or []]
    if not 0 <= index < len(items) or row.channel != "telegram" or not looks_like_file_id(items[index]):
        raise PageNotFound(NOT_FOUND)
    file_id = items[index]
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
    filename = f"{row.code}-{index + 1}{path.suffix}"
    return FileResponse(
        path,
        media_type=media_type(path),
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
