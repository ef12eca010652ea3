"""Errors of the notifications domain.

    Invalid (422)
    └── InvalidPreference     an unknown kind of notification or channel
    NotFound (404)
    └── NotificationNotFound  no such notification, or not the caller's
"""

from __future__ import annotations

from control_plane.errors import AppError, Invalid, NotFound, RateLimited


class InvalidPreference(Invalid):
    code = "invalid_preference"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


# --- Web Push subscriptions (`push_service.py`) ---------------------------------------------
#   Invalid (422): InvalidPushSubscription (an endpoint that is not https, keys that are not
#   a P-256 point and a 16-byte secret: pydantic's validation_error)

class InvalidPushSubscription(Invalid):
    code = "invalid_push_subscription"


# --- phone numbers (`phones.py`) ------------------------------------------------------------
#   Invalid (422): InvalidPhoneNumber, WrongCode, CodeExpired, PhoneRefused
#   NotFound (404): PhoneNotFound
#   RateLimited (429): TooManyCodes (asked too often), TooManyTries (the code is spent)
#   SmsUnavailable (503): the SMS provider could not take the code now

class InvalidPhoneNumber(Invalid):
    code = "invalid_phone_number"


class WrongCode(Invalid):
    code = "wrong_code"


class CodeExpired(Invalid):
    code = "code_expired"


class PhoneRefused(Invalid):
    """The SMS provider will not send to the number (not a mobile, not a real number)."""

    code = "phone_refused"


class PhoneNotFound(NotFound):
    code = "phone_not_found"


class TooManyCodes(RateLimited):
    code = "rate_limited"


class TooManyTries(RateLimited):
    code = "too_many_attempts"


class SmsUnavailable(AppError):
    status_code = 503
    code = "sms_unavailable"
