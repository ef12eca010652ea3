"""HTTP routes of reporting: devices upload proof of play; people and API keys read reports, the
raw export and the signed batches behind it."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import SessionsDep, SettingsDep
from control_plane.devices.dependencies import current_device
from control_plane.engagement import service as engagement_service
from control_plane.reporting import service as reporting_service
from control_plane.reporting.audience_reports import wants_audience
from control_plane.reporting.export import MAX_LIMIT
from control_plane.reporting.schemas import BatchRead, DeliveryReport
from control_plane.revenue import service as revenue_service
from control_plane.settings import Settings
from shared.pop import PopBatch, PopReceipt, verify

device_api = APIRouter(prefix="/v1/device", tags=["device"])
router = APIRouter(prefix="/v1", tags=["reporting"])

# Uploads of one process past the body at once; the rest wait here, holding no thread and no
# database connection. Only one batch computes at a time anyway (turn.py), and a few in flight
# keep it busy while another waits for the write lock; without a bound, a fleet's uploads took
# every request thread and every pooled connection while they queued for the turn, and the one
# whose turn it was waited for a connection (a 600-unit simulated fleet: nothing accepted for
# minutes, heartbeats stuck behind them).
UPLOADS_AT_ONCE = 16


def _upload_slots(request: Request) -> anyio.Semaphore:
    slots: anyio.Semaphore | None = getattr(request.app.state, "pop_upload_slots", None)
    if slots is None:
        slots = request.app.state.pop_upload_slots = anyio.Semaphore(UPLOADS_AT_ONCE)
    return slots


def parse_pop_batch(body: bytes) -> PopBatch:
    """The upload, parsed from its bytes by pydantic's own JSON parser (a batch is up to a
    megabyte; this is much faster than decoding to Python first, with the same errors)."""
    try:
        return PopBatch.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from exc


@device_api.post("/pop", response_model=PopReceipt,
                 summary="Upload a signed batch of proof of play (idempotent by play id)",
                 responses={401: {"description": "invalid_device_token"},
                            403: {"description": "bad_signature: not signed by this device"}},
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": PopBatch.model_json_schema(by_alias=True)}}}})
async def upload_pop(request: Request, sessions: SessionsDep,
                     settings: SettingsDep) -> PopReceipt:
    # The body is read in full first, so a device on a slow link holds up no other upload;
    # everything after runs in one thread, its Python in the process's turn to ingest
    # (`turn.py`; not as dependencies, which only hand over the app's sessions and settings):
    # checking the token and parsing the JSON of the uploads waiting beside the one holding
    # the database's write lock stalled that one on the GIL
    # (bench_pop_ingest on SQLite: the write held the lock 19–28 ms instead of 15–18).
    body = await request.body()
    async with _upload_slots(request):
        return await run_in_threadpool(_upload_pop, request, body, sessions, settings)


def _upload_pop(request: Request, body: bytes, sessions: sessionmaker[Session],
                settings: Settings) -> PopReceipt:
    with sessions() as session:
        with reporting_service.ingest_turn():
            device = current_device(request, session)
            batch = parse_pop_batch(body)
        return reporting_service.ingest(
            session=session, device=device, batch=batch,
            policy=reporting_service.policy(settings))


@router.get("/reports/delivery", response_model=DeliveryReport,
            summary="Plays, seconds, impressions and spend (or earnings), grouped, for the caller",
            responses={200: {"content": {"text/csv": {}},
                             "description": "JSON, or CSV with ?format=csv"}})
def delivery_report(
        session: DbSession, principal: CurrentPrincipal, settings: SettingsDep,
        group_by: Annotated[str, Query(max_length=200, description=(
            "Comma-separated: campaign, creative, screen, venue, hour, day (UTC); "
            "age_band, gender: impressions split by who watched (with campaign, screen, "
            "venue, hour, day); empty: one row per currency"))] = "",
        start: Annotated[datetime | None, Query(alias="from", description=(
            "Floored to the hour; default: 30 days before `to`"))] = None,
        end: Annotated[datetime | None, Query(alias="to", description=(
            "Ceiled to the hour; default: now"))] = None,
        campaign_id: Annotated[str | None, Query(max_length=64)] = None,
        screen_id: Annotated[str | None, Query(max_length=64)] = None,
        venue_id: Annotated[str | None, Query(max_length=64)] = None,
        format: Literal["json", "csv"] = "json") -> DeliveryReport | Response:
    authorize(principal, Resource.report, Action.read)
    scope = reporting_service.scope_of(principal)
    start, end = reporting_service.period(start, end)
    report = reporting_service.delivery_report(
        session=session, scope=scope, start=start, end=end,
        group_by=[g.strip() for g in group_by.split(",") if g.strip()],
        filters=reporting_service.Filters(campaign_id, screen_id, venue_id),
        latest_play=utcnow() + timedelta(seconds=settings.pop_clock_skew_s),
        shares=None if scope.sees_spend else revenue_service.timeline(session=session,
                                                                      settings=settings))
    if not wants_audience(report.group_by):  # scans are not split by who
        engagement_service.add_to_delivery(session=session, scope=scope, report=report,
                                           window_s=settings.scan_attribution_window_s,
                                           campaign_id=campaign_id)
    if format == "csv":
        name = f"delivery-{report.start:%Y%m%dT%H}-{report.end:%Y%m%dT%H}.csv"
        return StreamingResponse(report.csv_lines(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    # built here from rows the service made, so not validated again on the way out: a report
    # can have tens of thousands of rows
    body = DeliveryReport.model_construct(start=report.start, end=report.end,
                                          group_by=list(report.group_by), notes=report.notes,
                                          rows=report.rows, totals=report.totals())
    return Response(body.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/pop", summary="Raw proof of play as NDJSON, oldest first, by cursor",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {}}, "description": (
                "One play per line; X-Next-Cursor is the cursor to ask with next "
                "(X-More: true while more are waiting)")}})
def export_pop(session: DbSession, principal: CurrentPrincipal,
               after: Annotated[str, Query(pattern=r"^[0-9]{1,18}$", description=(
                   "The X-Next-Cursor of the previous page (0: from the start)"))] = "0",
               limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000) -> StreamingResponse:
    authorize(principal, Resource.pop_export, Action.read)
    scope = reporting_service.scope_of(principal)
    page = reporting_service.export_page(session=session, scope=scope, after=int(after),
                                         limit=limit)

    def lines() -> Iterator[bytes]:
        for line in page.lines:
            yield json.dumps(line, separators=(",", ":")).encode() + b"\n"

    headers = {"X-Next-Cursor": str(page.next_cursor), "X-More": str(page.more).lower()}
    if page.more:
        headers["Link"] = f'</v1/pop?after={page.next_cursor}&limit={limit}>; rel="next"'
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


@router.get("/pop/batches/{batch}", response_model=BatchRead,
            summary="A signed batch as stored: verify any of its plays without our code")
def get_batch(batch: Annotated[str, Path(max_length=64)], session: DbSession,
              principal: CurrentPrincipal) -> BatchRead:
    # whoever may read reports may ask; the scope then finds only the batches of the caller's
    # own screens (a venue org's), or all of them (the platform)
    authorize(principal, Resource.report, Action.read)
    found = reporting_service.batch(session=session, batch_digest=batch,
                                    scope=reporting_service.scope_of(principal))
    message = zlib.decompress(found.message_zlib)
    return BatchRead(id=found.id, batch_id=found.batch_id, device_id=found.device_id,
                     screen_id=found.screen_id, public_key=found.public_key,
                     signature=found.signature, message=message.decode(), records=found.records,
                     transport=found.transport, received_at=found.received_at,
                     verifies=verify(found.public_key, message, found.signature))
