"""Format detection and iteration over portal records: one ``RawRecord`` per record found.

Formats (from the path): a directory (recursive ``*.json``, ``*.jsonl``, ``*.jsonl.gz``), a
``.tar.gz``/``.tgz`` of per-procedure JSON files, a ``.json`` file (one record or a list),
``.jsonl``/``.jsonl.gz`` (one record per line) and the official "Danh sách TTHC" ``.xlsx`` export.
A record that cannot be read is yielded with its ``error`` so the import can skip it and go on.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

SUPPORTED = ".json, .jsonl, .jsonl.gz, .tar.gz, .tgz, .xlsx or a directory"


@dataclass
class RawRecord:
    source: str  # where the record came from: file, file:line, archive member, sheet row
    data: dict[str, Any] | None
    error: str = ""  # why the record could not be read
    partial: bool = False  # only some fields (xlsx export)
    ministry_hint: str = ""  # the folder the record was filed under, if any
    extra: dict[str, Any] = field(default_factory=dict)


class UnsupportedFormat(ValueError):
    pass


def detect_format(path: Path) -> str:
    """"dir" | "tar" | "json" | "jsonl" | "jsonl.gz" | "xlsx"."""
    name = path.name.lower()
    if path.is_dir():
        return "dir"
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if name.endswith(".jsonl.gz") or name.endswith(".ndjson.gz"):
        return "jsonl.gz"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".xlsx"):
        return "xlsx"
    raise UnsupportedFormat(f"{path}: unsupported format (expected {SUPPORTED})")


def iter_records(path: Path) -> Iterator[RawRecord]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    kind = detect_format(path)
    if kind == "dir":
        yield from _iter_directory(path)
    elif kind == "tar":
        yield from _iter_tar(path)
    elif kind == "json":
        yield from _iter_json_bytes(path.read_bytes(), str(path), _folder_hint(path.parent.name))
    elif kind == "jsonl":
        with path.open("rb") as fh:
            yield from _iter_jsonl(fh, str(path))
    elif kind == "jsonl.gz":
        with gzip.open(path, "rb") as fh:
            yield from _iter_jsonl(fh, str(path))
    else:
        from knowledge_base.importer.xlsx import iter_xlsx

        yield from iter_xlsx(path)


def _folder_hint(folder: str) -> str:
    return "" if folder in ("", ".", "raw", "data") else folder


def _root_hint(root: Path) -> str:
    """A directory named after a known ministry folder ("bo-tu-phap") files its records there."""
    from knowledge_base.importer.convert import MINISTRIES

    name = root.resolve().name
    return name if name in MINISTRIES else ""


def _iter_directory(root: Path) -> Iterator[RawRecord]:
    suffixes = (".json", ".jsonl", ".jsonl.gz")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
    for p in files:
        rel = p.relative_to(root)
        if p.name.lower().endswith(".json"):
            hint = _folder_hint(rel.parent.name) if rel.parent != Path(".") else _root_hint(root)
            try:
                payload = p.read_bytes()
            except OSError as exc:
                yield RawRecord(str(p), None, error=f"cannot read file: {exc}")
                continue
            yield from _iter_json_bytes(payload, str(p), hint)
        else:
            opener = gzip.open if p.name.lower().endswith(".gz") else open
            with opener(p, "rb") as fh:  # type: ignore[operator]
                yield from _iter_jsonl(fh, str(p))


def _iter_tar(path: Path) -> Iterator[RawRecord]:
    try:
        archive = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise UnsupportedFormat(f"{path}: not a readable tar archive ({exc})") from exc
    with archive:
        for member in archive:
            if not member.isfile() or not member.name.lower().endswith(".json"):
                continue
            source = f"{path.name}:{member.name}"
            fh = archive.extractfile(member)
            if fh is None:
                yield RawRecord(source, None, error="cannot read archive member")
                continue
            hint = _folder_hint(PurePosixPath(member.name).parent.name)
            yield from _iter_json_bytes(fh.read(), source, hint)


def _decode(payload: bytes) -> str:
    return payload.decode("utf-8-sig")


def _iter_json_bytes(payload: bytes, source: str, hint: str) -> Iterator[RawRecord]:
    try:
        data = json.loads(_decode(payload))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield RawRecord(source, None, error=f"invalid JSON: {exc}")
        return
    items = data if isinstance(data, list) else [data]
    for i, item in enumerate(items):
        where = source if len(items) == 1 else f"{source}[{i}]"
        if isinstance(item, dict):
            yield RawRecord(where, item, ministry_hint=hint)
        else:
            yield RawRecord(where, None, error="invalid record: not a JSON object")


def _iter_jsonl(fh: io.BufferedIOBase | Any, source: str) -> Iterator[RawRecord]:
    for number, line in enumerate(fh, start=1):
        where = f"{source}:{number}"
        try:
            text = _decode(line).strip()
        except UnicodeDecodeError as exc:
            yield RawRecord(where, None, error=f"invalid JSON: {exc}")
            continue
        if not text:
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RawRecord(where, None, error=f"invalid JSON: {exc}")
            continue
        if not isinstance(item, dict):
            yield RawRecord(where, None, error="invalid record: not a JSON object")
            continue
        source_path = item.get("_source_path")
        yield RawRecord(
            f"{where} ({source_path})" if source_path else where,
            item,
            ministry_hint=str(item.get("_ministry_folder") or ""),
        )
