"""Domain events, told to the people they concern (`control_plane.events` → `notify`).

Each subscriber turns one event into one notification per recipient, keyed on the event's id,
so an event delivered twice tells nobody twice. Texts name the thing and link to its page.
What no change records (a flight's edges, milestones, the weekly digest, screens offline, the
platform's health) is found by the hourly checks (`checks.py`).
"""

from __future__ import annotations

from control_plane import events
from control_plane.campaigns import service as campaigns_service
from control_plane.jobs.queue import JobContext
from control_plane.notifications import checks  # its jobs, queued every tick, too
from control_plane.notifications import service as notifications
from control_plane.venues import service as venues_service


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}"


@events.subscribe(events.CampaignChanged)
def campaign_reviewed(context: JobContext, event: events.CampaignChanged) -> None:
    """Submitted (super-admins review it), approved or rejected (the advertiser)."""
    if event.change not in ("submitted", "approved", "rejected"):
        return
    with context.sessionmaker() as session:
        try:
            campaign = campaigns_service.get(session=session, campaign_id=event.campaign_id)
        except Exception:  # deleted since: nothing to tell
            return
        name, note = campaign.name, campaign.review_note
        link = f"/v1/campaigns/{campaign.id}"
        if event.change == "submitted":
            notifications.notify(
                session=session, queue=context.queue, kind="campaign.submitted", org_id=None,
                title=f"Campaign “{name}” waits for review",
                body=f"The campaign “{name}” was submitted and waits for your review.",
                link=link, dedupe_key=f"{event.event_id}")
        elif event.change == "approved":
            notifications.notify(
                session=session, queue=context.queue, kind="campaign.approved",
                org_id=event.org_id, title=f"“{name}” is approved",
                body=f"Your campaign “{name}” was approved: it plays from its start date.",
                link=link, dedupe_key=f"{event.event_id}")
        else:
            notifications.notify(
                session=session, queue=context.queue, kind="campaign.rejected",
                org_id=event.org_id, title=f"“{name}” was not approved",
                body=f"Your campaign “{name}” was rejected. Reason: {note or 'none given'}. "
                     "Change it and submit it again.",
                link=link, dedupe_key=f"{event.event_id}")


@events.subscribe(events.ModerationDecided)
def venue_decided(context: JobContext, event: events.ModerationDecided) -> None:
    """A venue's decision on an advertiser or a creative, told to the advertiser."""
    with context.sessionmaker() as session:
        if event.scope == "creative":
            creative = campaigns_service.get_creative(session=session,
                                                      creative_id=event.subject_id)
            if creative is None:
                return
            campaign = campaigns_service.get(session=session, campaign_id=creative.campaign_id)
            org_id, what = campaign.org_id, f"a creative of “{campaign.name}”"
            link: str | None = f"/v1/campaigns/{campaign.id}"
        else:
            org_id, what, link = event.subject_id, "your ads", None
        venue = venues_service.venue_names(session=session, venue_ids=[event.venue_id]) \
            .get(event.venue_id, "a venue")
        verb = "accepts" if event.decision == "approved" else "declines"
        reason = f" Reason: {event.reason}." if event.reason else ""
        notifications.notify(
            session=session, queue=context.queue, kind="moderation.decided", org_id=org_id,
            title=f"{venue} {verb} {what}",
            body=f"The venue {venue} {verb} {what} on its screens.{reason}", link=link,
            dedupe_key=f"{event.event_id}")


_INVOICE_KINDS = {"open": ("invoice.issued", "A new invoice: {amount}",
                           "Invoice {id} for {amount} is issued; it is due within the terms "
                           "on the invoice."),
                  "paid": ("invoice.paid", "Invoice paid: {amount}",
                           "Thank you: invoice {id} for {amount} is paid."),
                  "payment_failed": ("invoice.payment_failed", "A payment failed: {amount}",
                                     "The payment of invoice {id} for {amount} failed. Pay it "
                                     "from its page to keep your campaigns running."),
                  "refunded": ("invoice.refunded", "Invoice refunded: {amount}",
                               "Invoice {id} for {amount} was refunded.")}


@events.subscribe(events.InvoiceChanged)
def invoice_changed(context: JobContext, event: events.InvoiceChanged) -> None:
    """Issued, paid, failed, refunded: told to the advertiser org."""
    found = _INVOICE_KINDS.get(event.status)
    if found is None:
        return
    kind, title, body = found
    amount = _money(event.amount_cents, event.currency)
    with context.sessionmaker() as session:
        notifications.notify(
            session=session, queue=context.queue, kind=kind, org_id=event.org_id,
            title=title.format(amount=amount), body=body.format(id=event.invoice_id,
                                                               amount=amount),
            link=f"/v1/invoices/{event.invoice_id}", dedupe_key=f"{event.event_id}")


@events.subscribe(events.MediaFailed)
def media_failed(context: JobContext, event: events.MediaFailed) -> None:
    """An upload that could not be processed, told to the org that uploaded it."""
    name = event.filename or event.media_id
    with context.sessionmaker() as session:
        notifications.notify(
            session=session, queue=context.queue, kind="media.failed", org_id=event.org_id,
            title=f"“{name}” could not be processed",
            body=f"The upload “{name}” could not be made ready for screens: {event.error}. "
                 "Check the file (format, size, length) and upload it again.",
            link=f"/v1/media/{event.media_id}", dedupe_key=f"{event.event_id}")


@events.subscribe(events.DevicePaired)
def device_paired(context: JobContext, event: events.DevicePaired) -> None:
    """A display unit paired to a screen, told to the venue org."""
    with context.sessionmaker() as session:
        name = venues_service.screen_names(session=session, screen_ids=[event.screen_id]) \
            .get(event.screen_id, event.screen_id)
        notifications.notify(
            session=session, queue=context.queue, kind="device.paired", org_id=event.org_id,
            title=f"A device was paired to “{name}”",
            body=f"A display unit was paired to the screen “{name}”; it starts playing once "
                 "it has its schedule. If nobody in your team paired it, unpair it.",
            link=f"/v1/screens/{event.screen_id}", dedupe_key=f"{event.event_id}")


@events.subscribe(events.ScreenBack)
def screen_back(context: JobContext, event: events.ScreenBack) -> None:
    """A screen heard from again after an outage its venue was told of."""
    if event.away_since is not None:
        checks.screen_back(context, screen_id=event.screen_id, away_since=event.away_since)


@events.subscribe(events.PayoutChanged)
def payout_changed(context: JobContext, event: events.PayoutChanged) -> None:
    """A payout sent or refused, told to the venue org."""
    amount = _money(event.amount_cents, event.currency)
    with context.sessionmaker() as session:
        if event.status == "paid":
            kind, title = "payout.sent", f"A payout of {amount} was sent"
            body = (f"Payout {event.payout_id} of {amount} was transferred to your connected "
                    "account; your bank receives it on the account's payout schedule.")
        elif event.status == "failed":
            kind, title = "payout.failed", f"A payout of {amount} failed"
            body = (f"Payout {event.payout_id} of {amount} was refused by the payment provider"
                    f" ({event.reason or 'no reason given'}). Its earnings wait for the next "
                    "payout; check your connected account's details.")
        else:
            return
        notifications.notify(session=session, queue=context.queue, kind=kind,
                             org_id=event.org_id, title=title, body=body, link="/v1/payouts",
                             dedupe_key=f"{event.event_id}")
