"""The tenancy matrix: every operation of the app × every kind of caller, with a second tenant's
objects in the path.

What is walked: the operations of the OpenAPI document, and the routes left out of it
(`include_in_schema=False`: the docs, `/openapi.json`, HEAD of signed storage URLs, the short
link `/r/{code}`, the account pages of emailed links, Stripe's onboarding return pages). The
dashboard's HTML pages are left out on purpose: `tests/control_plane/dashboard/test_every_page.py`
walks them for every role. Every walked operation must be in `TABLE` with a class, and every
entry of `TABLE` must still be an operation: a new route fails this test until it is classified.

The classes (how a caller is expected to be answered):

- `public`: no sign-in; sent anonymously (a caller's token changes nothing): never a 500, and a
  read is never refused (401/403);
- `signed`: the signature in the URL is the authority: without it, every caller gets a 4xx;
- `webhook`: signed by a provider (Clerk, Stripe, Coconut, Resend, Twilio, the broker's hook
  secret): unsigned, every caller gets a 4xx, whatever its token;
- `device`: a paired device's token: people, keys and anonymous callers get 401; an id of
  another screen's object answers the device as an id that does not exist does (404);
- `any_user` / `any_principal`: the caller's own things (`/v1/me...`): every person may, an API
  key may not (403; `any_principal`: it may), no token is 401;
- `superadmin`: super-admins only: everyone else 403 (401 without a token);
- `org_create(resource, action)`: no object in the path; `control_plane.auth.policy.allowed`
  says who may (else 403);
- `org_list(resource)`: a list scoped to the caller's org: who may read it as the policy says,
  and no other tenant's id ever appears in the body;
- `org_object(resource, action, owner)`: an object of `owner`'s org in the path: its org's
  roles as the policy says (403 else), a super-admin may; any other org gets exactly what an id
  that does not exist gets (404, or a 403 decided by its role before the object is looked up);
- `user_object`: a person's own object (a notification): another person gets 404.

The callers: A's admin, B's admin, V's admin, member and technician, W's admin, an API key of A
and one of V (read-only analytics: `auth/service.py` gives them the scope `read`, and
`policy.API_KEY_READABLE` says what it reads), a super-admin, the devices of V's and of W's
screen, and nobody (no token). A path names the first tenants' objects (A's or V's); a second
request with ids of the same shape that name nothing tells what "not found" looks like.

A read the policy allows must succeed (2xx/3xx). Writes are sent only to callers that must be
refused (what an allowed write does is each domain's own tests' business), and after each
operation that writes, the first tenants' objects are read again: nothing has changed.

No answer to anyone is a 500, and no body (answer or error) shows an id of another tenant (a
rival sees none of A's or V's; A and V see each other's campaign, screen and so on, which the
campaign playing there shares, but not each other's keys, invitations or people).

Beyond the paths, `CROSS` has a rival name the first tenants' objects in its own paths, bodies
and query filters (a creative of A's media in B's campaign, V's member in W's org, A's campaign
as a filter of B's report...): answered as ids that name nothing are. `KNOWN` lists what this
found and is not fixed yet, as strict xfails.

One world is built for the module, through the API, on SQLite only: two advertiser orgs (A and
its rival B) each with a ready media, an approved campaign with a creative and a tracked link,
an invoice; two venue orgs (V and its rival W) each with a venue, a screen paired to a device
(which played the campaign of its advertiser), a command; V has a member and a technician;
invitations and API keys. The API tests of each domain run on both databases; this one asks
about who may call what, which does not depend on the database.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount, Route

from control_plane import migrate
from control_plane.app import DASHBOARD_PAGES, create_app
from control_plane.auth.policy import Action, Principal, Resource, allowed
from control_plane.auth.service import API_KEY_SCOPES
from control_plane.orgs import service as orgs_service
from control_plane.reporting.models import PopBatchRecord
from control_plane.settings import Settings
from tests import media_samples
from tests.control_plane.reporting.conftest import ALWAYS_OPEN, Device, pair_device
from tests.helpers import PASSWORD, Account, bearer, login, signup, until

R, A = Resource, Action
PARAM = re.compile(r"\{([a-z_0-9]+)(?::[a-z]+)?\}")
OK = frozenset(range(200, 400))  # 2xx, and the redirects and 304 of a read that succeeds

# -- the callers ---------------------------------------------------------------------------------

# role -> (tenant, org kind, role in the org); the tenants: A and B advertisers, V and W venues
USERS = {"adv_admin": ("A", "advertiser", "admin"), "adv_rival": ("B", "advertiser", "admin"),
         "venue_admin": ("V", "venue", "admin"), "venue_member": ("V", "venue", "member"),
         "venue_tech": ("V", "venue", "technician"), "venue_rival": ("W", "venue", "admin")}
API_KEY, VENUE_KEY = "api_key", "venue_api_key"  # API keys of A and of V (read-only analytics)
KEYS = {API_KEY: ("A", "advertiser"), VENUE_KEY: ("V", "venue")}
SUPER = "superadmin"
DEVICE, RIVAL_DEVICE = "device", "rival_device"  # the devices of V's and of W's screen
ANON = "anonymous"
ROLES = (*USERS, *KEYS, SUPER, DEVICE, RIVAL_DEVICE, ANON)
RIVALS = ("adv_rival", "venue_rival", RIVAL_DEVICE)


def principal_of(role: str) -> Principal:
    """The principal the app makes of the role's credential (for `policy.allowed`)."""
    if role in KEYS:
        tenant, kind = KEYS[role]
        return Principal(kind="api_key", user_id=None, org_id=tenant, org_kind=kind,
                         role=None, scopes=frozenset(API_KEY_SCOPES))
    tenant, kind, org_role = USERS[role]
    return Principal(kind="user", user_id=role, org_id=tenant, org_kind=kind, role=org_role)


