"""Errors of the notifications domain.

    Invalid (422)
    └── InvalidPreference     an unknown kind of notification or channel
    NotFound (404)
    └── NotificationNotFound  no such notification, or not the caller's
"""

from __future__ import annotations

from control_plane.errors import Invalid, NotFound


class InvalidPreference(Invalid):
    code = "invalid_preference"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


# --- Web Push subscriptions (`push_service.py`) ---------------------------------------------
#   Invalid (422): InvalidPushSubscription (an endpoint that is not https, keys that are not
#   a P-256 point and a 16-byte secret: pydantic's validation_error)

class InvalidPushSubscription(Invalid):
    code = "invalid_push_subscription"
