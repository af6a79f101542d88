"""What an import did: counts, skipped records with reasons, warnings and per-field parse coverage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 20  # skipped records / warnings shown by ``render``


@dataclass
class Issue:
    source: str
    reason: str


@dataclass
class ImportReport:
    source: str = ""
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    present: Counter[str] = field(default_factory=Counter)  # records where a field has content
    failures: Counter[str] = field(default_factory=Counter)  # records where it could not be parsed

    # --- recording ----------------------------------------------------------------------------
    def count(self, outcome: str) -> None:
        if outcome not in ("imported", "updated", "unchanged"):
            raise ValueError(f"unknown upsert outcome {outcome!r}")
        setattr(self, outcome, getattr(self, outcome) + 1)

    def skip(self, source: str, reason: str) -> None:
        self.skipped.append(Issue(source, reason))

    def warn(self, source: str, reason: str) -> None:
        self.warnings.append(Issue(source, reason))

    def parsed(self, present: list[str], failures: list[str]) -> None:
        self.present.update(present)
        self.failures.update(failures)

    # --- reading ------------------------------------------------------------------------------
    @property
    def accepted(self) -> int:
        return self.imported + self.updated + self.unchanged

    def coverage(self) -> dict[str, dict[str, float | int]]:
        """Per field: records with content, records parsed cleanly, and their ratio.

        Sub-problems ("cach_thuc_thuc_hien.time") are measured against their field's records.
        """
        out: dict[str, dict[str, float | int]] = {}
        keys = sorted(set(self.present) | {k for k in self.failures if "." in k})
        for key in keys:
            base = key.split(".", 1)[0]
            present = self.present.get(base, 0)
            failed = self.failures.get(key, 0)
            ok = max(present - failed, 0)
            ratio = round(ok / present, 4) if present else 1.0
            out[key] = {"present": present, "parsed": ok, "coverage": ratio}
        return out

    def skip_reasons(self) -> Counter[str]:
        return Counter(_reason_kind(issue.reason) for issue in self.skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "skipped_records": [{"source": i.source, "reason": i.reason} for i in self.skipped],
            "skip_reasons": dict(self.skip_reasons()),
            "warnings": [{"source": i.source, "reason": i.reason} for i in self.warnings],
            "parse_failures": dict(sorted(self.failures.items())),
            "coverage": self.coverage(),
        }

    def render(self) -> str:
        """A plain-text summary for the terminal (English labels with the Vietnamese term)."""
        rows = [
            ("Records read (bản ghi đã đọc)", self.read),
            ("Imported (thêm mới)", self.imported),
            ("Updated (cập nhật)", self.updated),
            ("Unchanged (không đổi)", self.unchanged),
            ("Skipped (bỏ qua)", len(self.skipped)),
            ("Warnings (cảnh báo)", len(self.warnings)),
        ]
        width = max(len(label) for label, _ in rows)
        lines = [f"Import of {self.source}" if self.source else "Import", ""]
        lines += [f"  {label:<{width}}  {value:>7,}" for label, value in rows]
        coverage = self.coverage()
        if coverage:
            lines += ["", "  Parse coverage (tỷ lệ phân tích được)", ""]
            key_width = max(len(k) for k in coverage)
            lines.append(f"    {'field':<{key_width}}  {'records':>7}  {'parsed':>7}  {'coverage':>8}")
            for key, row in coverage.items():
                present, parsed, ratio = row["present"], row["parsed"], row["coverage"]
                lines.append(f"    {key:<{key_width}}  {present:>7,}  {parsed:>7,}  {ratio:>8.1%}")
        for title, issues in (("Skipped records", self.skipped), ("Warnings", self.warnings)):
            if not issues:
                continue
            lines += ["", f"  {title}:"]
            lines += [f"    {i.source}: {i.reason}" for i in issues[:MAX_LISTED]]
            if len(issues) > MAX_LISTED:
                lines.append(f"    … and {len(issues) - MAX_LISTED:,} more")
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0].split("(", 1)[0].strip()
