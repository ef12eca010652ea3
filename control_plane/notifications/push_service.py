"""Browsers' Web Push subscriptions: one row per endpoint, owned by the user who last
subscribed with it.

The endpoint is the push service's address for one browser profile, so it is the key: the same
browser subscribing again updates its keys; another user signing in on that browser takes it
over, under a new id, so that what was queued for the first user (deliveries name the id) is
never pushed to the second. The control plane POSTs to the endpoint, so only https endpoints on
a named host that resolves to public addresses only are taken (loopback over http, and private
addresses, too where the settings allow them, for tests); the channel checks the address again
before each push.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane.notifications.channels.push import non_public_address
from control_plane.notifications.exceptions import InvalidPushSubscription
from control_plane.notifications.models import PushSubscription
from control_plane.notifications.schemas import PushSubscriptionIn

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_endpoint(endpoint: str, *, allow_insecure: bool) -> None:
    """Raise unless the endpoint is an https URL of a named host (or loopback, if allowed)."""
    try:
        parts = urlsplit(endpoint)
        host, _port = parts.hostname or "", parts.port
    except ValueError as exc:
        raise InvalidPushSubscription("the endpoint is not a URL") from exc
    if allow_insecure and host in LOOPBACK and parts.scheme in ("http", "https"):
        return
    if parts.scheme != "https" or not host:
        raise InvalidPushSubscription("a push endpoint must be an https URL",
                                      details={"endpoint": endpoint})
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # push services have names; an address is more likely a way into our network
        raise InvalidPushSubscription("a push endpoint must name its host",
                                      details={"endpoint": endpoint})
    if host in LOOPBACK or parts.username or parts.password:
        raise InvalidPushSubscription("not a push service's endpoint",
                                      details={"endpoint": endpoint})


def subscribe(*, session: Session, user_id: str, subscription_in: PushSubscriptionIn,
              allow_insecure: bool = False, allow_private: bool = False) -> PushSubscription:
    """Keep a browser's subscription for the user (committed): its keys updated if the user
    had it, taken over from whoever had it else."""
    check_endpoint(subscription_in.endpoint, allow_insecure=allow_insecure)
    problem = None if allow_private else non_public_address(subscription_in.endpoint)
    if problem is not None:
        raise InvalidPushSubscription(f"not a push service's endpoint: {problem}",
                                      details={"endpoint": subscription_in.endpoint})
    for _ in range(2):  # a second try when the same browser subscribed twice at once
        found = session.scalar(select(PushSubscription).where(
            PushSubscription.endpoint == subscription_in.endpoint))
        if found is not None and found.user_id != user_id:
            session.delete(found)
            session.flush()
            found = None
        if found is None:
            found = PushSubscription(user_id=user_id, endpoint=subscription_in.endpoint,
                                     p256dh=subscription_in.keys.p256dh,
                                     auth=subscription_in.keys.auth)
            session.add(found)
        else:
            found.p256dh, found.auth = subscription_in.keys.p256dh, subscription_in.keys.auth
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return found
    raise InvalidPushSubscription("this endpoint is being subscribed right now; try again")


def subscriptions_of(*, session: Session, user_id: str) -> list[PushSubscription]:
    """A user's subscriptions, oldest first."""
    return list(session.scalars(select(PushSubscription).where(
        PushSubscription.user_id == user_id).order_by(PushSubscription.created_at,
                                                      PushSubscription.id)))


def unsubscribe(*, session: Session, user_id: str, endpoint: str | None = None,
                subscription_id: str | None = None) -> bool:
    """Forget one of the user's subscriptions, by endpoint or id (committed); whether there
    was one. Another user's is left alone."""
    if (endpoint is None) == (subscription_id is None):
        raise InvalidPushSubscription("name the subscription by its endpoint or its id")
    where = (PushSubscription.endpoint == endpoint if endpoint is not None
             else PushSubscription.id == subscription_id)
    found = session.scalar(select(PushSubscription).where(
        where, PushSubscription.user_id == user_id))
    if found is None:
        return False
    session.delete(found)
    session.commit()
    return True
