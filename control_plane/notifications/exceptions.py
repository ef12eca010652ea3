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