def tenant_of(role: str) -> str | None:
    return KEYS[role][0] if role in KEYS else USERS[role][0] if role in USERS else None


# -- the classification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """How one operation answers each caller (see the module docstring), and what to send."""

    cls: str
    resource: Resource | None = None
    action: Action | None = None
    owner: str | None = None  # the tenant whose object the path names: "A" or "V"
    json: Any = None
    query: dict[str, str] | None = None
    files: bool = False  # a multipart upload of a PNG
    content: bytes | None = None
    # a POST that changes nothing (a forecast): allowed callers are sent it too
    safe: bool = False
    # what counts as success for a caller who may (a read of something that may be absent)
    ok: frozenset[int] = OK
    # where a route answers a role otherwise than its class says, and why (in a comment)
    expect: dict[str, frozenset[int]] = field(default_factory=dict)


def public(**kw: Any) -> Op:
    return Op("public", **kw)


def signed(**kw: Any) -> Op:
    return Op("signed", **kw)


def webhook(**kw: Any) -> Op:
    return Op("webhook", **kw)


def device(**kw: Any) -> Op:
    return Op("device", **kw)


def any_user(**kw: Any) -> Op:
    return Op("any_user", **kw)


def superadmin(**kw: Any) -> Op:
    return Op("superadmin", **kw)


def org_create(resource: Resource, action: Action = A.create, **kw: Any) -> Op:
    return Op("org_create", resource, action, **kw)


def org_list(resource: Resource, **kw: Any) -> Op:
    return Op("org_list", resource, A.read, **kw)


def org_object(resource: Resource, action: Action, owner: str, **kw: Any) -> Op:
    return Op("org_object", resource, action, owner, **kw)


NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
PERIOD = {"period_start": (NOW - timedelta(hours=3)).isoformat(),
          "period_end": (NOW - timedelta(hours=1)).isoformat()}
VENUE = {"name": "Bar", "lat": 48.86, "lon": 2.35, "timezone": "Europe/Paris",
         "venue_type_id": 1, "opening_hours": ALWAYS_OPEN}
SCREEN = {"name": "TV", "width_px": 1920, "height_px": 1080}
CAMPAIGN = {"name": "Sale", "category": "1003", "currency": "EUR", "budget_cents": 10_000,
            "cpm_cents": 500, "start_at": (NOW + timedelta(days=1)).isoformat(),
            "end_at": (NOW + timedelta(days=30)).isoformat()}
AUDIENCE = {"source": "owner_estimate", "dwell_minutes": 30,
            "dayparts": [{"weekdays": ["mon"], "start": "07:00", "end": "10:00",
                          "viewers_per_hour": 80}],
            "age": {"18-24": 0.1, "25-34": 0.3, "35-44": 0.3, "45-54": 0.2, "55-64": 0.1},
            "gender": {"female": 0.55, "male": 0.45}}
PAIRING = {"fingerprint": "f" * 32, "public_key": "A" * 43 + "=",
           "display": {"width_px": 1920, "height_px": 1080}, "agent_version": "0.1.0"}
HEARTBEAT = {"schema": "adsbin.heartbeat/v1", "sent_at": NOW.isoformat(), "agent_version": "1"}
POP = {"schema": "adsbin.pop-batch/v1", "batch_id": "b1", "device_id": "dev_x", "records": [],
       "signature": "x"}
PUSH = {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "x", "auth": "y"}}
NO_KEYS = frozenset({403})  # a key reads analytics only: `user_only` / `no_org` before the object

