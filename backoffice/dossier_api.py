"""``POST /api/dossiers/status``: a one-stop-shop system pushes dossier status changes (header X-API-Key).

Body: one update ``{"code": ..., "status": ..., "note"?, "unit"?, "result_text"?, "pickup_info"?,
"appointment_date"?, "at"?}`` or ``{"items": [...]}`` (at most 500). Answer: one result per item
(``ok`` with ``outcome`` created|updated|unchanged and ``notified``, or ``error``). Subscribed citizens
are notified of every change. Status 401 without a valid key; 400 for a body that is not JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.apikeys import check_api_key
from backoffice.dossier_updates import UpdateError, apply_update, parse_update
from backoffice.state import client_address, db, get_state
from core.dossiers import SqlDossierRegistry

MAX_ITEMS = 500
MAX_BODY_BYTES = 2 * 1024 * 1024

router = APIRouter(prefix="/api/dossiers", tags=["dossier registry API"])


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.post("/status")
async def push_status(
    request: Request,
    session: Annotated[Session, Depends(db)],
    x_api_key: Annotated[str, Header()] = "",
) -> JSONResponse:
    state = get_state(request)
    source = check_api_key(session, x_api_key, now=state.clock())
    if source is None:
        return _error(401, "Thiếu hoặc sai khóa API (header X-API-Key).")
    session.commit()  # last_used_at
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "Nội dung gửi lên quá lớn.")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Nội dung không phải JSON hợp lệ.")
    single = isinstance(data, dict) and "items" not in data
    items = [data] if single else (data.get("items") if isinstance(data, dict) else data)
    if not isinstance(items, list) or not items:
        return _error(400, 'Cần một đối tượng cập nhật hoặc {"items": [...]} không rỗng.')
    if len(items) > MAX_ITEMS:
        return _error(413, f"Tối đa {MAX_ITEMS} cập nhật mỗi lần gửi.")
    registry = SqlDossierRegistry(state.engine, clock=state.clock, tz=state.settings.timezone)
    results: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            results.append({"ok": False, "error": "Mỗi cập nhật phải là một đối tượng JSON."})
            continue
        try:
            applied = apply_update(registry, parse_update(item, tz=state.settings.timezone))
        except UpdateError as exc:
            results.append({"ok": False, "code": str(item.get("code", "")), "error": str(exc)})
            continue
        results.append({"ok": True, "code": applied.code, "outcome": applied.outcome, "notified": applied.notified})
        if applied.outcome != "unchanged":
            detail = {"status": str(item.get("status", "")), "outcome": applied.outcome}
            audit.record(session, f"api:{source}", "dossier.status", "dossier", applied.code, detail,
                         client_address(request), at=state.clock())  # fmt: skip
    session.commit()
    failed = sum(1 for r in results if not r["ok"])
    if single:
        return JSONResponse(results[0], status_code=200 if results[0]["ok"] else 422)
    return JSONResponse({"results": results, "failed": failed}, status_code=200)
