"""Survey import use case: stream rows, check each, accept them in batches (one transaction per batch)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.intake import store
from services.intake.need import Need, resolve_place
from services.intake.service_layer import Deps, IntakeUow, Outcome, Writes, accept, flush, prefetch
from services.intake.survey.rows import SurveyFileError, validate_row
from services.intake.text_rules import FieldError
from services.intake.triage import category_from_label, classify

log = structlog.get_logger(__name__)
SurveyRows = Iterator[tuple[int, dict[str, str]]]


@dataclass
class ImportReport:
    """Per-row results and the summary by category."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    file_error: str | None = None

    def add(self, line: int, outcome: Outcome) -> None:
        """Record an accepted row."""
        key = outcome.category or "triage"
        if outcome.linked:
            self.duplicates[key] += 1
            self.rows.append({"row": line, "result": "duplicate", "duplicate_of": outcome.case_id, "category": key})
        else:
            self.created[key] += 1
            self.rows.append({"row": line, "result": "created", "case_id": outcome.case_id, "category": key})

    def reject(self, line: int, reason: str) -> None:
        """Record a refused row and why."""
        self.rejected += 1
        self.rows.append({"row": line, "result": "rejected", "reason": reason})

    def summary(self) -> dict[str, Any]:
        """Totals and counts per category ('triage' = no confident category: the street office sorts it)."""
        categories = sorted(set(self.created) | set(self.duplicates))
        return {
            "rows": len(self.rows),
            "created": sum(self.created.values()),
            "duplicates": sum(self.duplicates.values()),
            "rejected": self.rejected,
            "by_category": {c: {"created": self.created[c], "duplicates": self.duplicates[c]} for c in categories},
            "file_error": self.file_error,
        }


@dataclass(frozen=True)
class ImportOptions:
    """Defaults and limits for one upload."""

    default_community: str | None
    street_scope: str | None  # a street-scoped key imports only its own street's rows
    max_distance_m: float
    batch_rows: int


def need_from_row(row: dict[str, str], deps: Deps, options: ImportOptions) -> Need:
    """Check one mapped row; FieldError (or ValueError) says why it is refused."""
    cleaned, reason = validate_row(row)
    if cleaned is None:
        raise ValueError(reason)
    catalogue = deps.catalogue
    community, grid = resolve_place(
        catalogue,
        community=cleaned["community"] or options.default_community,
        grid=None,
        lat=cleaned["lat"],
        lon=cleaned["lon"],
        address=cleaned["address"],
        max_distance_m=options.max_distance_m,
    )
    if cleaned["grid"]:
        grid = _grid_in(community.code, cleaned["grid"], deps)
    if options.street_scope is not None and community.street != options.street_scope:
        raise FieldError("community", f"{community.code} is outside street {options.street_scope} of this key")
    label = cleaned["category"]
    category = category_from_label(catalogue, label) if label else None
    description = cleaned["description"]
    if label and category is None:
        # An unknown label ("路灯问题") is still evidence: classify it together with the text.
        category = classify(catalogue, f"{label} {description}", deps.threshold).category
    reported: datetime | None = cleaned["submitted_at"]
    if reported is not None and reported.tzinfo is None:
        reported = reported.replace(tzinfo=ZoneInfo(catalogue.timezone))
    contact = {k: cleaned[v] for k, v in (("name", "reporter_name"), ("phone", "phone")) if cleaned[v]}
    return Need(
        description=description,
        community=community.code,
        street=community.street,
        category=category,
        grid=grid,
        lat=cleaned["lat"],
        lon=cleaned["lon"],
        address=cleaned["address"],
        reporter_kind="survey",
        vulnerable=cleaned["vulnerable"],
        contact=contact,
        source="survey",
        reported_at=reported,
    )


def _grid_in(community: str, text: str, deps: Deps) -> str | None:
    """A grid code of this community named by code or name; unknown grid text is dropped, not fatal."""
    found = deps.catalogue.community(community)
    for grid in found.grids if found else ():
        if text in {grid.code, grid.name}:
            return grid.code
    return None


def _next_batch(rows: SurveyRows, size: int) -> list[tuple[int, dict[str, str]]]:
    return list(islice(rows, size))


async def import_rows(*, uow: IntakeUow, deps: Deps, rows: SurveyRows, options: ImportOptions) -> ImportReport:
    """Accept every good row; a bad row is reported and skipped, a file error mid-way stops with what was done."""
    report = ImportReport()
    while True:
        try:
            # Parsing is CPU work on a spooled file: off the event loop.
            batch = await asyncio.to_thread(_next_batch, rows, options.batch_rows)
        except SurveyFileError as exc:
            if not report.rows:
                raise
            report.file_error = str(exc)
            break
        if not batch:
            break
        checked: list[tuple[int, Need]] = []
        for line, row in batch:
            try:
                checked.append((line, need_from_row(row, deps, options)))
            except FieldError as exc:
                report.reject(line, str(exc))
            except ValueError as exc:
                report.reject(line, str(exc))
        await _store_batch(uow, deps, checked, report)
    report.rows.sort(key=lambda r: r["row"])
    return report


async def _store_batch(uow: IntakeUow, deps: Deps, checked: list[tuple[int, Need]], report: ImportReport) -> None:
    """One transaction for the batch; if it fails, row by row so one bad row cannot sink the rest."""
    if not checked:
        return
    try:
        async with uow.begin() as tx:
            conn = tx.conn
            writes = Writes()
            await prefetch(conn, deps=deps, needs=[need for _, need in checked], writes=writes)
            outcomes = [(line, await accept(conn, deps=deps, need=need, writes=writes)) for line, need in checked]
            await flush(conn, deps=deps, writes=writes)
    except store.DatabaseError as exc:
        log.warning("survey batch failed; storing row by row", error=str(exc))
        for line, need in checked:
            try:
                async with uow.begin() as tx:
                    conn = tx.conn
                    writes = Writes()
                    outcome = await accept(conn, deps=deps, need=need, writes=writes)
                    await flush(conn, deps=deps, writes=writes)
                report.add(line, outcome)
            except store.DatabaseError as row_exc:
                report.reject(line, f"could not be stored ({type(row_exc).__name__})")
        return
    for line, outcome in outcomes:
        report.add(line, outcome)
