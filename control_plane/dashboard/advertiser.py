"""The advertiser's pages: campaigns (list, wizard, page with delivery), creatives, invoices.

Each page calls the services the API's routes call (`campaigns`, `media`, `reporting`,
`scheduling`, `billing`) and renders their answers; authorization is the API's policy, so a
campaign of another org answers 404 here as it does on `/v1/campaigns/{id}`.

The wizard is one page (`/campaigns/new`): a creative uploaded with a progress bar (or one
uploaded before), then the campaign's fields; "Forecast" shows what it would get without saving
anything, "Save the draft" saves it with its creative and opens the campaign's page, where the
forecast and the screens it may play on are shown again beside the button that submits it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData, UploadFile

from control_plane.auth.dependencies import require_superadmin, require_verified_email
from control_plane.auth.policy import Action, Principal, Resource, authorize
from control_plane.billing import service as billing_service
from control_plane.billing.dependencies import PaymentProviderDep
from control_plane.campaigns import service as campaigns_service
from control_plane.campaigns.schemas import CampaignUpdate, CreativeCreate
from control_plane.dashboard import campaign_form, charts, paging
from control_plane.dashboard import delivery as campaign_delivery
from control_plane.dashboard.session import Posted, User
from control_plane.dashboard.web import FormErrors, PageRoute, form_dict, redirect, render, validate
from control_plane.db import DbSession, utcnow
from control_plane.dependencies import JobQueueDep, ObjectStoreDep, SettingsDep
from control_plane.errors import AppError, Invalid
from control_plane.media import handling as media_handling
from control_plane.media import service as media_service
from control_plane.media.schemas import MediaRead
from control_plane.reporting import service as reporting_service
from control_plane.scheduling import preview as scheduling_preview
from control_plane.storage.base import ObjectStore
from control_plane.taxonomy.demographics import AGE_BANDS, GENDERS

router = APIRouter(route_class=PageRoute, include_in_schema=False)
STATES = ("draft", "pending_review", "approved", "active", "completed", "rejected", "paused")
FLIGHT_STATES = ("approved", "active", "completed")  # stored as approved, told by the flight
PAGE_SIZE = 50
Id = Annotated[str, Path(max_length=40)]
Days = Annotated[int, Query(ge=1, le=90, description="The last this many days")]
UPLOAD_PATH = "/media/upload"  # its body limit is the media API's (`app.py`)


@router.get("/campaigns")
def campaigns(request: Request, principal: User, session: DbSession,
              state: Annotated[str | None, Query(max_length=20)] = None,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    """The org's campaigns with their state, delivery and spend (super-admins: everyone's),
    newest first, `PAGE_SIZE` a page."""
    authorize(principal, Resource.campaign, Action.read)
    org_id = None if principal.is_superadmin else principal.org_id
    state = state if state in STATES else None
    # as the API's list: a state read from the flight is stored as approved
    stored = "approved" if state in FLIGHT_STATES else state
    now = utcnow()
    rows = [(c, campaigns_service.state(c, now))
            for c in campaigns_service.list_for(session=session, org_id=org_id, status=stored)]
    if state is not None:
        rows = [(c, s) for c, s in rows if s == state]
    shown = paging.Page.of(rows, page, PAGE_SIZE)
    delivered = reporting_service.delivery(session=session,
                                           campaign_ids=[c.id for c, _ in shown.items])
    return render(request, "advertiser/campaigns.html", {
        "title": "Campaigns", "rows": shown.items, "delivered": delivered, "paging": shown,
        "query": {"state": state} if state else {}, "state": state or "", "states": STATES},
        principal=principal)


# --- creatives ------------------------------------------------------------------------------

def _media_reads(session: DbSession, store: ObjectStore, principal: Principal) -> list[MediaRead]:
    org_id = None if principal.is_superadmin else principal.org_id
    return [media_handling.read(session=session, store=store, media=m)
            for m in media_service.list_media(session=session, org_id=org_id)]


def _one_media(session: DbSession, store: ObjectStore, principal: Principal,
               media_id: str) -> MediaRead:
    media = media_service.get_media(session=session, media_id=media_id)
    authorize(principal, Resource.media, Action.read, owner_org_id=media.org_id)
    return media_handling.read(session=session, store=store, media=media)


@router.get("/media")
def media_list(request: Request, principal: User, session: DbSession,
               store: ObjectStoreDep) -> Response:
    """The org's creatives: state, a preview, and an upload form."""
    authorize(principal, Resource.media, Action.read)
    return render(request, "advertiser/media.html", {
        "title": "Creatives", "items": _media_reads(session, store, principal),
        "upload_errors": FormErrors(), "upload_path": UPLOAD_PATH}, principal=principal)


