"""Dossier registry admin (/admin/dossiers): list and search, CSV upload of statuses (supervisors, admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, StaffUser, require_role
from backoffice.dossier_updates import MAX_CSV_BYTES, import_csv
from backoffice.state import client_address, db, get_state
from backoffice.web import PAGE_SIZE, make_pager, page_number, render, staff_router
from core.clock import local_date
from core.dossiers import STATUS_LABELS, DossierStatus, SqlDossierRegistry, normalize_code
from core.models import DossierRow
from knowledge_base.text import nfc

router = staff_router(tags=["back office: dossiers"])
OPEN_STATUSES = (DossierStatus.RECEIVED.value, DossierStatus.PROCESSING.value)


@router.get("/dossiers", response_class=HTMLResponse)
def dossiers(
    request: Request,
    user: Annotated[StaffUser, Depends(require_role(OFFICER, SUPERVISOR, ADMIN))],
    session: Annotated[Session, Depends(db)],
    q: str = "",
    status: str = "",
    page: str = "",
) -> HTMLResponse:
    number = page_number(page)
    stmt = select(DossierRow).order_by(DossierRow.received_at.desc(), DossierRow.id.desc())
    text = nfc(q).strip()[:200]
    if text:
        stmt = stmt.where(
            or_(
                DossierRow.code.contains(normalize_code(text), autoescape=True),
                DossierRow.procedure_code == text,
                DossierRow.applicant_name.contains(text, autoescape=True),
            )
        )
    if status in {s.value for s in DossierStatus}:
        stmt = stmt.where(DossierRow.status == status)
    rows = list(session.scalars(stmt.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    state = get_state(request)
    today = local_date(state.clock(), state.settings.timezone)
    items = [(row, row.status in OPEN_STATUSES and today > row.appointment_date) for row in rows[:PAGE_SIZE]]
    return render(
        request,
        "dossiers/list.html",
        title="Hồ sơ",
        items=items,
        q=q,
        status=status,
        statuses={s.value: STATUS_LABELS[s.value] for s in DossierStatus},
        can_upload=user.role in (SUPERVISOR, ADMIN),
        max_mb=MAX_CSV_BYTES // (1024 * 1024),
        pager=make_pager(request, number, len(rows) > PAGE_SIZE),
    )


@router.post("/dossiers/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    user: Annotated[StaffUser, Depends(require_role(SUPERVISOR, ADMIN))],
    session: Annotated[Session, Depends(db)],
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    state = get_state(request)
    data = await file.read(MAX_CSV_BYTES + 1) if file is not None else b""
    registry = SqlDossierRegistry(state.engine, clock=state.clock, tz=state.settings.timezone)
    report = import_csv(registry, data, tz=state.settings.timezone)
    detail = {
        "file": (file.filename or "")[:100] if file else "",
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": len(report.errors),
        "notified": report.notified,
    }
    audit.record(session, user, "dossier.csv_upload", "dossier", "", detail, client_address(request), at=state.clock())
    session.commit()
    status_code = 200 if report.applied or not report.errors else 400
    return render(
        request, "dossiers/upload_report.html", status_code, title="Kết quả tải lên", report=report
    )  # fmt: skip
