"""Catalogue admin (/admin/catalogue, admins only): browse and search procedures, view one, upload a
portal export to import (background job with progress and the import report), rebuild the search index.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backoffice import audit
from backoffice.auth import ADMIN, StaffUser, require_role
from backoffice.catalogue_admin_jobs import (
    MAX_UPLOAD_BYTES,
    CatalogueJob,
    CatalogueJobs,
    JobBusy,
    JobHook,
    UploadRefused,
)
from backoffice.state import BackofficeState, client_address, db, get_state
from backoffice.web import PAGE_SIZE, BadRequest, PageNotFound, make_pager, page_number, redirect, render, staff_router
from core.models import ProcedureRow
from knowledge_base.catalogue import Catalogue
from knowledge_base.search import EmptyQueryError

router = staff_router(tags=["back office: catalogue"])
Admin = Annotated[StaffUser, Depends(require_role(ADMIN))]
Db = Annotated[Session, Depends(db)]
SEARCH_TOP = 30
CHUNK = 1024 * 1024

NOTICES = {"busy": JobBusy().args[0]}


class CatalogueUnavailable(PageNotFound):
    def __init__(self) -> None:
        super().__init__("Danh mục thủ tục chưa sẵn sàng (ứng dụng đang khởi động). Vui lòng thử lại sau ít giây.")


def _catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue | None = getattr(request.app.state, "catalogue", None)
    if catalogue is None:
        raise CatalogueUnavailable()
    return catalogue


def jobs_of(request: Request) -> CatalogueJobs:
    """The app's catalogue jobs (made on first use)."""
    jobs: CatalogueJobs | None = getattr(request.app.state, "catalogue_jobs", None)
    if jobs is None:
        state = get_state(request)
        jobs = CatalogueJobs(state.settings.data_dir / "uploads", clock=state.clock)
        request.app.state.catalogue_jobs = jobs
    return jobs


def _audit_hook(state: BackofficeState, client: str, start_detail: dict[str, object]) -> JobHook:
    """The job's audit entries, written from its thread: when it starts, and what it did when it ends."""

    def hook(job: CatalogueJob, event: str) -> None:
        action = f"catalogue.{job.kind}" if event == "started" else f"catalogue.{job.kind}_finished"
        detail: dict[str, object] = dict(start_detail)
        if event == "finished":
            detail = {"state": job.state, **({"file": job.filename} if job.filename else {})}
            if job.report:
                detail.update({k: job.report[k] for k in ("read", "imported", "updated", "unchanged", "skipped")})
            if job.indexed is not None:
                detail["indexed"] = job.indexed
        with state.sessions() as session:
            audit.record(session, job.actor, action, "catalogue_job", job.id, detail, client)
            session.commit()

    return hook


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, user: Admin, session: Db, q: str = "", page: str = "") -> Response:
    catalogue = _catalogue(request)
    query = q.strip()[:500]
    number = page_number(page)
    rows: list[ProcedureRow] = []
    hits = []
    pager = None
    if query:
        exact = session.get(ProcedureRow, query)
        try:
            hits = catalogue.search(query, SEARCH_TOP)
        except EmptyQueryError:
            hits = []
        if exact is not None and all(hit.code != exact.code for hit in hits):
            rows = [exact]
        if not hits and exact is None:  # words the search drops (too common): plain name match
            like = f"%{query}%"
            rows = list(
                session.scalars(
                    select(ProcedureRow)
                    .where(or_(ProcedureRow.name.ilike(like), ProcedureRow.code.ilike(like)))
                    .order_by(ProcedureRow.code)
                    .limit(SEARCH_TOP)
                )
            )
    else:
        rows = list(
            session.scalars(
                select(ProcedureRow).order_by(ProcedureRow.code).offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
            )
        )
        pager = make_pager(request, number, len(rows) > PAGE_SIZE)
        rows = rows[:PAGE_SIZE]
    hit_rows = (
        {
            row.code: row
            for row in session.scalars(select(ProcedureRow).where(ProcedureRow.code.in_([h.code for h in hits])))
        }
        if hits
        else {}
    )
    total = int(session.scalar(select(func.count()).select_from(ProcedureRow)) or 0)
    jobs = jobs_of(request).list()
    return render(
        request,
        "catalogue_list.html",
        title="Danh mục thủ tục",
        q=query,
        hits=[(hit, hit_rows.get(hit.code)) for hit in hits],
        rows=rows,
        pager=pager,
        total=total,
        indexed=catalogue.searcher.backend.count(),
        backend=get_state(request).settings.search_backend,
        threshold=catalogue.searcher.not_found_threshold,
        jobs=jobs[:5],
        busy=any(job.running for job in jobs),
        max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        error=NOTICES.get(request.query_params.get("error", ""), ""),
    )


@router.get("/catalogue/procedures/{code}", response_class=HTMLResponse)
def procedure_page(request: Request, code: str, user: Admin, session: Db) -> Response:
    procedure = _catalogue(request).get(code.strip())
    row = session.get(ProcedureRow, code.strip())
    if procedure is None or row is None:
        raise PageNotFound(f"Không có thủ tục mã “{code[:40]}” trong danh mục.")
    return render(request, "catalogue_procedure.html", title=procedure.name, procedure=procedure, row=row)


@router.post("/catalogue/import")
async def upload(request: Request, user: Admin, file: Annotated[UploadFile, File()]) -> Response:
    catalogue = _catalogue(request)
    jobs = jobs_of(request)
    if jobs.busy():
        return redirect("/admin/catalogue", error="busy")
    filename = (file.filename or "").strip()
    try:
        path, _ = jobs.new_upload_path(filename)
    except UploadRefused as exc:
        raise BadRequest(str(exc)) from None
    size = 0
    with path.open("wb") as out:
        while chunk := await file.read(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                jobs.discard(path)
                raise BadRequest(f"Tệp lớn hơn {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; vui lòng tách thành nhiều tệp.")
            out.write(chunk)
    if size == 0:
        jobs.discard(path)
        raise BadRequest("Tệp tải lên đang trống.")
    state = get_state(request)
    hook = _audit_hook(state, client_address(request), {"file": filename, "bytes": size})
    try:
        job = jobs.start_import(catalogue, path, filename=filename, actor=user.username, hook=hook)
    except JobBusy:
        jobs.discard(path)
        return redirect("/admin/catalogue", error="busy")
    return redirect(f"/admin/catalogue/jobs/{job.id}")


@router.post("/catalogue/reindex")
def reindex(request: Request, user: Admin) -> Response:
    catalogue = _catalogue(request)
    state = get_state(request)
    hook = _audit_hook(state, client_address(request), {"backend": state.settings.search_backend})
    try:
        job = jobs_of(request).start_reindex(catalogue, actor=user.username, hook=hook)
    except JobBusy:
        return redirect("/admin/catalogue", error="busy")
    return redirect(f"/admin/catalogue/jobs/{job.id}")


def _job(request: Request, job_id: int) -> CatalogueJob:
    job = jobs_of(request).get(job_id)
    if job is None:
        raise PageNotFound("Không tìm thấy tác vụ này (danh sách tác vụ được làm mới khi khởi động lại ứng dụng).")
    return job


@router.get("/catalogue/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, user: Admin) -> Response:
    job = _job(request, job_id)
    return render(request, "catalogue_job.html", title="Tác vụ danh mục", job=job)


@router.get("/catalogue/jobs/{job_id}/status")
def job_status(request: Request, job_id: int, user: Admin) -> JSONResponse:
    return JSONResponse(_job(request, job_id).to_dict(), headers={"Cache-Control": "no-store"})
