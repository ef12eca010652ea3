"""Choosing each channel's backend from the settings: the provider's SDK with its key, the
offline recorder without. One function per channel."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from control_plane.notifications.catalog import Channel
from control_plane.notifications.channels.base import ChannelBackend
from control_plane.notifications.channels.offline import OfflineChannel
from control_plane.settings import Settings


def make_channels(settings: Settings,
                  sessions: sessionmaker[Session]) -> dict[Channel, ChannelBackend]:
    """A backend per channel."""
    return {Channel.email: email_backend(settings, sessions),
            Channel.sms: sms_backend(settings, sessions),
            Channel.push: push_backend(settings, sessions)}


def email_backend(settings: Settings, sessions: sessionmaker[Session]) -> ChannelBackend:
    """Email: Resend with `ADSBIN_RESEND_API_KEY`, offline (the rendered text recorded)
    without."""
    from control_plane.notifications.channels.email import ResendChannel
    from control_plane.notifications.unsubscribe import UnsubscribeTokens

    if settings.resend_api_key is None:
        return OfflineChannel(Channel.email.value, sessions)
    return ResendChannel(api_key=settings.resend_api_key.get_secret_value(),
                         api_url=settings.resend_api_url, sender=settings.email_from,
                         timeout_s=settings.resend_timeout_s,
                         unsubscribe=UnsubscribeTokens.from_settings(settings))


def sms_backend(settings: Settings, sessions: sessionmaker[Session]) -> ChannelBackend:
    """SMS: Twilio with ADSBIN_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM; offline without."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return OfflineChannel(Channel.sms.value, sessions)
    # imported here: the SDK loads only in processes configured to use it
    from control_plane.notifications.channels.sms import STATUS_PATH, TwilioChannel

    return TwilioChannel(account_sid=settings.twilio_account_sid,
                         auth_token=settings.twilio_auth_token.get_secret_value(),
                         from_=settings.twilio_from, api_base=settings.twilio_api_base,
                         status_callback=(f"{settings.public_url}{STATUS_PATH}"
                                          if settings.twilio_status_callback else None))


def push_backend(settings: Settings, sessions: sessionmaker[Session]) -> ChannelBackend:
    """Web Push, always: it needs no provider's key, only our VAPID key (`vapid.py`), made
    on first start if none is configured."""
    from control_plane.notifications.channels.push import WebPushChannel

    return WebPushChannel(settings)
