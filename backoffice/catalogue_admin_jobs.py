"""Catalogue jobs of the back office: import an uploaded portal export, rebuild the search index.

A job runs in a background thread (the page polls its progress); one job at a time per process,
since both rewrite the same index. Jobs live in memory: after a restart the list starts empty, but
what an import wrote is in the database and the audit log.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from core.clock import Clock, system_clock
from knowledge_base.catalogue import Catalogue
from knowledge_base.importer import run_import
from knowledge_base.importer.readers import UnsupportedFormat, detect_format
from knowledge_base.importer.report import ImportReport
from knowledge_base.model import Procedure
from knowledge_base.store import CatalogueStore, UpsertOutcome
from knowledge_base.text import fold

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".tar.gz", ".tgz", ".jsonl.gz", ".jsonl", ".json", ".xlsx")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
KEEP_JOBS = 20

JobState = Literal["queued", "importing", "indexing", "done", "failed"]
STATE_LABELS: dict[str, str] = {
    "queued": "đang chờ",
    "importing": "đang nhập dữ liệu",
    "indexing": "đang lập chỉ mục tìm kiếm",
    "done": "hoàn tất",
    "failed": "thất bại",
}


class UploadRefused(ValueError):
    """An upload that cannot be imported; ``str(exc)`` is a Vietnamese sentence for the admin."""


class JobBusy(RuntimeError):
    """Another catalogue job is running."""

    def __init__(self) -> None:
        super().__init__("Đang có một tác vụ danh mục khác chạy; vui lòng chờ tác vụ đó xong rồi thử lại.")


def upload_suffix(filename: str) -> str:
    """The importer format of an uploaded file name, or UploadRefused."""
    name = (filename or "").strip().lower()
    for suffix in UPLOAD_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise UploadRefused(
        "Định dạng tệp không được hỗ trợ. Vui lòng tải lên tệp .tar.gz, .jsonl, .jsonl.gz, .json hoặc .xlsx "
        "xuất từ Cổng dịch vụ công (không tải lên được cả thư mục: hãy nén thành .tar.gz)."
    )


def safe_filename(filename: str, suffix: str) -> str:
    """An ASCII file name that keeps the original's look (``Danh sách TTHC.xlsx`` → ``danh-sach-tthc.xlsx``)."""
    stem = Path(filename or "").name[: -len(suffix)] if filename else ""
    slug = re.sub(r"[^a-z0-9._-]+", "-", fold(stem)).strip("-.")[:80]
    return (slug or "upload") + suffix


