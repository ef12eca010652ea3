"""HTTP routes of engagement: a campaign's tracked link and its QR code (its advertiser), and
the engagement report (as delivery reports are scoped)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.engagement import qr
from control_plane.engagement import service as engagement_service
from control_plane.engagement.dependencies import EditableCampaign, ReadableLink
from control_plane.engagement.schemas import EngagementReport, TrackedLinkIn, TrackedLinkRead
from control_plane.reporting import service as reporting_service
from control_plane.settings import Settings

router = APIRouter(prefix="/v1", tags=["engagement"])
LINK = "/campaigns/{campaign_id}/tracked-link"
Scale = Annotated[int, Query(ge=qr.MIN_SCALE, le=qr.MAX_SCALE,
                             description="Pixels (PNG) or units (SVG) per module")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "campaign_not_found (or not yours), tracked_link_not_found"}}


def _read(settings: Settings, link: engagement_service.TrackedLink,
          scans: int) -> TrackedLinkRead:
    base = f"/v1/campaigns/{link.campaign_id}/tracked-link"
    return TrackedLinkRead(
        id=link.id, campaign_id=link.campaign_id, code=link.code,
        short_url=engagement_service.short_url(public_url=settings.public_url, link=link),
        landing_url=link.landing_url, qr_png_url=f"{base}/qr.png", qr_svg_url=f"{base}/qr.svg",
        enabled=link.disabled_at is None, created_at=link.created_at,
        updated_at=link.updated_at, disabled_at=link.disabled_at, scans=scans)


def _with_scans(session: DbSession, settings: Settings,
                link: engagement_service.TrackedLink) -> TrackedLinkRead:
    totals = engagement_service.scan_totals(session=session, link_ids=[link.id])
    return _read(settings, link, totals.get(link.id, 0))


@router.post(LINK, response_model=TrackedLinkRead, responses={
    **NOT_FOUND, 422: {"description": "invalid_landing_url"}},
    summary="Give the campaign a tracked link to this landing URL (or point it there)",
    description="The short URL keeps its code when the landing URL changes, so printed QR "
                "codes keep working; a disabled link is enabled again.")
def set_link(body: TrackedLinkIn, campaign: EditableCampaign, session: DbSession,
             settings: SettingsDep) -> TrackedLinkRead:
    link = engagement_service.set_link(session=session, campaign=campaign,
                                       landing_url=body.landing_url)
    return _with_scans(session, settings, link)


@router.get(LINK, response_model=TrackedLinkRead, responses=NOT_FOUND,
            summary="The campaign's tracked link")
def get_link(link: ReadableLink, session: DbSession, settings: SettingsDep) -> TrackedLinkRead:
    return _with_scans(session, settings, link)


@router.delete(LINK, response_model=TrackedLinkRead, responses=NOT_FOUND,
               summary="Disable the tracked link: its short URL stops redirecting")
def delete_link(campaign: EditableCampaign, session: DbSession,
                settings: SettingsDep) -> TrackedLinkRead:
    link = engagement_service.disable(session=session, campaign_id=campaign.id)
    return _with_scans(session, settings, link)


def _image(link: engagement_service.TrackedLink, body: bytes,
           media_type: str, suffix: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="qr-{link.code}.{suffix}"',
        "Cache-Control": "private, max-age=300"})


@router.get(f"{LINK}/qr.png", response_class=Response, responses={
    **NOT_FOUND, 200: {"content": {"image/png": {}}, "description": "the QR code"}},
    summary="The QR code of the short URL, as PNG")
def qr_png(link: ReadableLink, settings: SettingsDep,
           scale: Scale = qr.DEFAULT_SCALE) -> Response:
    content = engagement_service.short_url(public_url=settings.public_url, link=link)
    return _image(link, qr.png(content, scale=scale), "image/png", "png")


@router.get(f"{LINK}/qr.svg", response_class=Response, responses={
    **NOT_FOUND, 200: {"content": {"image/svg+xml": {}}, "description": "the QR code"}},
    summary="The QR code of the short URL, as SVG")
def qr_svg(link: ReadableLink, settings: SettingsDep,
           scale: Scale = qr.DEFAULT_SCALE) -> Response:
    content = engagement_service.short_url(public_url=settings.public_url, link=link)
    return _image(link, qr.svg(content, scale=scale), "image/svg+xml", "svg")


@router.get("/reports/engagement", response_model=EngagementReport,
            summary="Scans, unique scanners, impressions and scans per 1,000 impressions",
            description="Scoped as /v1/reports/delivery: an advertiser sees its campaigns, a "
                        "venue org the scans attributed to its screens, the platform "
                        "everything. The scans of each UTC hour are attributed to the screens "
                        "that played the campaign in the ADSBIN_SCAN_ATTRIBUTION_WINDOW_S "
                        "seconds before, by their impressions there.",
            responses={200: {"content": {"text/csv": {}},
                             "description": "JSON, or CSV with ?format=csv"}})
def engagement_report(
        session: DbSession, principal: CurrentPrincipal, settings: SettingsDep,
        group_by: Annotated[str, Query(max_length=100, description=(
            "Comma-separated: campaign, screen, hour (UTC); default: campaign"))] = "campaign",
        start: Annotated[datetime | None, Query(alias="from", description=(
            "Floored to the hour; default: 30 days before `to`"))] = None,
        end: Annotated[datetime | None, Query(alias="to", description=(
            "Ceiled to the hour; default: now"))] = None,
        campaign_id: Annotated[str | None, Query(max_length=64)] = None,
        format: Literal["json", "csv"] = "json") -> EngagementReport | Response:
    authorize(principal, Resource.report, Action.read)
    scope = reporting_service.scope_of(principal)
    start, end = reporting_service.period(start, end)
    report = engagement_service.engagement_report(
        session=session, scope=scope, start=start, end=end, campaign_id=campaign_id,
        group_by=[g.strip() for g in group_by.split(",") if g.strip()],
        window_s=settings.scan_attribution_window_s)
    if format == "csv":
        name = f"engagement-{report.start:%Y%m%dT%H}-{report.end:%Y%m%dT%H}.csv"
        return StreamingResponse(report.csv_lines(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return EngagementReport(start=report.start, end=report.end, group_by=list(report.group_by),
                            attribution_window_s=report.window_s, notes=report.notes,
                            rows=report.rows, totals=report.totals)
