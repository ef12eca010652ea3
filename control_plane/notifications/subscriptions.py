"""Domain events, told to the people they concern (`control_plane.events` → `notify`).

Each subscriber turns one event into one notification per recipient, keyed on the event's id,
so an event delivered twice tells nobody twice. Texts name the thing and link to its page.
"""

from __future__ import annotations

from control_plane import events
from control_plane.campaigns import service as campaigns_service
from control_plane.jobs.queue import JobContext
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
