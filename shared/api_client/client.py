"""A typed client of the ADSBIN REST API, for the dashboard's tests and analytics consumers.

`ApiClient` speaks the API's JSON through the pydantic models generated from its OpenAPI
document (`models.py`, `make types`): requests are built from them, answers are validated into
them. It owns an `httpx.Client`, or borrows any client with httpx's `request()` (`HttpClient`:
a Starlette `TestClient` for an app in the same process, which is an httpx2 client), and sends
its bearer token with every request: a user's access token (which `signup` and `login` keep) or
an org's read-only API key. Paths are written as the document writes them
(`/v1/venues/{venue_id}`); a test checks that each is in the document.

The exceptions::

    ClientError
    ├── ApiError        the API answered 4xx or 5xx: status, and the body's code, message, details
    └── ApiUnreachable  no answer: refused, timed out, broken off (httpx's TransportError; a
                        borrowed client of another library raises its own)

An answer of 2xx that its model rejects raises pydantic's `ValidationError`: the models are
older than the API (`make types`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from shared.api_client import models

TIMEOUT_S = 30.0  # a delivery report over many screens takes seconds, not minutes
M = TypeVar("M", bound=BaseModel)
Query = Mapping[str, str | int | None]
Files = Mapping[str, tuple[str, bytes | IO[bytes], str | None]]


class HttpResponse(Protocol):
    """What the client reads of an answer."""

    @property
    def status_code(self) -> int: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class HttpClient(Protocol):
    """The one call the client makes of an HTTP client: httpx's `Client.request`."""

    def request(self, method: str, url: str, *, params: Mapping[str, str | int],
                headers: Mapping[str, str], json: Any, files: Files | None,
                data: Mapping[str, str] | None) -> HttpResponse: ...


class ClientError(Exception):
    """Anything that kept a call from getting the answer it asked for."""


