"""Customer imports over HTTP: upload a file, follow its progress, read its report."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Query, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import AdminOnly, SupervisorOnly
from api.deps import DatabaseDep, SessionDep, SettingsDep, VaultDep
from ticketing.customer_files import (
    COLUMNS,
    EXPORT_COLUMNS,
    FIELDS,
    XLSX_TYPE,
    escape_cell,
    template_header,
    xlsx_template,
)
from ticketing.errors import PayloadTooLarge
from ticketing.models import CustomerImport
from ticketing.services import import_channels, imports

UPLOAD_PATH = "/api/v1/customers/imports"
router = APIRouter(prefix="/customers", tags=["customer imports"])

ImportId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Only supervisors and admins import customers"},
    404: {"description": "No such import (`import_not_found`)"},
    409: {"description": "The channel's imports are paused (`channel_paused`)"},
    413: {"description": "The file is larger than DESK_IMPORT_MAX_BYTES (20 MB by default)"},
    422: {
        "description": "The file cannot be read as customer records: wrong encoding, "
        "header unlike the template, malformed CSV, unreadable XLSX (`import_file_rejected`, "
        "`wrong_encoding`, `bad_header`, ...); nothing was imported"
    },
}


class ImportRead(BaseModel):
    """An import's progress and, once done, its counts and quality report."""

    id: int
    status: Literal["running", "done", "failed"]
    phase: str
    progress: float
    file_format: str
    encoding: str | None
    default_channel: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    total_rows: int | None
    created: int
    merged: int
    unchanged: int
    rejected: int
    error: str | None
    report: dict[str, Any]


class ConflictRead(BaseModel):
    """One logged conflict: which source won a field for a customer, and by which rule."""

    customer_id: int
    field: str
    winner: str
    loser: str
    rule: str


class ImportChannelRead(BaseModel):
    """A source channel: own or third party, its run of low-quality imports, its pause."""

    key: str
    kind: str
    low_quality_streak: int
    last_quality: float | None
    paused: bool
    paused_at: datetime | None
    paused_import_id: int | None


def _read(record: CustomerImport) -> ImportRead:
    return ImportRead(
        id=record.id,
        status=imports.effective_status(record),  # type: ignore[arg-type]
        phase=record.phase,
        progress=record.progress,
        file_format=record.file_format,
        encoding=record.encoding,
        default_channel=record.default_channel,
        created_by=record.created_by,
        created_at=record.created_at,
        finished_at=record.finished_at,
        total_rows=record.total_rows,
        created=record.created_count,
        merged=record.merged_count,
        unchanged=record.unchanged_count,
        rejected=record.rejected_count,
        error=record.error,
        report=record.report or {},
    )


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses={code: _ERRORS[code] for code in (401, 403, 409, 413, 422)},
)
def upload(
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030/GBK) or XLSX")],
    session: SessionDep,
    database: DatabaseDep,
    vault: VaultDep,
    settings: SettingsDep,
    principal: SupervisorOnly,
    background: BackgroundTasks,
    channel: Annotated[
        str | None, Form(max_length=40, description="channel of rows that name none")
    ] = None,
    encoding: Annotated[
        Literal["utf-8", "gb18030", "gbk"] | None,
        Form(description="the CSV's encoding; found by itself when not given"),
    ] = None,
) -> ImportRead:
    """Start an import of customer records; it runs in the background (poll its id)."""
    content = file.file.read(settings.import_max_bytes + 1)
    if len(content) > settings.import_max_bytes:
        raise PayloadTooLarge(
            f"the file is larger than {settings.import_max_bytes} bytes; split it",
            details={"max_bytes": settings.import_max_bytes},
        )
    record, opened = imports.start(
        session,
        vault=vault,
        content=content,
        filename=file.filename,
        principal=principal,
        default_channel=channel,
        encoding=encoding,
    )
    background.add_task(imports.run, database.sessions, vault, import_id=record.id, opened=opened)
    return _read(record)


@router.get(
    "/imports",
    response_model=list[ImportRead],
    responses={code: _ERRORS[code] for code in (401, 403)},
)
def recent(
    session: SessionDep,
    principal: SupervisorOnly,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ImportRead]:
    """The newest imports first."""
    return [_read(r) for r in imports.recent(session, limit=limit)]


