"""What people can be told: each kind of notification, who it is for, and how urgent it is.

A kind's audience says whose members receive it: the advertiser org or venue org the event is
about (its admins by default, members who opted in), or the platform's super-admins. Urgent
kinds (a screen offline, a failed payment) go by SMS too unless switched off; the others by
email and, once the user subscribed a browser, by push.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Audience(enum.StrEnum):
    org = "org"  # the members of the org the event is about
    platform = "platform"  # super-admins


class Channel(enum.StrEnum):
    email = "email"
    sms = "sms"
    push = "push"


@dataclass(frozen=True)
class Kind:
    """A kind of notification."""

    key: str
    title: str  # a short description, for the preferences page
    audience: Audience
    urgent: bool = False


KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind("campaign.submitted", "A campaign waits for review", Audience.platform),
    Kind("campaign.approved", "Your campaign was approved", Audience.org),
    Kind("campaign.rejected", "Your campaign was rejected", Audience.org),
    Kind("moderation.decided", "A venue decided on your campaign", Audience.org),
    Kind("invoice.issued", "A new invoice", Audience.org),
    Kind("invoice.paid", "An invoice was paid", Audience.org),
    Kind("invoice.payment_failed", "A payment failed", Audience.org, urgent=True),
    Kind("invoice.refunded", "An invoice was refunded", Audience.org),
    Kind("campaign.started", "Your campaign started", Audience.org),
    Kind("campaign.ended", "Your campaign ended", Audience.org),
    Kind("campaign.budget", "Your campaign spent half, 90 % or all of its budget",
         Audience.org),
    Kind("campaign.impressions", "Your campaign reached an impressions milestone",
         Audience.org),
    Kind("report.weekly", "Your weekly performance digest", Audience.org),
    Kind("media.failed", "An upload could not be processed", Audience.org),
    Kind("device.paired", "A device was paired to your screen", Audience.org),
    Kind("screen.offline", "A screen is offline", Audience.org, urgent=True),
    Kind("screen.online", "A screen is back online", Audience.org),
    Kind("payout.sent", "A payout was sent", Audience.org),
    Kind("payout.failed", "A payout failed", Audience.org, urgent=True),
    Kind("platform.unhealthy", "The worker, broker or job queue is unhealthy",
         Audience.platform, urgent=True),
)}


def defaults(kind: Kind, *, admin: bool) -> dict[Channel, bool]:
    """A user's channels for a kind before they chose: admins get email (and SMS when urgent)
    and push; members get nothing until they opt in."""
    if not admin:
        return {c: False for c in Channel}
    return {Channel.email: True, Channel.sms: kind.urgent, Channel.push: True}