class ApiError(ClientError):
    """The API's answer of 4xx or 5xx, from its body `{"error": {code, message, details}}`."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, response: HttpResponse) -> ApiError:
        """The error an answer carries; one that is not the API's own (a proxy's 502, say)
        is `http_<status>` with the start of its text."""
        try:
            error = response.json()["error"]
            return cls(response.status_code, str(error["code"]), str(error["message"]),
                       error.get("details"))
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, f"http_{response.status_code}",
                       response.text[:200] or response.reason_phrase)


class ApiUnreachable(ClientError):
    """No answer came: the connection was refused, timed out or broke off."""


class ApiClient:
    """The ADSBIN REST API, one method per call, over one HTTP client."""

    def __init__(self, base_url: str = "", *, token: str | None = None,
                 timeout_s: float = TIMEOUT_S, http: HttpClient | None = None) -> None:
        self.token = token  # an access token or an API key: both are bearer tokens
        self._owned: httpx.Client | None = None
        if http is None:
            http = self._owned = httpx.Client(base_url=base_url,
                                              timeout=httpx.Timeout(timeout_s))
        self._http = http

    def close(self) -> None:
        """Close the HTTP client, if this client made it (a borrowed one is its owner's)."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- the one way out ----------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                 body: BaseModel | None = None, query: Query | None = None,
                 files: Files | None = None,
                 data: Mapping[str, str] | None = None) -> HttpResponse:
        """Send a request to `path` (the document's template, filled with `params`); the
        answer if 2xx, else ApiError."""
        url = path.format_map({k: quote(v, safe="") for k, v in (params or {}).items()})
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        json = None if body is None else body.model_dump(mode="json", by_alias=True,
                                                         exclude_unset=True)
        try:
            response = self._http.request(
                method, url, headers=headers, json=json, files=files, data=data,
                params={k: v for k, v in (query or {}).items() if v is not None})
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"{method} {url}: {exc}") from exc
        if response.is_error:
            raise ApiError.from_response(response)
        return response

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._request(method, path, **kwargs).json())

    # --- identity -----------------------------------------------------------------------

    def signup(self, request: models.SignupRequest) -> models.SignupResponse:
        """A new user and their org (the user its admin); the client then acts as them."""
        answer = self._model(models.SignupResponse, "POST", "/v1/auth/signup", body=request)
        self.token = answer.access_token
        return answer

    def login(self, email: str, password: str, *,
              org_id: str | None = None) -> models.TokenResponse:
        """An access token for a password (acting in `org_id`, else the user's first org);
        the client then acts with it. Signing in again is how a token is renewed."""
        request = models.TokenRequest(email=email, password=password, org_id=org_id)
        answer = self._model(models.TokenResponse, "POST", "/v1/auth/token", body=request)
        self.token = answer.access_token
        return answer

    def verify_email(self, token: str) -> models.Accepted:
        """Confirm an address with the token its emailed link carries."""
        return self._model(models.Accepted, "POST", "/v1/auth/verify-email",
                           body=models.TokenOnly(token=token))

    def me(self) -> models.MeResponse:
        """The signed-in user, their memberships and roles."""
        return self._model(models.MeResponse, "GET", "/v1/me")

    def create_api_key(self, name: str) -> models.ApiKeyCreated:
        """A read-only key of the caller's org for analytics consumers (shown this once)."""
        return self._model(models.ApiKeyCreated, "POST", "/v1/api-keys",
                           body=models.ApiKeyCreate(name=name))

    # --- orgs ---------------------------------------------------------------------------

    def orgs(self) -> models.OrgPage:
        """The orgs the caller belongs to."""
        return self._model(models.OrgPage, "GET", "/v1/orgs")

    def org(self, org_id: str) -> models.OrgRead:
        """One org."""
        return self._model(models.OrgRead, "GET", "/v1/orgs/{org_id}",
                           params={"org_id": org_id})

    def members(self, org_id: str) -> models.MemberPage:
        """An org's members and their roles."""
        return self._model(models.MemberPage, "GET", "/v1/orgs/{org_id}/members",
                           params={"org_id": org_id})

    def add_member(self, org_id: str, member: models.MemberCreate) -> models.InvitationCreated:
        """Invite someone to an org with a role."""
        return self._model(models.InvitationCreated, "POST", "/v1/orgs/{org_id}/members",
                           params={"org_id": org_id}, body=member)

    # --- media and the taxonomies -------------------------------------------------------

    def upload_media(self, filename: str, content: bytes | IO[bytes], *,
                     content_type: str | None = None,
                     fit: Literal["letterbox", "cover"] | None = None) -> models.MediaRead:
        """Upload an image or a video; it is `processing` until its renditions are made."""
        return self._model(models.MediaRead, "POST", "/v1/media",
                           files={"file": (filename, content, content_type)},
                           data={"fit": fit} if fit else None)

    def media(self, media_id: str) -> models.MediaRead:
        """One upload: its status and renditions."""
        return self._model(models.MediaRead, "GET", "/v1/media/{media_id}",
                           params={"media_id": media_id})

    def media_list(self) -> models.MediaPage:
        """The org's uploads."""
        return self._model(models.MediaPage, "GET", "/v1/media")

    def venue_types(self) -> models.VenueTypePage:
        """The OpenOOH venue taxonomy."""
        return self._model(models.VenueTypePage, "GET", "/v1/venue-types")

    def ad_categories(self) -> models.AdCategoryPage:
        """The IAB Ad Product Taxonomy 2.0."""
        return self._model(models.AdCategoryPage, "GET", "/v1/ad-categories")

    # --- venues and screens -------------------------------------------------------------

    def create_venue(self, venue: models.VenueCreate) -> models.VenueRead:
        """A venue of the caller's (venue) org."""
        return self._model(models.VenueRead, "POST", "/v1/venues", body=venue)

    def venues(self) -> models.VenuePage:
        """The caller's venues (every venue, for a super-admin)."""
        return self._model(models.VenuePage, "GET", "/v1/venues")

    def venue(self, venue_id: str) -> models.VenueRead:
        """One venue."""
        return self._model(models.VenueRead, "GET", "/v1/venues/{venue_id}",
                           params={"venue_id": venue_id})

    def update_venue(self, venue_id: str, changes: models.VenueUpdate) -> models.VenueRead:
        """Change the fields set in `changes`."""
        return self._model(models.VenueRead, "PATCH", "/v1/venues/{venue_id}",
                           params={"venue_id": venue_id}, body=changes)

    def delete_venue(self, venue_id: str) -> None:
        """Delete a venue and its screens."""
        self._request("DELETE", "/v1/venues/{venue_id}", params={"venue_id": venue_id})

    def create_screen(self, venue_id: str, screen: models.ScreenCreate) -> models.ScreenRead:
        """A screen in a venue, unpaired until a device claims it."""
        return self._model(models.ScreenRead, "POST", "/v1/venues/{venue_id}/screens",
                           params={"venue_id": venue_id}, body=screen)

    def screens(self, venue_id: str) -> models.ScreenPage:
        """A venue's screens."""
        return self._model(models.ScreenPage, "GET", "/v1/venues/{venue_id}/screens",
                           params={"venue_id": venue_id})

    def screen(self, screen_id: str) -> models.ScreenRead:
        """One screen: status, last seen, what it plays."""
        return self._model(models.ScreenRead, "GET", "/v1/screens/{screen_id}",
                           params={"screen_id": screen_id})

    # --- campaigns and moderation -------------------------------------------------------

    def create_campaign(self, campaign: models.CampaignCreate) -> models.CampaignRead:
        """A draft campaign of the caller's (advertiser) org."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns", body=campaign)

    def campaigns(self, state: str | None = None) -> models.CampaignPage:
        """The caller's campaigns, in `state` only if given."""
        return self._model(models.CampaignPage, "GET", "/v1/campaigns",
                           query={"state": state})

    def campaign(self, campaign_id: str) -> models.CampaignRead:
        """One campaign with its delivery so far."""
        return self._model(models.CampaignRead, "GET", "/v1/campaigns/{campaign_id}",
                           params={"campaign_id": campaign_id})

    def update_campaign(self, campaign_id: str,
                        changes: models.CampaignUpdate) -> models.CampaignRead:
        """Change the fields set in `changes` (an approved campaign goes back to review)."""
        return self._model(models.CampaignRead, "PATCH", "/v1/campaigns/{campaign_id}",
                           params={"campaign_id": campaign_id}, body=changes)

    def add_creative(self, campaign_id: str, media_id: str, *,
                     duration_s: int | None = None) -> models.CreativeRead:
        """Add a ready upload to a campaign (images need `duration_s`)."""
        creative = models.CreativeCreate(media_id=media_id, duration_s=duration_s)
        return self._model(models.CreativeRead, "POST", "/v1/campaigns/{campaign_id}/creatives",
                           params={"campaign_id": campaign_id}, body=creative)

    def forecast(self, campaign: models.CampaignCreate) -> models.Forecast:
        """What the scheduler would plan for this campaign, were it approved now."""
        return self._model(models.Forecast, "POST", "/v1/campaigns/forecast", body=campaign)

    def submit_campaign(self, campaign_id: str) -> models.CampaignRead:
        """Send a draft for review."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns/{campaign_id}/submit",
                           params={"campaign_id": campaign_id})

    def approve_campaign(self, campaign_id: str) -> models.CampaignRead:
        """Approve a campaign under review (super-admin)."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns/{campaign_id}/approve",
                           params={"campaign_id": campaign_id})

    def reject_campaign(self, campaign_id: str, reason: str) -> models.CampaignRead:
        """Reject a campaign under review, saying why (super-admin)."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns/{campaign_id}/reject",
                           params={"campaign_id": campaign_id},
                           body=models.ReviewNote(reason=reason))

    def pause_campaign(self, campaign_id: str) -> models.CampaignRead:
        """Stop a running campaign from playing."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns/{campaign_id}/pause",
                           params={"campaign_id": campaign_id})

    def resume_campaign(self, campaign_id: str) -> models.CampaignRead:
        """Let a paused campaign play again."""
        return self._model(models.CampaignRead, "POST", "/v1/campaigns/{campaign_id}/resume",
                           params={"campaign_id": campaign_id})

    def moderation_queue(self) -> models.ModerationQueue:
        """What waits for the venue's say before it plays on its screens."""
        return self._model(models.ModerationQueue, "GET", "/v1/moderation/queue")

    def approve_moderation(self, item_id: str,
                           decision: models.DecisionBody | None = None) -> models.DecisionRead:
        """Let an ad (or, with scope `advertiser`, all of theirs) play on the venue."""
        return self._model(models.DecisionRead, "POST", "/v1/moderation/{item_id}/approve",
                           params={"item_id": item_id}, body=decision)

    def reject_moderation(self, item_id: str,
                          decision: models.DecisionBody) -> models.DecisionRead:
        """Keep an ad (or all of an advertiser's) off the venue's screens."""
        return self._model(models.DecisionRead, "POST", "/v1/moderation/{item_id}/reject",
                           params={"item_id": item_id}, body=decision)

    # --- reports, invoices, payouts -----------------------------------------------------

    def delivery_report(self, *, group_by: Sequence[str] = (), start: datetime | None = None,
                        end: datetime | None = None, campaign_id: str | None = None,
                        screen_id: str | None = None,
                        venue_id: str | None = None) -> models.DeliveryReport:
        """Plays, impressions, seconds and money per group, scoped to the caller
        (`start`/`end`: the API's `from`/`to`, aware datetimes)."""
        query = _report_query(group_by, start, end, campaign_id, screen_id, venue_id)
        return self._model(models.DeliveryReport, "GET", "/v1/reports/delivery", query=query)

    def delivery_report_csv(self, *, group_by: Sequence[str] = (),
                            start: datetime | None = None, end: datetime | None = None,
                            campaign_id: str | None = None, screen_id: str | None = None,
                            venue_id: str | None = None) -> str:
        """The same report as CSV (its rows, without the totals)."""
        query = {**_report_query(group_by, start, end, campaign_id, screen_id, venue_id),
                 "format": "csv"}
        return self._request("GET", "/v1/reports/delivery", query=query).text

    def invoices(self, *, status: str | None = None,
                 limit: int | None = None) -> models.InvoicePage:
        """The caller's invoices, newest first."""
        return self._model(models.InvoicePage, "GET", "/v1/invoices",
                           query={"status": status, "limit": limit})

    def invoice(self, invoice_id: str) -> models.InvoiceRead:
        """One invoice with its lines."""
        return self._model(models.InvoiceRead, "GET", "/v1/invoices/{invoice_id}",
                           params={"invoice_id": invoice_id})

    def payout_statements(self, period_start: datetime,
                          period_end: datetime) -> models.StatementPage:
        """A venue org's earnings in a period, per venue and screen."""
        return self._model(models.StatementPage, "GET", "/v1/payouts/statements",
                           query={"period_start": period_start.isoformat(),
                                  "period_end": period_end.isoformat()})

    # --- notifications ------------------------------------------------------------------

    def notifications(self, *, limit: int | None = None) -> models.NotificationPage:
        """What was sent to the caller, per channel, with its delivery status."""
        return self._model(models.NotificationPage, "GET", "/v1/notifications",
                           query={"limit": limit})

    def mark_notification_read(self, notification_id: str) -> None:
        """Mark one notification read."""
        self._request("POST", "/v1/notifications/{notification_id}/read",
                      params={"notification_id": notification_id})

    def notification_preferences(self) -> models.PreferencesRead:
        """The caller's channels per kind of notification."""
        return self._model(models.PreferencesRead, "GET", "/v1/me/notification-preferences")

    def set_notification_preferences(self,
                                     changes: models.PreferencesIn) -> models.PreferencesRead:
        """Switch channels on or off per kind of notification."""
        return self._model(models.PreferencesRead, "PUT", "/v1/me/notification-preferences",
                           body=changes)


def _report_query(group_by: Sequence[str], start: datetime | None, end: datetime | None,
                  campaign_id: str | None, screen_id: str | None,
                  venue_id: str | None) -> dict[str, str | int | None]:
    return {"group_by": ",".join(group_by), "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "campaign_id": campaign_id,
            "screen_id": screen_id, "venue_id": venue_id}