TABLE: dict[tuple[str, str], Op] = {
    # docs and ops
    ("GET", "/openapi.json"): public(), ("GET", "/docs"): public(),
    ("GET", "/docs/oauth2-redirect"): public(), ("GET", "/redoc"): public(),
    ("GET", "/healthz"): public(),
    # identity
    ("GET", "/.well-known/jwks.json"): public(),
    ("POST", "/v1/auth/signup"): public(json={
        "email": "new@example.com", "password": PASSWORD, "name": "N", "org_name": "N",
        "org_kind": "advertiser"}),
    ("POST", "/v1/auth/token"): public(json={"email": "nobody@example.com", "password": "x"},
                                       expect={ANON: frozenset({401})}),
    ("POST", "/v1/auth/invitations/accept"): public(json={"token": "x", "password": PASSWORD}),
    ("POST", "/v1/auth/verify-email"): public(json={"token": "x"}),
    ("POST", "/v1/auth/verify-email/resend"): any_user(),
    ("POST", "/v1/auth/password-reset"): public(json={"email": "nobody@example.com"}),
    ("POST", "/v1/auth/password-reset/confirm"): public(json={"token": "x",
                                                              "password": PASSWORD}),
    ("GET", "/v1/me"): any_user(),
    ("GET", "/v1/api-keys"): org_list(R.api_key),
    ("POST", "/v1/api-keys"): org_create(R.api_key, json={"name": "k"}),
    ("DELETE", "/v1/api-keys/{key_id}"): org_object(R.api_key, A.delete, "V"),
    # orgs (the path names V)
    ("GET", "/v1/orgs"): any_user(),
    ("GET", "/v1/orgs/{org_id}"): org_object(R.org, A.read, "V"),
    ("GET", "/v1/orgs/{org_id}/members"): org_object(R.member, A.read, "V"),
    ("POST", "/v1/orgs/{org_id}/members"): org_object(
        R.member, A.create, "V", json={"email": "x@example.com", "role": "member"}),
    ("GET", "/v1/orgs/{org_id}/invitations"): org_object(R.member, A.update, "V"),
    ("DELETE", "/v1/orgs/{org_id}/invitations/{invitation_id}"): org_object(
        R.member, A.update, "V"),
    ("PATCH", "/v1/orgs/{org_id}/members/{user_id}"): org_object(
        R.member, A.update, "V", json={"role": "admin"}),
    ("DELETE", "/v1/orgs/{org_id}/members/{user_id}"): org_object(R.member, A.update, "V"),
    # webhooks and broker hooks
    ("POST", "/v1/webhooks/clerk"): webhook(json={}),
    ("POST", "/v1/webhooks/coconut"): webhook(json={}),
    ("POST", "/v1/webhooks/stripe"): webhook(json={}),
    ("POST", "/v1/webhooks/resend"): webhook(json={}),
    ("POST", "/v1/webhooks/twilio/status"): webhook(),
    ("POST", "/v1/mqtt/auth"): webhook(json={"username": "u", "password": "p"}),
    ("POST", "/v1/mqtt/acl"): webhook(json={"username": "u", "topic": "t",
                                            "action": "publish"}),
    # signed storage URLs (the path: an object of A's media, without its signature)
    ("GET", "/v1/storage/{key}"): signed(), ("HEAD", "/v1/storage/{key}"): signed(),
    ("PUT", "/v1/storage/{key}"): signed(content=b"x"),
    # media
    ("GET", "/v1/media"): org_list(R.media),
    ("POST", "/v1/media"): org_create(R.media, files=True),
    ("POST", "/v1/media/uploads"): org_create(R.media, json={"filename": "a.png"}),
    ("POST", "/v1/media/uploads/{upload_id}/complete"): org_object(
        R.media, A.create, "A", json={"filename": "a.png"},
        # the upload id is looked up under the caller's own org only: another org's id is
        # one that does not exist for it, and its role decides first (403 for a technician)
    ),
    ("GET", "/v1/media/{media_id}"): org_object(R.media, A.read, "A"),
    # taxonomies: anyone signed in, keys too
    ("GET", "/v1/venue-types"): Op("any_principal"),
    ("GET", "/v1/ad-categories"): Op("any_principal"),
    # venues and screens
    ("GET", "/v1/venues"): org_list(R.venue),
    ("POST", "/v1/venues"): org_create(R.venue, json=VENUE),
    ("GET", "/v1/venues/{venue_id}"): org_object(R.venue, A.read, "V"),
    ("PATCH", "/v1/venues/{venue_id}"): org_object(R.venue, A.update, "V",
                                                   json={"name": "Taken"}),
    ("DELETE", "/v1/venues/{venue_id}"): org_object(R.venue, A.delete, "V"),
    ("POST", "/v1/venues/{venue_id}/screens"): org_object(R.screen, A.create, "V", json=SCREEN),
    ("GET", "/v1/venues/{venue_id}/screens"): org_object(R.screen, A.read, "V"),
    ("GET", "/v1/screens/{screen_id}"): org_object(R.screen, A.read, "V"),
    ("PATCH", "/v1/screens/{screen_id}"): org_object(R.screen, A.update, "V",
                                                     json={"name": "Taken"}),
    ("DELETE", "/v1/screens/{screen_id}"): org_object(R.screen, A.delete, "V"),
    ("GET", "/v1/venues/{venue_id}/audience"): org_object(R.venue, A.read, "V"),
    ("PUT", "/v1/venues/{venue_id}/audience"): org_object(R.venue, A.update, "V",
                                                          json=AUDIENCE),
    ("GET", "/v1/screens/{screen_id}/audience"): org_object(R.screen, A.read, "V"),
    ("PUT", "/v1/screens/{screen_id}/audience"): org_object(R.screen, A.update, "V",
                                                            json=AUDIENCE),
    ("DELETE", "/v1/screens/{screen_id}/audience"): org_object(R.screen, A.update, "V"),
    ("GET", "/v1/screens/{screen_id}/timeline"): org_object(R.screen, A.read, "V"),
    ("POST", "/v1/screens/{screen_id}/pair"): org_object(R.screen, A.manage, "V",
                                                         json={"code": "ABC-DEF"}),
    ("DELETE", "/v1/screens/{screen_id}/device"): org_object(R.screen, A.manage, "V"),
    ("POST", "/v1/screens/{screen_id}/commands"): org_object(R.screen, A.manage, "V",
                                                             json={"type": "identify"}),
    ("GET", "/v1/screens/{screen_id}/commands/{command_id}"): org_object(R.screen, A.read,
                                                                         "V"),
    # campaigns
    ("POST", "/v1/campaigns"): org_create(R.campaign, json=CAMPAIGN),
    ("POST", "/v1/campaigns/forecast"): org_create(R.campaign, json=CAMPAIGN, safe=True),
    ("GET", "/v1/campaigns"): org_list(R.campaign),
    ("GET", "/v1/campaigns/{campaign_id}"): org_object(R.campaign, A.read, "A"),
    ("PATCH", "/v1/campaigns/{campaign_id}"): org_object(R.campaign, A.update, "A",
                                                         json={"name": "Taken"}),
    ("POST", "/v1/campaigns/{campaign_id}/creatives"): org_object(
        R.campaign, A.update, "A", json={"media_id": "{media_id}", "duration_s": 10}),
    ("POST", "/v1/campaigns/{campaign_id}/submit"): org_object(R.campaign, A.update, "A"),
    ("POST", "/v1/campaigns/{campaign_id}/pause"): org_object(R.campaign, A.update, "A"),
    ("POST", "/v1/campaigns/{campaign_id}/resume"): org_object(R.campaign, A.update, "A"),
    ("POST", "/v1/campaigns/{campaign_id}/approve"): superadmin(),
    ("POST", "/v1/campaigns/{campaign_id}/reject"): superadmin(json={"reason": "no"}),
    ("GET", "/v1/campaigns/{campaign_id}/eligibility"): org_object(R.campaign, A.read, "A"),
    ("POST", "/v1/campaigns/{campaign_id}/tracked-link"): org_object(
        R.campaign, A.update, "A", json={"landing_url": "https://example.com/taken"}),
    ("GET", "/v1/campaigns/{campaign_id}/tracked-link"): org_object(R.campaign, A.read, "A"),
    ("DELETE", "/v1/campaigns/{campaign_id}/tracked-link"): org_object(R.campaign, A.update,
                                                                       "A"),
    ("GET", "/v1/campaigns/{campaign_id}/tracked-link/qr.png"): org_object(R.campaign, A.read,
                                                                           "A"),
    ("GET", "/v1/campaigns/{campaign_id}/tracked-link/qr.svg"): org_object(R.campaign, A.read,
                                                                           "A"),
    ("GET", "/r/{code}"): public(), ("HEAD", "/r/{code}"): public(),
    # moderation (an item: V's venue ~ A's creative)
    ("GET", "/v1/moderation/queue"): org_list(R.moderation),
    ("POST", "/v1/moderation/{item_id}/approve"): org_object(R.moderation, A.manage, "V",
                                                             json={}),
    ("POST", "/v1/moderation/{item_id}/reject"): org_object(R.moderation, A.manage, "V",
                                                            json={"reason": "no"}),
    # the device API (V's device is the owner of what the path names)
    # anonymous, as a unit asks; with a token, that of someone who may pair screens (their
    # own larger budget): anyone else's token is refused, a device's is not a person's
    ("POST", "/v1/device/pairings"): public(json=PAIRING, expect={
        **dict.fromkeys(("venue_admin", "venue_tech", "venue_rival", SUPER), frozenset({201})),
        **dict.fromkeys(("adv_admin", "adv_rival", "venue_member", *KEYS), frozenset({403})),
        DEVICE: frozenset({401}), RIVAL_DEVICE: frozenset({401})}),
    ("GET", "/v1/device/pairings/{pairing_id}"): public(),  # the id is the secret
    ("GET", "/v1/device/playlist"): device(),
    ("GET", "/v1/device/media/{sha256}"): device(),
    ("POST", "/v1/device/heartbeat"): device(json=HEARTBEAT),
    ("GET", "/v1/device/time"): device(),
    ("GET", "/v1/device/speedtest"): device(query={"size": "10"}),
    ("GET", "/v1/device/commands"): device(),
    ("POST", "/v1/device/commands/{command_id}/ack"): device(json={"status": "acked"}),
    ("POST", "/v1/device/pop"): device(json=POP),
    # reporting
    ("GET", "/v1/reports/delivery"): org_list(R.report, query={"group_by": "campaign,screen"}),
    ("GET", "/v1/reports/engagement"): org_list(R.report),
    ("GET", "/v1/pop"): org_list(R.pop_export),
    # a batch is read by the screen's venue org (an advertiser's scope finds none: 404)
    ("GET", "/v1/pop/batches/{batch}"): org_object(R.report, A.read, "V"),
    # billing
    ("POST", "/v1/billing/cycles/close"): superadmin(json=PERIOD),
    ("GET", "/v1/invoices"): org_list(R.invoice, expect={
        # any org's people read the invoices billed to their org (a venue org has none)
        "venue_admin": OK, "venue_member": OK, "venue_tech": OK, "venue_rival": OK,
        API_KEY: NO_KEYS}),
    ("GET", "/v1/invoices/{invoice_id}"): org_object(R.invoice, A.read, "A",
                                                     expect={API_KEY: NO_KEYS}),
    ("GET", "/v1/invoices/{invoice_id}/page"): org_object(R.invoice, A.read, "A",
                                                          expect={API_KEY: NO_KEYS}),
    ("POST", "/v1/invoices/{invoice_id}/mark-paid"): superadmin(),
    ("GET", "/v1/billing/reconciliation"): superadmin(query=PERIOD),
    ("GET", "/v1/billing/reconciliation/trace"): superadmin(query=PERIOD),
    # revenue share and payouts
    ("GET", "/v1/revenue-share/policy"): org_list(R.revenue_policy),
    ("PUT", "/v1/revenue-share/policy"): superadmin(json={"default_bps": 9000}),
    ("GET", "/v1/payouts/statements"): org_list(R.payout, query=PERIOD),
    ("GET", "/v1/payouts"): org_list(R.payout),
    ("POST", "/v1/payouts/onboarding-link"): org_create(R.payout, A.manage),
    ("POST", "/v1/payouts/run"): superadmin(json=PERIOD),
    ("GET", "/v1/payouts/onboarding/return"): public(),
    ("GET", "/v1/payouts/onboarding/refresh"): public(),
    ("GET", "/v1/payouts/onboarding/offline"): public(),
    # notifications: the caller's own
    ("GET", "/v1/me/notification-preferences"): any_user(),
    ("PUT", "/v1/me/notification-preferences"): any_user(json={"preferences": {}}),
    ("GET", "/v1/notifications"): any_user(),
    ("POST", "/v1/notifications/{notification_id}/read"): Op("user_object"),
    ("GET", "/v1/notifications/offline-messages"): superadmin(),
    ("GET", "/v1/notifications/unsubscribe"): public(expect={ANON: frozenset({400})}),
    ("POST", "/v1/notifications/unsubscribe"): public(),
    ("GET", "/v1/me/phone"): any_user(ok=OK | {404}),  # nobody gave one: phone_not_found
    ("PUT", "/v1/me/phone"): any_user(json={"number": "+33612345678"}),
    ("DELETE", "/v1/me/phone"): any_user(),
    ("POST", "/v1/me/phone/confirm"): any_user(json={"code": "123456"}),
    ("GET", "/v1/push/vapid-public-key"): any_user(),
    ("POST", "/v1/me/push-subscriptions"): any_user(json=PUSH),
    ("GET", "/v1/me/push-subscriptions"): any_user(),
    ("DELETE", "/v1/me/push-subscriptions"): any_user(),
    # the pages of emailed links: the token in the link is the authority
    ("GET", "/account/verify-email"): public(), ("POST", "/account/verify-email"): public(),
    ("GET", "/account/reset-password"): public(), ("POST", "/account/reset-password"): public(),
    ("GET", "/account/invitation"): public(), ("POST", "/account/invitation"): public(),
}