@router.post(UPLOAD_PATH)
def media_upload(request: Request, form: Posted, principal: User, session: DbSession,
                 settings: SettingsDep, store: ObjectStoreDep, queue: JobQueueDep) -> Response:
    """Upload an image or a video as the media API does; then its page (or the wizard's)."""
    to_wizard = form.get("next") == "wizard"
    file = form.get("file")
    fit = form.get("fit") or media_handling.Fit.letterbox.value
    if principal.org_id is None:
        raise Invalid("act in an organisation to upload", code="no_org")
    authorize(principal, Resource.media, Action.create)
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid("choose a file to upload", code="no_file", details={"field": "file"})
        if fit not in {f.value for f in media_handling.Fit}:
            raise Invalid("choose how the creative fits the screen", details={"field": "fit"})
        media, _ = media_handling.receive(
            session=session, store=store, queue=queue, settings=settings,
            org_id=principal.org_id, user_id=principal.user_id, file=file.file,
            filename=file.filename, fit=media_handling.Fit(fit))
    except AppError as exc:
        errors = FormErrors(file=exc.message)
        if to_wizard:
            return _wizard(request, principal, session, store, campaign_form.blank(),
                           upload_errors=errors, status_code=exc.status_code)
        return render(request, "advertiser/media.html", {
            "title": "Creatives", "items": _media_reads(session, store, principal),
            "upload_errors": errors, "upload_path": UPLOAD_PATH}, principal=principal,
            status_code=exc.status_code)
    return redirect(f"/campaigns/new?media={media.id}" if to_wizard else f"/media/{media.id}")


@router.get("/media/{media_id}")
def media_page(request: Request, media_id: Id, principal: User, session: DbSession,
               store: ObjectStoreDep) -> Response:
    """One creative: its state and a preview per screen size once its renditions are made."""
    media = _one_media(session, store, principal, media_id)
    return render(request, "advertiser/media_page.html", {
        "title": media.filename or media.id, "media": media}, principal=principal)


@router.get("/media/{media_id}/previews")
def media_previews(request: Request, media_id: Id, principal: User, session: DbSession,
                   store: ObjectStoreDep) -> Response:
    """The previews of one creative, as a fragment that asks again while it is processing."""
    media = _one_media(session, store, principal, media_id)
    return render(request, "advertiser/_previews.html", {"media": media}, principal=principal)


# --- the wizard -----------------------------------------------------------------------------

def _wizard(request: Request, principal: Principal, session: DbSession, store: ObjectStore,
            values: campaign_form.Values, *, errors: FormErrors | None = None,
            upload_errors: FormErrors | None = None, forecast: Any = None,
            status_code: int = 200) -> Response:
    items = _media_reads(session, store, principal)
    chosen = values.get("media_id") or request.query_params.get("media", "")[:40]
    return render(request, "advertiser/wizard.html", {
        "title": "New campaign", "values": values, "errors": errors or FormErrors(),
        "upload_errors": upload_errors or FormErrors(), "items": items,
        "chosen": next((m for m in items if m.id == chosen), None),
        "categories": campaign_form.categories(), "venue_types": campaign_form.venue_types(),
        "currencies": campaign_form.CURRENCIES, "weekdays": campaign_form.WEEKDAYS,
        "age_bands": AGE_BANDS, "genders": GENDERS,
        "forecast": forecast, "upload_path": UPLOAD_PATH, "edit": None},
        principal=principal, status_code=status_code)


