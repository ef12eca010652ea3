"""What the super-admin's pages show, worked out from the services' answers: the fleet's rows
filtered and counted, the platform's health checks, the revenue-share form read back.

Kept apart from `admin.py`, which holds the routes, so that each reads as one idea: this module
has no HTTP in it, only the services' answers turned into what a page lists.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from control_plane.dashboard.web import FormErrors
from control_plane.db import utcnow
from control_plane.devices import service as devices_service
from control_plane.errors import AppError
from control_plane.jobs import queue as jobs
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend
from control_plane.notifications.checks import QUEUE_WAIT_ALERT_S
from control_plane.orgs import service as orgs_service
from control_plane.payments.base import PaymentProvider
from control_plane.ports import MqttPublisher
from control_plane.settings import Settings
from control_plane.venues import service as venues_service

FLEET_PAGE_SIZE = 100
FLEET_STATUSES = ("online", "offline", "unpaired")
FLEET_ORGS_MAX = 10_000  # orgs a text may match by name
OVERRIDE_LINES_MAX = 10_000


# --- the fleet ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FleetRow:
    """A screen as the fleet lists it."""

    screen: venues_service.ScreenListing
    org_name: str
    status: str
    last_seen_at: datetime | None
    agent_version: str | None


@dataclass(frozen=True)
class Fleet:
    """One page of the fleet, with what the filters matched."""

    rows: list[FleetRow]
    matched: int  # screens matching both filters
    counts: dict[str, int]  # by status, of the screens matching the text
    total: int  # screens matching the text (all without one)
    page: int
    pages: int

    @property
    def first(self) -> int:
        """The position of the page's first row (1-based; 0 when empty)."""
        return (self.page - 1) * FLEET_PAGE_SIZE + 1 if self.rows else 0


def fleet(*, session: Session, heartbeat_interval_s: float, status: str | None,
          text: str | None, page: int) -> Fleet:
    """Every screen's status, filtered by status and by a text in its org's, venue's or own
    name. The filters and counts read only ids and online flags, judged by the database (one
    query each, whatever the fleet's size); the page's hundred rows are then read in full."""
    text = (text or "").strip() or None
    if text is None and status is None:
        return _whole_fleet(session, heartbeat_interval_s, page)
    org_ids = [o.id for o in orgs_service.find_orgs(session=session, text=text,
                                                    limit=FLEET_ORGS_MAX)] if text else []
    ids = venues_service.find_screens(session=session, text=text, org_ids=org_ids)
    online = devices_service.online_by_screen(session=session,
                                              heartbeat_interval_s=heartbeat_interval_s)
    statuses = [_status(online.get(i)) for i in ids]
    counts = Counter(statuses)
    if status is not None:
        ids = [i for i, s in zip(ids, statuses, strict=True) if s == status]
    pages = max(1, math.ceil(len(ids) / FLEET_PAGE_SIZE))
    page = min(page, pages)
    shown = ids[(page - 1) * FLEET_PAGE_SIZE:page * FLEET_PAGE_SIZE]
    return Fleet(_rows(session, heartbeat_interval_s, shown), len(ids),
                 {s: counts.get(s, 0) for s in FLEET_STATUSES}, len(statuses), page, pages)


def _whole_fleet(session: Session, heartbeat_interval_s: float, page: int) -> Fleet:
    """The fleet unfiltered (its first page is the page people land on): counted by the
    database, and only the page's ids read."""
    total = venues_service.screen_count(session=session)
    counts = devices_service.paired_counts(session=session,
                                           heartbeat_interval_s=heartbeat_interval_s)
    counts["unpaired"] = max(0, total - counts["online"] - counts["offline"])
    pages = max(1, math.ceil(total / FLEET_PAGE_SIZE))
    page = min(page, pages)
    shown = venues_service.find_screens(session=session, offset=(page - 1) * FLEET_PAGE_SIZE,
                                        limit=FLEET_PAGE_SIZE)
    return Fleet(_rows(session, heartbeat_interval_s, shown), total, counts, total, page, pages)


def _rows(session: Session, heartbeat_interval_s: float, screen_ids: list[str]
          ) -> list[FleetRow]:
    listings = venues_service.screen_listings(session=session, screen_ids=screen_ids)
    alive = devices_service.liveness(session=session, heartbeat_interval_s=heartbeat_interval_s,
                                     screen_ids=screen_ids)
    names = orgs_service.org_names(session=session, org_ids=[s.org_id for s in listings])
    rows = []
    for screen in listings:
        found = alive.get(screen.id)
        rows.append(FleetRow(screen, names.get(screen.org_id, ""),
                             found.status if found else "unpaired",
                             found.last_seen_at if found else None,
                             found.agent_version if found else None))
    return rows


def _status(online: bool | None) -> str:
    return "unpaired" if online is None else "online" if online else "offline"