# -- walking the app -----------------------------------------------------------------------------

def _walk(routes: list[Any], skip: set[int]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers so
        if inner is not None:
            if id(inner) not in skip:
                yield from _walk(inner.routes, skip)
        elif not isinstance(route, Mount):
            yield route


def operations(app: Any) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers, outside the dashboard's pages."""
    found = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
             for method in ops}
    dashboard = {id(pages.router) for pages in DASHBOARD_PAGES}
    for route in _walk(app.routes, dashboard):
        if not isinstance(route, Route):
            continue  # a websocket, say: none yet
        if isinstance(route, APIRoute) and route.include_in_schema:
            continue  # in the document already
        methods = set(route.methods or ())
        if not isinstance(route, APIRoute):
            methods.discard("HEAD")  # Starlette answers HEAD of every GET by itself
        path = PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)  # {key:path} -> {key}
        found |= {(method, path) for method in methods}
    return found


# -- the world -----------------------------------------------------------------------------------

@dataclass
class World:
    client: TestClient
    app: Any
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]  # path parameter -> the first tenants' object
    private: dict[str, set[str]]  # tenant -> ids no other tenant may see
    png: bytes = b""
    rival: Any = None  # the Side of B and W
    rival_draft: str = ""  # a draft campaign of B
    snapshot: dict[str, Any] = field(default_factory=dict)