@router.get("/campaigns/new")
def wizard(request: Request, principal: User, session: DbSession,
           store: ObjectStoreDep,
           media: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """The campaign wizard: creative, category, flight, dayparts, targeting, budget."""
    authorize(principal, Resource.campaign, Action.create)
    values = campaign_form.blank()
    if media:
        values.text["media_id"] = media
    return _wizard(request, principal, session, store, values)


def _creative(form: FormData) -> tuple[CreativeCreate | None, FormErrors]:
    data = form_dict(form, "media_id", "duration_s")
    if "media_id" not in data:
        return None, FormErrors(media_id="Upload a creative or choose one")
    return validate(CreativeCreate, data, ("media_id", "duration_s"))


@router.post("/campaigns/new")
def wizard_post(request: Request, form: Posted, principal: User, session: DbSession,
                store: ObjectStoreDep, settings: SettingsDep) -> Response:
    """Forecast the campaign (nothing saved), or save it as a draft with its creative."""
    authorize(principal, Resource.campaign, Action.create)
    values = campaign_form.read(form)
    values.text["media_id"] = str(form.get("media_id") or "")[:40]
    values.text["duration_s"] = str(form.get("duration_s") or "")[:10]
    body, errors = campaign_form.check(values)
    creative, creative_errors = _creative(form)
    if form.get("step") == "forecast":
        if body is None:
            return _wizard(request, principal, session, store, values, errors=errors,
                           status_code=422)
        try:
            found = scheduling_preview.forecast(session=session, org_id=principal.org_id or "",
                                                campaign_in=body)
        except AppError as exc:
            return _wizard(request, principal, session, store, values,
                           errors=FormErrors.of(exc, campaign_form.FIELDS),
                           status_code=exc.status_code)
        return _wizard(request, principal, session, store, values, forecast=found)
    errors.update(creative_errors)
    if body is None or creative is None:
        return _wizard(request, principal, session, store, values, errors=errors,
                       status_code=422)
    assert principal.org_id is not None
    if not media_service.is_ready_media_of(session=session, media_id=creative.media_id,
                                           org_id=principal.org_id):
        return _wizard(request, principal, session, store, values, errors=FormErrors(
            media_id="This creative is not ready yet: wait for its previews, then save"),
            status_code=409)
    try:
        campaign = campaigns_service.create(session=session, org_id=principal.org_id,
                                            user_id=principal.user_id, campaign_in=body)
    except AppError as exc:
        return _wizard(request, principal, session, store, values,
                       errors=FormErrors.of(exc, campaign_form.FIELDS),
                       status_code=exc.status_code)
    try:
        campaigns_service.add_creative(session=session, campaign=campaign, creative_in=creative)
    except AppError as exc:  # saved, without its creative: its page says why and asks again
        return _campaign_page(request, principal, session, store, settings, campaign,
                              creative_errors=FormErrors.of(exc, ("media_id", "duration_s")),
                              status_code=exc.status_code)
    return redirect(f"/campaigns/{campaign.id}?saved=1")


# --- the campaign's page --------------------------------------------------------------------

def _campaign(session: DbSession, principal: Principal, campaign_id: str,
              action: Action) -> campaigns_service.Campaign:
    campaign = campaigns_service.get(session=session, campaign_id=campaign_id)
    authorize(principal, Resource.campaign, action, owner_org_id=campaign.org_id)
    return campaign


def _campaign_page(request: Request, principal: Principal, session: DbSession,
                   store: ObjectStore, settings: Any, campaign: campaigns_service.Campaign, *,
                   days: int = 30, metric: str = "plays",
                   creative_errors: FormErrors | None = None, action_error: AppError | None = None,
                   status_code: int = 200) -> Response:
    state = campaigns_service.state(campaign)
    media = {m.id: m for m in media_service.get_many(
        session=session, media_ids=[c.media_id for c in campaign.creatives])}
    creatives = [(c, media_handling.read(session=session, store=store, media=media[c.media_id])
                  if c.media_id in media else None) for c in campaign.creatives]
    delivered = reporting_service.delivery(session=session, campaign_ids=[campaign.id]) \
        .get(campaign.id, reporting_service.Delivery())
    context: dict[str, Any] = {
        "title": campaign.name, "campaign": campaign, "state": state, "creatives": creatives,
        "delivered": delivered, "days": days, "metric": metric,
        "metrics": campaign_delivery.METRICS, "periods": campaign_delivery.PERIODS,
        "creative_errors": creative_errors or FormErrors(), "action_error": action_error,
        "categories": dict((k, v) for _, group in campaign_form.categories() for k, v in group),
        "venue_types": dict(campaign_form.venue_types())}
    if delivered.plays:
        context["delivery"] = campaign_delivery.delivery(
            session=session, settings=settings, principal=principal, campaign_id=campaign.id,
            currency=campaign.currency, days=days, metric=metric)
    if state in ("draft", "pending_review", "rejected"):
        context.update(_preview(session, principal, campaign))
    if state == "draft":
        context["ready_media"] = [m for m in _media_reads(session, store, principal)
                                  if m.status == "ready" and m.org_id == campaign.org_id]
    return render(request, "advertiser/campaign.html", context, principal=principal,
                  status_code=status_code)


def _preview(session: DbSession, principal: Principal,
             campaign: campaigns_service.Campaign) -> dict[str, Any]:
    """The forecast and the screens it may play on, for a campaign not yet running."""
    out: dict[str, Any] = {}
    eligibility = scheduling_preview.campaign_eligibility(session=session, campaign=campaign,
                                                          exact=principal.is_superadmin)
    out["eligibility"] = eligibility
    out["map"] = charts.dots("Where the network's screens are", [
        charts.Dot(o.area.lon, o.area.lat, o.eligible_screens or o.screens,
                   f"{o.public_name or o.venue_type} ({o.eligible_screens} of {o.screens})")
        for o in eligibility.inventory], count_title="Screens")
    try:
        out["forecast"] = scheduling_preview.forecast(
            session=session, org_id=campaign.org_id, campaign_in=campaign_form.as_create(campaign))
    except (AppError, ValueError) as exc:  # e.g. a flight that is over: no forecast to give
        out["forecast_error"] = str(getattr(exc, "message", exc))
    return out


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: Id, principal: User, session: DbSession,
                  store: ObjectStoreDep, settings: SettingsDep, days: Days = 30,
                  metric: Annotated[campaign_delivery.Metric, Query()] = "plays") -> Response:
    """A campaign: its facts and state, creatives, delivery charts and where it played."""
    campaign = _campaign(session, principal, campaign_id, Action.read)
    return _campaign_page(request, principal, session, store, settings, campaign, days=days,
                          metric=metric)