# --- the system -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One part of the platform and how it stands: `ok`, `offline` (runs, but records instead
    of sending), `warn` or `down`."""

    name: str
    state: str
    detail: str


def providers(payments: PaymentProvider,
              channels: Mapping[Channel, ChannelBackend]) -> list[Check]:
    """The paid services the platform talks to, and which of them run offline."""
    checks = [Check("Payments", "offline" if payments.offline else "ok",
                    "Offline: invoices and transfers are recorded here, not sent to Stripe "
                    "(set ADSBIN_STRIPE_API_KEY)." if payments.offline
                    else f"Sent to {payments.name}.")]
    keys = {Channel.email: "ADSBIN_RESEND_API_KEY",
            Channel.sms: "ADSBIN_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM"}
    for channel, backend in channels.items():
        label = {Channel.email: "Email", Channel.sms: "SMS", Channel.push: "Web Push"}.get(
            channel, str(channel))
        if backend.name == "offline":
            checks.append(Check(label, "offline", "Offline: messages are recorded here, not "
                                f"sent (set {keys.get(channel, 'its key')})."))
        else:
            checks.append(Check(label, "ok", f"Sent through {backend.name}."))
    return checks


def database(session: Session) -> Check:
    """Whether the database answers, and how fast."""
    dialect = session.get_bind().dialect.name
    started = time.perf_counter()
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # a page that reports health must not fail with it
        return Check("Database", "down", f"{dialect} does not answer: {type(exc).__name__}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Check("Database", "ok", f"{dialect}, answered in {elapsed_ms:.1f} ms.")


def queue(*, health: jobs.QueueHealth, settings: Settings,
          now: datetime | None = None) -> list[Check]:
    """The job queue (what waits, what failed) and the workers that empty it."""
    now = now or utcnow()
    backend = "Redis" if settings.queue_url else "SQLite in the data folder"
    waiting = health.by_status.get("queued", 0) + health.by_status.get("retrying", 0)
    waited_s = (now - health.oldest_waiting_at).total_seconds() \
        if health.oldest_waiting_at is not None else 0.0
    state = "warn" if waited_s > QUEUE_WAIT_ALERT_S else "ok"
    detail = f"{backend}: {waiting:,} waiting"
    if health.oldest_waiting_at is not None:
        detail += f", the oldest for {waited_s / 60:,.0f} min"
    detail += f", {health.by_status.get('running', 0):,} running, " \
              f"{health.by_status.get('failed', 0):,} failed for good."
    worker = Check("Workers", "ok" if settings.run_worker else "warn",
                   f"{settings.queue_workers} in this process." if settings.run_worker else
                   "None in this process (ADSBIN_RUN_WORKER is off): a separate `adsbin "
                   "worker` must run, or jobs wait.")
    scheduler = Check("Scheduler", "ok" if settings.run_scheduler else "warn",
                      "Ticks in this process." if settings.run_scheduler else
                      "Not in this process (ADSBIN_RUN_SCHEDULER is off).")
    return [Check("Job queue", state, detail), worker, scheduler]


def broker(*, broker_url: str, embedded: bool, bridge: MqttPublisher | None) -> Check:
    """The MQTT broker, as this process's bridge to it sees it."""
    where = f"{'the embedded Mosquitto' if embedded else 'an external broker'} at {broker_url}"
    if bridge is None:
        return Check("Broker", "warn", f"No bridge in this process to {where}: screens get "
                     "their playlists and commands only when they poll over HTTP.")
    state = str(getattr(bridge, "state", "connected"))
    if state == "connected":
        return Check("Broker", "ok", f"Connected to {where}.")
    if state == "refused_credentials":
        return Check("Broker", "down", f"{where} refused the bridge's login: no more retries "
                     "until the control plane restarts.")
    return Check("Broker", "down", f"Not connected to {where} ({state}): screens get no new "
                 "playlists or commands until it reconnects.")


# --- the revenue-share policy form ------------------------------------------------------------

POLICY_FIELDS = ("default_bps", "venue_overrides", "effective_from")


def policy_data(form: Mapping[str, Any]) -> tuple[dict[str, Any], FormErrors]:
    """The policy form as the API's body (`PolicyIn`): overrides one `venue_id bps` a line,
    the effective time in UTC; what cannot be read, by field."""
    errors = FormErrors()
    data: dict[str, Any] = {"default_bps": str(form.get("default_bps", "")).strip()}
    overrides = []
    lines = str(form.get("venue_overrides", "")).splitlines()
    for number, line in enumerate(lines[:OVERRIDE_LINES_MAX + 1], start=1):
        parts = line.replace("=", " ").replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 2:
            errors.setdefault("venue_overrides", f"Line {number}: write a venue id and a share "
                              "in basis points, e.g. “ven_abc 7500”.")
            continue
        overrides.append({"venue_id": parts[0], "bps": parts[1]})
    data["venue_overrides"] = overrides
    effective = str(form.get("effective_from", "")).strip()
    if effective:
        data["effective_from"] = effective if effective.endswith("Z") or "+" in effective \
            else f"{effective}Z"
    return data, errors


def policy_error(exc: AppError) -> FormErrors:
    """A refusal of the policy service, at the field it is about."""
    details = exc.details if isinstance(exc.details, dict) else {}
    if "venue_ids" in details or "venue" in exc.message:
        field = "venue_overrides"
    elif {"effective_from", "billed_until", "latest_effective_from"} & set(details) \
            or "effective_from" in exc.message:
        field = "effective_from"
    else:
        field = ""
    message = exc.message
    if "venue_ids" in details:
        message += ": " + ", ".join(str(v) for v in details["venue_ids"])
    return FormErrors({field: message[:1].upper() + message[1:]})


def percent(bps: int) -> str:
    """A share in basis points as a percentage."""
    return f"{bps / 100:g} %"