def _ready_media(client: TestClient, account: Account, tmp: Path,
                 size: tuple[int, int]) -> dict[str, Any]:
    # of a size of its own: the same bytes are the same sha256 in both tenants
    with media_samples.png(tmp, size).open("rb") as f:
        media = client.post("/v1/media", headers=account.headers,
                            files={"file": ("ad.png", f)}).json()
    return dict(until(lambda: (r := client.get(f"/v1/media/{media['id']}",
                                                 headers=account.headers).json())
                      ["status"] == "ready" and r, 60, "media ready"))


def _invite(client: TestClient, owner: Account, role: str) -> tuple[str, dict[str, Any]]:
    r = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                    json={"email": f"{role}-{secrets.token_hex(3)}@example.com", "role": role})
    assert r.status_code == 201, r.text
    return str(r.json()["invite_token"]), r.json()


def _joined(client: TestClient, owner: Account, role: str) -> tuple[str, str]:
    """A person who accepted an invitation to `owner`'s org: their token and user id."""
    token, _ = _invite(client, owner, role)
    r = client.post("/v1/auth/invitations/accept", json={"token": token, "password": PASSWORD})
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    return access, client.get("/v1/me", headers=bearer(access)).json()["user"]["id"]


@dataclass
class Side:
    advertiser: Account
    venue_owner: Account
    media: dict[str, Any]
    campaign: dict[str, Any]
    link: dict[str, Any]
    venue: dict[str, Any]
    screen: dict[str, Any]
    device: Device
    command: dict[str, Any]
    invitation: dict[str, Any]
    keys: list[str]


def _side(client: TestClient, admin: dict[str, str], tmp: Path, width: int) -> Side:
    """An advertiser whose approved campaign plays on the one screen of a venue org."""
    owner = signup(client, "venue")
    venue = client.post("/v1/venues", headers=owner.headers, json=VENUE).json()
    screen = client.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                         json=SCREEN).json()
    dev = pair_device(client, owner, screen["id"])
    advertiser = signup(client, "advertiser")
    media = _ready_media(client, advertiser, tmp, (width, 360))
    body = {**CAMPAIGN, "start_at": (NOW - timedelta(days=2)).isoformat(),
            "targeting": {"screen_ids": [screen["id"]]}}
    campaign = client.post("/v1/campaigns", headers=advertiser.headers, json=body).json()
    url = f"/v1/campaigns/{campaign['id']}"
    r = client.post(f"{url}/creatives", headers=advertiser.headers,
                    json={"media_id": media["id"], "duration_s": 10})
    assert r.status_code == 201, r.text
    assert client.post(f"{url}/submit", headers=advertiser.headers).status_code == 200
    r = client.post(f"{url}/approve", headers=admin)
    assert r.status_code == 200, r.text
    campaign = r.json()
    link = client.post(f"{url}/tracked-link", headers=advertiser.headers,
                       json={"landing_url": "https://example.com/sale"}).json()
    assert client.get(f"/r/{link['code']}", follow_redirects=False).status_code == 302
    records = [dev.record(campaign["id"], campaign["creatives"][0]["id"],
                          started_at=NOW - timedelta(hours=3, minutes=-i)) for i in range(5)]
    r = client.post("/v1/device/pop", json=dev.batch(records), headers=dev.headers)
    assert r.status_code == 200 and r.json()["accepted"] == 5, r.text
    r = client.post(f"/v1/screens/{screen['id']}/commands", headers=owner.headers,
                    json={"type": "identify"})
    assert r.status_code == 201, r.text
    command = r.json()
    _, invitation = _invite(client, owner, "member")
    _invite(client, advertiser, "member")
    keys = [client.post("/v1/api-keys", headers=h, json={"name": "k"}).json()["id"]
            for h in (owner.headers, advertiser.headers)]
    assert client.post("/v1/payouts/onboarding-link", headers=owner.headers).status_code == 200
    return Side(advertiser, owner, media, campaign, link, venue, screen, dev, command,
                invitation, keys)