@dataclass
class CatalogueJob:
    id: int
    kind: Literal["import", "reindex"]
    actor: str
    filename: str = ""  # as uploaded (shown to the admin)
    state: JobState = "queued"
    processed: int = 0  # records written to the store so far
    total: int | None = None  # records expected, when the format tells cheaply
    indexed: int | None = None
    report: dict[str, Any] | None = None  # ImportReport.to_dict()
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    path: Path | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Until its thread is completely done (the "finished" hook included)."""
        return self.finished_at is None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def percent(self) -> int | None:
        if self.state == "done":
            return 100
        if self.total:
            return min(99, round(100 * self.processed / self.total))
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "state_label": self.state_label,
            "running": self.running,
            "filename": self.filename,
            "processed": self.processed,
            "total": self.total,
            "percent": self.percent,
            "indexed": self.indexed,
            "error": self.error,
            "report": self.report,
        }


class _CountingSink:
    """The store, counting what it writes (the job's progress)."""

    def __init__(self, store: CatalogueStore, job: CatalogueJob) -> None:
        self.store = store
        self.job = job

    def upsert_official(self, procedure: Procedure, *, partial: bool = False) -> UpsertOutcome:
        outcome = self.store.upsert_official(procedure, partial=partial)
        self.job.processed += 1
        return outcome

    def upsert_official_many(self, items: Sequence[tuple[Procedure, bool]]) -> list[UpsertOutcome]:
        many = getattr(self.store, "upsert_official_many", None)
        if many is None:
            return [self.upsert_official(procedure, partial=partial) for procedure, partial in items]
        outcomes: list[UpsertOutcome] = many(items)
        self.job.processed += len(items)
        return outcomes


def count_records(path: Path) -> int | None:
    """How many records the file holds, when that is cheap to know (JSON Lines, JSON); else None."""
    try:
        kind = detect_format(path)
        if kind in ("jsonl", "jsonl.gz"):
            opener: Callable[..., Any] = gzip.open if kind == "jsonl.gz" else open
            with opener(path, "rb") as fh:
                return sum(1 for line in fh if line.strip())
        if kind == "json" and path.stat().st_size <= 64 * 1024 * 1024:
            data = json.loads(path.read_bytes().decode("utf-8-sig"))
            return len(data) if isinstance(data, list) else 1
    except (OSError, ValueError, EOFError):
        return None
    return None


JobHook = Callable[[CatalogueJob, str], None]  # called in the job's thread with "started", then "finished"


class CatalogueJobs:
    """The jobs of this process (newest first) and the one background worker thread at a time."""

    def __init__(self, upload_dir: Path, *, clock: Clock = system_clock) -> None:
        self.upload_dir = upload_dir
        self.clock = clock
        self._jobs: list[CatalogueJob] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def list(self) -> list[CatalogueJob]:
        with self._lock:
            return list(self._jobs)

    def get(self, job_id: int) -> CatalogueJob | None:
        with self._lock:
            return next((job for job in self._jobs if job.id == job_id), None)

    def busy(self) -> bool:
        with self._lock:
            return any(job.running for job in self._jobs)

    def new_upload_path(self, filename: str) -> tuple[Path, str]:
        """Where to write an upload (a fresh folder per upload) and its format suffix.

        The folder holding the file is named ``data``: the importer files a lone .json record under its
        folder's name as the ministry, and ``data`` is the name it ignores."""
        suffix = upload_suffix(filename)
        folder = self.upload_dir / f"upload-{self.clock():%Y%m%d-%H%M%S}-{next(self._ids)}" / "data"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / safe_filename(filename, suffix), suffix

    def discard(self, path: Path) -> None:
        shutil.rmtree(path.parent.parent, ignore_errors=True)

    def start_import(
        self, catalogue: Catalogue, path: Path, *, filename: str, actor: str, hook: JobHook | None = None
    ) -> CatalogueJob:
        job = CatalogueJob(id=next(self._ids), kind="import", actor=actor, filename=filename, path=path)
        self._start(job, lambda: self._run_import(catalogue, job), hook)
        return job

    def start_reindex(self, catalogue: Catalogue, *, actor: str, hook: JobHook | None = None) -> CatalogueJob:
        job = CatalogueJob(id=next(self._ids), kind="reindex", actor=actor)
        self._start(job, lambda: self._run_reindex(catalogue, job), hook)
        return job

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current job's thread ends (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- internals -------------------------------------------------------------------------------

    def _start(self, job: CatalogueJob, work: Callable[[], None], hook: JobHook | None) -> None:
        with self._lock:
            if any(existing.running for existing in self._jobs):
                raise JobBusy()
            self._jobs.insert(0, job)
            del self._jobs[KEEP_JOBS:]
            job.started_at = self.clock()
            self._thread = threading.Thread(
                target=self._run, args=(job, work, hook), name=f"catalogue-job-{job.id}", daemon=True
            )
            self._thread.start()

    def _run(self, job: CatalogueJob, work: Callable[[], None], hook: JobHook | None) -> None:
        try:
            self._call(hook, job, "started")
            work()
            job.state = "done"
        except (UnsupportedFormat, FileNotFoundError) as exc:
            job.error = f"Không đọc được tệp: {exc}"
            job.state = "failed"
        except Exception as exc:  # the page must show the failure, never a dead job
            log.exception("catalogue job %s failed", job.id)
            job.error = f"Tác vụ gặp lỗi ({type(exc).__name__}); chi tiết trong nhật ký máy chủ."
            job.state = "failed"
        finally:
            if job.path is not None:
                self.discard(job.path)
            self._call(hook, job, "finished")
            job.finished_at = self.clock()

    @staticmethod
    def _call(hook: JobHook | None, job: CatalogueJob, event: str) -> None:
        if hook is None:
            return
        try:
            hook(job, event)
        except Exception:  # an audit failure must not kill the import
            log.exception("catalogue job %s: %s hook failed", job.id, event)

    def _run_import(self, catalogue: Catalogue, job: CatalogueJob) -> None:
        assert job.path is not None
        job.total = count_records(job.path)
        job.state = "importing"
        report: ImportReport = run_import(job.path, _CountingSink(catalogue.store, job), progress=False)
        job.report = json.loads(json.dumps(report.to_dict()).replace(json.dumps(str(job.path))[1:-1], job.filename))
        if report.imported or report.updated:
            job.state = "indexing"
            job.indexed = catalogue.reindex()

    def _run_reindex(self, catalogue: Catalogue, job: CatalogueJob) -> None:
        job.state = "indexing"
        job.indexed = catalogue.reindex()