@router.get(
    "/imports/template",
    responses={
        200: {"content": {"text/csv": {}, XLSX_TYPE: {}}},
        **{code: _ERRORS[code] for code in (401, 403)},
    },
)
def template(
    principal: SupervisorOnly,
    file_format: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv",
    lang: Literal["zh", "en"] = "zh",
) -> Response:
    """The import template: the header row the importer reads, in Chinese or English."""
    name = f"customers-template-{lang}.{file_format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if file_format == "xlsx":
        return Response(xlsx_template(lang), media_type=XLSX_TYPE, headers=disposition)
    body = "\ufeff" + ",".join(template_header(lang)) + "\r\n"
    return Response(body.encode(), media_type="text/csv; charset=utf-8", headers=disposition)


@router.get(
    "/imports/{import_id}",
    response_model=ImportRead,
    responses={code: _ERRORS[code] for code in (401, 403, 404)},
)
def progress(import_id: ImportId, session: SessionDep, principal: SupervisorOnly) -> ImportRead:
    """An import's status (running, done or failed), progress, counts and report."""
    return _read(imports.get(session, import_id))


@router.get(
    "/imports/{import_id}/rejections.csv",
    responses={
        200: {"content": {"text/csv": {}}},
        **{code: _ERRORS[code] for code in (401, 403, 404)},
    },
)
def rejections(
    import_id: ImportId, session: SessionDep, vault: VaultDep, principal: SupervisorOnly
) -> Response:
    """The rows an import did not take, with the reasons (UTF-8 CSV; audited).

    Cells that a spreadsheet would run as formulas are escaped with a leading '.
    """
    rows = imports.rejected_rows(session, vault=vault, import_id=import_id, principal=principal)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [f"{EXPORT_COLUMNS['row'][0]}/{EXPORT_COLUMNS['row'][1]}"]
        + [f"{EXPORT_COLUMNS['reasons'][0]}/{EXPORT_COLUMNS['reasons'][1]}"]
        + [f"{COLUMNS[f][0]}/{COLUMNS[f][1]}" for f in FIELDS]
    )
    for number, reasons, cells in rows:
        explained = "; ".join(
            f"{r['field']}: {r['code']}" if r.get("field") else r["code"] for r in reasons
        )
        writer.writerow(
            [number, escape_cell(explained)] + [escape_cell(cells.get(f)) for f in FIELDS]
        )
    return Response(
        ("\ufeff" + out.getvalue()).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-rejected.csv"'},
    )


@router.get(
    "/imports/{import_id}/conflicts",
    response_model=list[ConflictRead],
    responses={code: _ERRORS[code] for code in (401, 403, 404)},
)
def conflicts(
    import_id: ImportId, session: SessionDep, principal: SupervisorOnly
) -> list[ConflictRead]:
    """The conflicts an import logged (field, winner, rule; never the values)."""
    return [
        ConflictRead(
            customer_id=c.customer_id, field=c.field, winner=c.winner, loser=c.loser, rule=c.rule
        )
        for c in imports.conflicts(session, import_id)
    ]


@router.get(
    "/import-channels",
    response_model=list[ImportChannelRead],
    responses={code: _ERRORS[code] for code in (401, 403)},
)
def channels(session: SessionDep, principal: SupervisorOnly) -> list[ImportChannelRead]:
    """The source channels: own or third party, quality streak, paused or not."""
    return [ImportChannelRead(**row) for row in import_channels.list_channels(session)]


@router.post(
    "/import-channels/{key}/resume",
    response_model=ImportChannelRead,
    responses={
        401: _ERRORS[401],
        403: {"description": "Only admins resume a channel"},
        404: {"description": "No record of this channel (`import_channel_not_found`)"},
        409: {"description": "The channel is not paused (`channel_not_paused`)"},
    },
)
def resume(
    key: Annotated[str, Path(max_length=32)], session: SessionDep, principal: AdminOnly
) -> ImportChannelRead:
    """Let a paused channel import again (its low-quality streak starts over)."""
    import_channels.resume_channel(session, key=key, principal=principal)
    row = next(r for r in import_channels.list_channels(session) if r["key"] == key)
    return ImportChannelRead(**row)