def _settings(tmp: Path, keys_dir: Path) -> Settings:
    data_dir = tmp / "var"
    data_dir.mkdir()
    (data_dir / "keys").symlink_to(keys_dir, target_is_directory=True)
    url = f"sqlite:///{tmp / 'tenancy.db'}"
    migrate.upgrade(url)
    return Settings(data_dir=data_dir, database_url=url, public_url="http://testserver",
                    run_worker=True, run_broker=False, run_scheduler=False,
                    job_retry_base_s=0.05, password_hashing="fast",
                    signup_attempts_per_minute=1000, login_attempts_per_minute=1000,
                    pairing_requests_per_minute=1000, payout_minimum_cents=0,
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[World]:
    """A, B, V, W and their objects (module docstring), made through the API."""
    tmp = tmp_path_factory.mktemp("tenancy")
    app = create_app(_settings(tmp, keys_dir))
    with TestClient(app) as client:
        with app.state.sessionmaker() as session:
            orgs_service.ensure_superuser(session=session, email="root@example.com",
                                          password=PASSWORD)
        admin = bearer(login(client, "root@example.com"))
        first, rival = _side(client, admin, tmp, 640), _side(client, admin, tmp, 656)
        member, member_id = _joined(client, first.venue_owner, "member")
        tech, tech_id = _joined(client, first.venue_owner, "technician")
        key, venue_key = (client.post("/v1/api-keys", headers=o.headers,
                                      json={"name": "warehouse"}).json()
                          for o in (first.advertiser, first.venue_owner))
        r = client.post("/v1/billing/cycles/close", headers=admin, json=PERIOD)
        assert r.status_code == 200 and r.json()["invoices"] == 2, r.text
        invoices = {}
        for side in (first, rival):
            [invoices[side.advertiser.org_id]] = client.get(
                "/v1/invoices", headers=side.advertiser.headers).json()["invoices"]
            r = client.post(f"/v1/invoices/{invoices[side.advertiser.org_id]['id']}/mark-paid",
                            headers=admin)
            assert r.status_code == 200, r.text
        r = client.post("/v1/payouts/run", headers=admin, json=PERIOD)
        assert r.status_code == 200 and len(r.json()["payouts"]) == 2, r.text
        payouts = {p["venue_org_id"]: p["id"] for p in r.json()["payouts"]}
        playlist = until(lambda: (r := client.get("/v1/device/playlist",
                                                   headers=first.device.headers)
                                  ).status_code == 200 and r.json(), 30, "a playlist")
        sha = next(m["sha256"] for m in playlist["media"])
        notes = until(lambda: client.get("/v1/notifications", headers=first.advertiser.headers)
                      .json()["notifications"], 30, "a notification")
        with app.state.sessionmaker() as session:
            batches = {b.venue_org_id: b.id for b in session.scalars(select(PopBatchRecord))}
        media_key = urlsplit(first.media["renditions"][0]["url"]).path.removeprefix(
            "/v1/storage/")
        headers = {"adv_admin": first.advertiser.headers, "adv_rival": rival.advertiser.headers,
                   "venue_admin": first.venue_owner.headers, "venue_member": bearer(member),
                   "venue_tech": bearer(tech), "venue_rival": rival.venue_owner.headers,
                   API_KEY: bearer(key["key"]), VENUE_KEY: bearer(venue_key["key"]),
                   SUPER: admin, DEVICE: first.device.headers,
                   RIVAL_DEVICE: rival.device.headers, ANON: {}}
        ids = {"org_id": first.venue_owner.org_id, "key_id": first.keys[0],
               "invitation_id": first.invitation["id"], "user_id": member_id,
               "key": media_key, "upload_id": client.post(
                   "/v1/media/uploads", headers=first.advertiser.headers,
                   json={"filename": "a.png"}).json()["upload_id"],
               "media_id": first.media["id"], "venue_id": first.venue["id"],
               "screen_id": first.screen["id"], "command_id": first.command["id"],
               "campaign_id": first.campaign["id"], "code": first.link["code"],
               "item_id": f"{first.venue['id']}~{first.campaign['creatives'][0]['id']}",
               "pairing_id": "pair_unknown", "sha256": sha,
               "batch": batches[first.venue_owner.org_id],
               "invoice_id": invoices[first.advertiser.org_id]["id"],
               "notification_id": notes[0]["id"], "device_id": first.device.device_id}
        private: dict[str, set[str]] = {}
        for tenant, side in (("A", first), ("B", rival)):
            a = side.advertiser
            private[tenant] = {a.org_id, a.user_id, side.media["id"], side.media["sha256"],
                               side.campaign["id"], side.campaign["creatives"][0]["id"],
                               side.link["id"], side.link["code"],
                               invoices[a.org_id]["id"], side.keys[1]}
        private["A"] |= {key["id"], notes[0]["id"]}
        for tenant, side in (("V", first), ("W", rival)):
            v = side.venue_owner
            private[tenant] = {v.org_id, v.user_id, side.venue["id"], side.screen["id"],
                               side.device.device_id, side.command["id"], side.keys[0],
                               side.invitation["id"], batches[v.org_id], payouts[v.org_id]}
        private["V"] |= {member_id, tech_id, venue_key["id"]}
        draft = client.post("/v1/campaigns", headers=rival.advertiser.headers, json=CAMPAIGN)
        w = World(client, app, headers, ids, private, media_samples.png(tmp).read_bytes(),
                  rival, draft.json()["id"])
        w.snapshot = _snapshot(w)
        yield w


def _snapshot(w: World) -> dict[str, Any]:
    """What the first tenants' objects look like to their owners (counters aside)."""
    owner_v, owner_a = w.headers["venue_admin"], w.headers["adv_admin"]
    i = w.ids
    reads = {"venue": (f"/v1/venues/{i['venue_id']}", owner_v),
             "screen": (f"/v1/screens/{i['screen_id']}", owner_v),
             "audience": (f"/v1/screens/{i['screen_id']}/audience", owner_v),
             "members": (f"/v1/orgs/{i['org_id']}/members", owner_v),
             "invitations": (f"/v1/orgs/{i['org_id']}/invitations", owner_v),
             "keys": ("/v1/api-keys", owner_v),
             "command": (f"/v1/screens/{i['screen_id']}/commands/{i['command_id']}", owner_v),
             "campaign": (f"/v1/campaigns/{i['campaign_id']}", owner_a),
             "link": (f"/v1/campaigns/{i['campaign_id']}/tracked-link", owner_a),
             "media": (f"/v1/media/{i['media_id']}", owner_a),
             "invoice": (f"/v1/invoices/{i['invoice_id']}", owner_a),
             "policy": ("/v1/revenue-share/policy", owner_v)}
    found = {}
    for name, (path, headers) in reads.items():
        r = w.client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
        found[name] = _without_volatile(r.json())
    return found


VOLATILE = {"scans", "last_seen_at", "status", "now_playing", "agent_version", "url",
            "thumbnail_url", "last_screenshot_url", "screenshot_url", "urls_expire_at",
            "expires_at", "last_used_at", "delivered_at"}


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


# -- what each caller should get ------------------------------------------------------------------

SKIP = frozenset[int]()  # not sent: an allowed write, or the class ignores the caller


def expected(op: Op, method: str, template: str, role: str) -> frozenset[int] | None:
    """The statuses the role may get; SKIP when it is not sent; None: as a missing id answers
    (another org's object)."""
    if role in op.expect:
        return op.expect[role]
    write = method not in ("GET", "HEAD") and not op.safe
    success = SKIP if write else op.ok
    if op.cls == "public":
        return frozenset(range(200, 500)) if role == ANON else SKIP
    if op.cls in ("signed", "webhook"):
        return frozenset(range(400, 500))
    if role == ANON or (role in (DEVICE, RIVAL_DEVICE) and op.cls != "device"):
        return frozenset({401})
    if op.cls == "device":
        if role == DEVICE:
            return success
        if role == RIVAL_DEVICE:
            return None if PARAM.search(template) else success
        return frozenset({401})
    if op.cls == "any_principal":
        return OK
    if op.cls == "any_user":
        return frozenset({403}) if role in KEYS else success
    if op.cls == "superadmin":
        return success if role == SUPER else frozenset({403})
    if op.cls == "user_object":  # A's admin's notification
        return success if role == "adv_admin" else frozenset({403}) if role in KEYS else None
    if role == SUPER:
        return success
    assert op.resource is not None and op.action is not None
    may = allowed(principal_of(role), op.resource, op.action)
    if op.cls == "org_object" and tenant_of(role) != op.owner:
        return None
    if op.cls == "org_list":
        return OK if may else frozenset({403})
    return success if may else frozenset({403})


def fill(template: str, ids: dict[str, str]) -> str:
    return PARAM.sub(lambda m: ids[m.group(1)], template)


def missing(value: str) -> str:
    """An id of the same shape that names nothing."""
    if "~" in value:
        return "~".join(missing(v) for v in value.split("~"))
    if re.fullmatch(r"[0-9a-f]{64}", value):
        return "0" * 64
    head, sep, _ = value.rpartition("_")
    return f"{head}{sep}{'z' * 12}" if sep else "z" * 12


def send(w: World, method: str, path: str, op: Op, role: str) -> Any:
    body = op.json
    if isinstance(body, dict):
        body = {k: v.format(**w.ids) if isinstance(v, str) and "{" in v else v
                for k, v in body.items()}
    kw: dict[str, Any] = {"headers": w.headers[role], "params": op.query,
                          "follow_redirects": False}
    if op.files:
        kw["files"] = {"file": ("ad.png", w.png)}
    elif op.content is not None:
        kw["content"] = op.content
    elif body is not None:
        kw["json"] = body
    return w.client.request(method, path, **kw)


def forbidden_ids(w: World, role: str) -> set[str]:
    """Ids the role's answers must never show: all of the first tenants' for a rival; for the
    first tenants' own people, the other first tenant's keys, invitations and people."""
    if role in RIVALS:
        return w.private["A"] | w.private["V"]
    if role in (SUPER, ANON, DEVICE):
        return set()
    other = "V" if tenant_of(role) == "A" else "A"
    shared = {w.ids["campaign_id"], w.ids["media_id"], w.ids["screen_id"], w.ids["venue_id"],
              w.ids["sha256"], w.ids["invoice_id"], w.ids["item_id"].split("~")[1],
              w.ids["batch"], w.ids["device_id"]}  # what a campaign playing on a screen
    # shows both sides (the raw proof of play names the device that signed it)
    return w.private[other] - shared - {w.ids["org_id"]}


def _code(response: Any) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except Exception:
        return None


# -- the tests -----------------------------------------------------------------------------------

def test_every_operation_is_classified(world: World) -> None:
    found = operations(world.app)
    unclassified = sorted(found - TABLE.keys())
    gone = sorted(TABLE.keys() - found)
    assert not unclassified, f"classify these operations in TABLE: {unclassified}"
    assert not gone, f"these TABLE entries are no longer operations of the app: {gone}"


@pytest.mark.parametrize(("method", "template"), sorted(TABLE), ids=[f"{m} {p}" for m, p in
                                                                       sorted(TABLE)])
def test_matrix(world: World, method: str, template: str) -> None:
    op = TABLE[(method, template)]
    problems = []
    for role in ROLES:
        want = expected(op, method, template, role)
        if want is not None and not want:
            continue
        path = fill(template, world.ids)
        r = send(world, method, path, op, role)
        if r.status_code >= 500:
            problems.append(f"{role}: {r.status_code} {r.text[:200]}")
            continue
        if want is None:  # another org's object: answered as one that does not exist
            ghost = send(world, method, fill(template, {k: missing(v) for k, v in
                                                        world.ids.items()}), op, role)
            if r.status_code not in (403, 404) or (r.status_code, _code(r)) != (
                    ghost.status_code, _code(ghost)):
                problems.append(f"{role}: {r.status_code} {_code(r)} for another org's object,"
                                f" {ghost.status_code} {_code(ghost)} for none")
        elif r.status_code not in want or (op.cls == "public" and method == "GET"
                                           and r.status_code in (401, 403)):
            problems.append(f"{role}: {r.status_code} {r.text[:200]}")
        leaked = {i for i in forbidden_ids(world, role) if i in r.text}
        if leaked:
            problems.append(f"{role}: the answer shows another tenant's ids {leaked}")
    assert not problems, f"{method} {template}:\n" + "\n".join(problems)
    if method not in ("GET", "HEAD"):  # the refused writes changed nothing of the first tenants
        assert _snapshot(world) == world.snapshot, f"{method} {template} changed an object"



# a rival naming the first tenants' objects in its own paths, bodies and queries: answered as
# ids that name nothing are ({...}: the first tenants' ids; <...>: the rival's own)
CROSS = [
    ("adv_rival", "POST", "/v1/campaigns/<draft>/creatives",
     {"json": {"media_id": "{media_id}", "duration_s": 10}}),
    ("venue_rival", "POST", "/v1/venues", {"json": {**VENUE, "house_media_ids": ["{media_id}"]}}),
    ("venue_rival", "PATCH", "/v1/venues/<venue_id>",
     {"json": {"house_media_ids": ["{media_id}"]}}),
    ("venue_rival", "PATCH", "/v1/orgs/<org_id>/members/{user_id}", {"json": {"role": "admin"}}),
    ("venue_rival", "DELETE", "/v1/orgs/<org_id>/members/{user_id}", {}),
    ("venue_rival", "DELETE", "/v1/orgs/<org_id>/invitations/{invitation_id}", {}),
    ("venue_rival", "GET", "/v1/screens/<screen_id>/commands/{command_id}", {}),
    ("venue_rival", "POST", "/v1/moderation/<venue_id>~{creative_id}/reject",
     {"json": {"reason": "no", "scope": "advertiser"}}),
    ("adv_rival", "GET", "/v1/reports/delivery", {"params": {"campaign_id": "{campaign_id}"}}),
    ("venue_rival", "GET", "/v1/reports/delivery", {"params": {"screen_id": "{screen_id}"}}),
    ("venue_rival", "GET", "/v1/reports/delivery", {"params": {"venue_id": "{venue_id}"}}),
    ("adv_rival", "GET", "/v1/reports/engagement", {"params": {"campaign_id": "{campaign_id}"}}),
]


def _fill_all(value: Any, ids: dict[str, str], own: dict[str, str]) -> Any:
    if isinstance(value, str):
        value = re.sub(r"<([a-z_]+)>", lambda m: own[m.group(1)], value)
        return re.sub(r"\{([a-z_]+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill_all(v, ids, own) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_all(v, ids, own) for v in value]
    return value


def _gist(response: Any) -> Any:
    """What an answer says, ids of the caller's own new objects aside."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict) and "error" in body:
        return body["error"]["code"]
    return _without_volatile({k: v for k, v in body.items() if k in ("rows", "totals")}) \
        if isinstance(body, dict) else body


# found by this test and not fixed yet (strict: it fails once they are, to be moved back)
KNOWN: dict[tuple[str, str, str], str] = {}


def _cross() -> Iterator[Any]:
    for role, method, template, kw in CROSS:
        reason = KNOWN.get((role, method, template))
        yield pytest.param(role, method, template, kw,
                           id=f"{role} {method} {template} {sorted(kw.get('params', {}))}",
                           marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason
                           else [])


@pytest.mark.parametrize(("role", "method", "template", "kw"), _cross())
def test_another_tenants_ids_in_paths_bodies_and_queries(world: World, role: str, method: str,
                                                         template: str, kw: dict[str, Any]):
    rival = world.rival
    own = {"draft": world.rival_draft, "venue_id": rival.venue["id"],
           "org_id": rival.venue_owner.org_id, "screen_id": rival.screen["id"]}
    ids = {**world.ids, "creative_id": world.ids["item_id"].split("~")[1]}
    answers = [world.client.request(method, _fill_all(template, i, own),
                                    headers=world.headers[role],
                                    **_fill_all(kw, i, own))
               for i in (ids, {k: missing(v) for k, v in ids.items()})]
    real, ghost = answers
    assert real.status_code < 500, real.text
    assert (real.status_code, _gist(real)) == (ghost.status_code, _gist(ghost)), (
        real.text[:300], ghost.text[:300])
    sent = f"{_fill_all(template, ids, own)} {_fill_all(kw, ids, own)}"  # echoed back: fine
    assert not {i for i in forbidden_ids(world, role) if i in real.text and i not in sent}, \
        real.text


def test_a_device_reports_no_play_of_another_screen(world: World) -> None:
    """The rival's device signs plays of V's screen: refused as plays of no screen are."""
    dev = world.rival.device
    receipts = []
    for screen_id in (world.ids["screen_id"], missing(world.ids["screen_id"])):
        record = dev.record(world.ids["campaign_id"], world.ids["item_id"].split("~")[1],
                            screen_id=screen_id)
        r = world.client.post("/v1/device/pop", json=dev.batch([record]), headers=dev.headers)
        assert r.status_code < 500, r.text
        body = r.json()
        receipts.append((r.status_code, body.get("accepted"),
                         [x["code"] for x in body.get("rejected") or []]))
    assert receipts[0] == receipts[1] and receipts[0][1] == 0, receipts

