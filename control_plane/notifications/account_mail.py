"""Account emails: the links that confirm an address, reset a password and accept an
invitation, mailed through the email channel and its templates.

    VerificationRequested   (signup, "send it again")  ──▶ "Confirm your email address"
    PasswordResetRequested  (any address at all)       ──▶ "Reset your password", if it has
                                                           an active account; else nothing
    MemberInvited           (an org admin)             ──▶ "<who> invited you to <org>"

They are not notifications: no preference turns them off and they carry no unsubscribe link
(the footer says why the address got one). Nothing secret is stored on the way: the event names
facts, and the link is made from them when the email is sent (`auth/links.py`), the same each
time, so a retry is the same request. The email's idempotency key is the event's id, so an event
delivered twice sends one email. A send that may pass later fails this subscriber, which the
event delivery retries with the queue's backoff; a refusal is logged and dropped (a retry would
be refused the same).
"""

from __future__ import annotations

import logging
from datetime import datetime

from control_plane import events
from control_plane.auth.links import (
    INVITATION_PATH,
    RESET_PATH,
    RESET_TTL_S,
    VERIFY_PATH,
    VERIFY_TTL_S,
    AccountLinks,
)
from control_plane.jobs.queue import JobContext
from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend, Message, Refused
from control_plane.orgs import service as orgs_service
from control_plane.orgs.service import UserStatus

log = logging.getLogger(__name__)


def _email(context: JobContext) -> ChannelBackend:
    found = (context.channels or {}).get(Channel.email.value)
    if found is None:
        raise RuntimeError("this process has no email channel")
    return found  # type: ignore[no-any-return]


def _send(context: JobContext, event: events.Event, *, to: str, subject: str, body: str,
          link: str, action: str, kind: str) -> None:
    message = Message(delivery_id=f"account-{event.event_id}", to=to, subject=subject,
                      text=f"{body}\n\n{link}", link=link, action=action, kind=kind)
    try:
        _email(context).send(message)  # Transient propagates: the delivery tries again
    except Refused as exc:
        log.warning("account email %s to %s refused, not sent: %s", kind, to, exc.reason)


def _days(seconds: int) -> str:
    days = round(seconds / 86400)
    return f"{days} day{'s' if days != 1 else ''}"


@events.subscribe(events.VerificationRequested)
def verification_link(context: JobContext, event: events.VerificationRequested) -> None:
    """Mail the link that confirms the user's address (unless it is confirmed already)."""
    with context.sessionmaker() as session:
        user = orgs_service.get_user(session=session, user_id=event.user_id)
        if user is None or not user.email or user.email_verified_at is not None:
            return
        links = AccountLinks.from_settings(context.settings)
        link = links.url(VERIFY_PATH, links.verification_token(
            user=user, requested_at=event.requested_at))
        to, name = user.email, user.name
    _send(context, event, to=to, kind="account.verify_email",
          subject="Confirm your email address for ADSBIN", action="Confirm my address",
          link=link,
          body=f"Hello{' ' + name if name else ''},\n\n"
               f"Please confirm that {to} is your address by following the link below. Until "
               "you do, you can sign in and look around, but not buy campaigns or be paid.\n\n"
               f"The link works for {_days(VERIFY_TTL_S)}.")


@events.subscribe(events.PasswordResetRequested)
def password_reset_link(context: JobContext, event: events.PasswordResetRequested) -> None:
    """Mail a reset link if the address has an active account with a password; nothing
    otherwise (the request answered the same either way)."""
    with context.sessionmaker() as session:
        user = orgs_service.get_user_by_email(session=session, email=event.email)
        if user is None or user.status != UserStatus.active or not user.email:
            log.info("password reset asked for an address without an active account")
            return
        links = AccountLinks.from_settings(context.settings)
        link = links.url(RESET_PATH, links.reset_token(user=user,
                                                       requested_at=event.requested_at))
        to = user.email
    _send(context, event, to=to, kind="account.password_reset",
          subject="Reset your ADSBIN password", action="Choose a new password", link=link,
          body="Someone asked to reset the password of the ADSBIN account of this address. If "
               "it was you, follow the link below to choose a new one; it works once, within "
               f"{round(RESET_TTL_S / 60)} minutes.\n\n"
               "If it was not you, ignore this email: your password stays as it is.")


@events.subscribe(events.MemberInvited)
def invitation(context: JobContext, event: events.MemberInvited) -> None:
    """Mail an invitation with the link that accepts it (unless it was accepted or
    withdrawn since)."""
    with context.sessionmaker() as session:
        found = orgs_service.get_invitation(session=session, invitation_id=event.invitation_id)
        if found is None or found[0].accepted_at is not None or not found[1].email:
            return
        invited, user, org = found
        inviter = orgs_service.get_user(session=session, user_id=event.invited_by) \
            if event.invited_by else None
        who = (inviter.name or inviter.email or "Someone") if inviter else "Someone"
        links = AccountLinks.from_settings(context.settings)
        link = links.url(INVITATION_PATH, links.invitation_token(invited.id))
        to, role, org_name = user.email or "", invited.role, org.name
        expires: datetime = invited.expires_at
        new_account = user.status == UserStatus.invited
    _send(context, event, to=to, kind="account.invitation",
          subject=f"{who} invited you to {org_name} on ADSBIN", action="Accept the invitation",
          link=link,
          body=f"{who} invited you to join {org_name} on ADSBIN as {role}.\n\n"
               "Follow the link below to accept"
               f"{' and choose your password' if new_account else ''}. "
               f"It works until {expires:%d %B %Y}.\n\n"
               "If you did not expect this invitation, ignore this email.")
