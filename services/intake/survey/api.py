"""Survey import route: upload a CSV or XLSX of residents' opinions, get a result per row."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from services.intake.deps import Rt, deps_of, uow_of
from services.intake.need import find_community
from services.intake.survey.rows import SurveyFileError, iter_csv_rows, iter_xlsx_rows, sniff_kind
from services.intake.survey.service_layer import ImportOptions, SurveyRows, import_rows
from shared.auth import Principal
from shared.http import ApiError, field_error, require_roles

PATH = "/v1/surveys"
router = APIRouter(prefix="/v1", tags=["surveys"])
CHUNK = 1 << 16
Importer = Annotated[Principal, require_roles("street_office", "grid_worker")]


def _file_error(exc: SurveyFileError) -> ApiError:
    """415 for a file that is not CSV/XLSX, 422 naming the part at fault otherwise."""
    if exc.message.startswith("expected CSV or .xlsx") or "is named .xlsx" in exc.message:
        return ApiError(
            415, "unsupported_media_type", f"file: {exc.message}", fields=[{"field": "file", "message": exc.message}]
        )
    return field_error(exc.field, exc.message)


@router.post(
    "/surveys",
    summary="Import a survey sheet (CSV UTF-8/GBK or XLSX, ≤ 20 MB): per-row result and a summary by category",
)
async def post_survey(
    rt: Rt,
    principal: Importer,
    file: Annotated[UploadFile, File(description="CSV (UTF-8, UTF-8 with BOM, GB18030/GBK) or .xlsx")],
    community: Annotated[str | None, Form(description="community of rows that name none")] = None,
) -> Response:
    default = None
    if community and community.strip():
        found = find_community(rt.catalogue, community)
        if found is None:
            valid = ", ".join(c.code for c in rt.catalogue.communities)
            raise field_error("community", f"unknown community {community!r}; valid codes: {valid}")
        default = found.code
    handle = file.file
    head = handle.read(4096)
    handle.seek(0)
    try:
        kind = sniff_kind(file.filename, head)
        rows: SurveyRows = (
            iter_xlsx_rows(handle) if kind == "xlsx" else iter_csv_rows(iter(lambda: handle.read(CHUNK), b""))
        )
        settings = rt.settings
        options = ImportOptions(
            default_community=default,
            street_scope=principal.scope if principal.role in {"street_office", "grid_worker"} else None,
            max_distance_m=settings.max_community_distance_m,
            batch_rows=settings.survey_batch_rows,
        )
        report = await import_rows(uow=uow_of(rt), deps=deps_of(rt), rows=rows, options=options)
    except SurveyFileError as exc:
        raise _file_error(exc) from None
    finally:
        await file.close()
    body = {
        "file": file.filename,
        "kind": kind,
        "encoding": getattr(rows, "encoding", None) if kind == "csv" else None,
        "summary": report.summary(),
        "rows": report.rows,
    }
    return Response(orjson.dumps(body), media_type="application/json")