@router.get("/campaigns/{campaign_id}/delivery.csv")
def campaign_csv(campaign_id: Id, principal: User, session: DbSession, settings: SettingsDep,
                 days: Days = 30,
                 group_by: Annotated[campaign_delivery.Grouping, Query()] = "day") -> Response:
    """The campaign's delivery report as CSV, the same as `/v1/reports/delivery?format=csv`."""
    campaign = _campaign(session, principal, campaign_id, Action.read)
    authorize(principal, Resource.report, Action.read)
    report = campaign_delivery.report(session=session, settings=settings, principal=principal,
                                      campaign_id=campaign.id, days=days, group_by=[group_by])
    name = f"delivery-{campaign.id}-{report.start:%Y%m%dT%H}-{report.end:%Y%m%dT%H}.csv"
    return StreamingResponse(report.csv_lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _act(request: Request, principal: Principal, session: DbSession, store: ObjectStore,
         settings: Any, campaign_id: str, action: str) -> Response:
    campaign = _campaign(session, principal, campaign_id, Action.update)
    try:
        if action == "submit":
            require_verified_email(principal)
            campaigns_service.submit(session=session, campaign=campaign)
        elif action == "pause":
            campaigns_service.pause(session=session, campaign=campaign)
        else:
            campaigns_service.resume(session=session, campaign=campaign)
    except AppError as exc:
        session.rollback()
        return _campaign_page(request, principal, session, store, settings, campaign,
                              action_error=exc, status_code=exc.status_code)
    return redirect(f"/campaigns/{campaign.id}?done={action}")


@router.post("/campaigns/{campaign_id}/submit")
def campaign_submit(request: Request, campaign_id: Id, _form: Posted, principal: User,
                    session: DbSession, store: ObjectStoreDep, settings: SettingsDep) -> Response:
    """Send the draft for review (a confirmed address first, as the API asks)."""
    return _act(request, principal, session, store, settings, campaign_id, "submit")


@router.post("/campaigns/{campaign_id}/pause")
def campaign_pause(request: Request, campaign_id: Id, _form: Posted, principal: User,
                   session: DbSession, store: ObjectStoreDep, settings: SettingsDep) -> Response:
    return _act(request, principal, session, store, settings, campaign_id, "pause")


@router.post("/campaigns/{campaign_id}/resume")
def campaign_resume(request: Request, campaign_id: Id, _form: Posted, principal: User,
                    session: DbSession, store: ObjectStoreDep, settings: SettingsDep) -> Response:
    return _act(request, principal, session, store, settings, campaign_id, "resume")


@router.post("/campaigns/{campaign_id}/creatives")
def campaign_add_creative(request: Request, campaign_id: Id, form: Posted, principal: User,
                          session: DbSession, store: ObjectStoreDep,
                          settings: SettingsDep) -> Response:
    """Add one of the org's ready creatives to the campaign."""
    campaign = _campaign(session, principal, campaign_id, Action.update)
    creative, errors = _creative(form)
    if creative is None:
        return _campaign_page(request, principal, session, store, settings, campaign,
                              creative_errors=errors, status_code=422)
    try:
        campaigns_service.add_creative(session=session, campaign=campaign, creative_in=creative)
    except AppError as exc:
        session.rollback()
        return _campaign_page(request, principal, session, store, settings, campaign,
                              creative_errors=FormErrors.of(exc, ("media_id", "duration_s")),
                              status_code=exc.status_code)
    return redirect(f"/campaigns/{campaign.id}")


@router.get("/campaigns/{campaign_id}/edit")
def campaign_edit(request: Request, campaign_id: Id, principal: User, session: DbSession,
                  store: ObjectStoreDep) -> Response:
    """A draft's fields, to change before it is submitted."""
    campaign = _campaign(session, principal, campaign_id, Action.update)
    return _edit_page(request, principal, session, store, campaign,
                      campaign_form.of(campaign), FormErrors())


def _edit_page(request: Request, principal: Principal, session: DbSession, store: ObjectStore,
               campaign: campaigns_service.Campaign, values: campaign_form.Values,
               errors: FormErrors, status_code: int = 200) -> Response:
    return render(request, "advertiser/wizard.html", {
        "title": f"Change {campaign.name}", "values": values, "errors": errors,
        "upload_errors": FormErrors(), "items": [], "chosen": None,
        "categories": campaign_form.categories(), "venue_types": campaign_form.venue_types(),
        "currencies": (campaign.currency,), "weekdays": campaign_form.WEEKDAYS,
        "age_bands": AGE_BANDS, "genders": GENDERS,
        "forecast": None, "upload_path": UPLOAD_PATH, "edit": campaign},
        principal=principal, status_code=status_code)


@router.post("/campaigns/{campaign_id}/edit")
def campaign_edit_post(request: Request, campaign_id: Id, form: Posted, principal: User,
                       session: DbSession, store: ObjectStoreDep) -> Response:
    """Save the changed fields (a submitted campaign goes back to review, as on the API)."""
    campaign = _campaign(session, principal, campaign_id, Action.update)
    values = campaign_form.read(form)
    values.text["currency"] = campaign.currency  # a campaign keeps its currency
    body, errors = campaign_form.check(values)
    if body is None:
        return _edit_page(request, principal, session, store, campaign, values, errors, 422)
    try:
        campaigns_service.update(session=session, campaign=campaign, campaign_in=CampaignUpdate(
            **body.model_dump(exclude={"currency"})))
    except AppError as exc:
        session.rollback()
        return _edit_page(request, principal, session, store, campaign, values,
                          FormErrors.of(exc, campaign_form.FIELDS), exc.status_code)
    return redirect(f"/campaigns/{campaign.id}")


# --- invoices -------------------------------------------------------------------------------

@router.get("/invoices")
def invoices(request: Request, principal: User, session: DbSession,
             provider: PaymentProviderDep) -> Response:
    """The org's invoices and how to pay them (super-admins: everyone's)."""
    org_id = billing_service.reader_org(principal=principal)
    found = billing_service.list_invoices(session=session, org_id=org_id)
    return render(request, "advertiser/invoices.html", {
        "title": "Invoices", "offline": provider.offline,
        "invoices": [billing_service.invoice_read(session=session, invoice=i) for i in found]},
        principal=principal)


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: Id, principal: User, session: DbSession,
                 provider: PaymentProviderDep) -> Response:
    """One invoice: its lines, its state and how to pay it."""
    invoice = billing_service.get_invoice(session=session, invoice_id=invoice_id,
                                          org_id=billing_service.reader_org(principal=principal))
    return render(request, "advertiser/invoice.html", {
        "title": f"Invoice {invoice.number or invoice.id}", "offline": provider.offline,
        "invoice": billing_service.invoice_read(session=session, invoice=invoice)},
        principal=principal)


@router.post("/invoices/{invoice_id}/mark-paid")
def invoice_mark_paid(invoice_id: Id, _form: Posted, principal: User, session: DbSession,
                      provider: PaymentProviderDep) -> Response:
    """Record an offline invoice as paid (super-admins, payments offline only, as the API)."""
    require_superadmin(principal)
    billing_service.mark_paid(session=session, provider=provider, invoice_id=invoice_id)
    return redirect(f"/invoices/{invoice_id}")
