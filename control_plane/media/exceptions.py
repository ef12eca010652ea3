"""Errors of the media domain.

    AppError
    ├── NotFound ── MediaNotFound
    ├── MediaRejected (422): an upload that will not become a ready asset; `code` says why
    │   ├── UnsupportedMediaType (415, also UnsupportedMedia)
    │   ├── CorruptMedia (422, also Invalid)
    │   ├── EmptyMedia (422, also Invalid)
    │   └── MediaTooLarge (413, also PayloadTooLarge)
    ├── TranscodeFailed (422): a video that could not be converted
    │   └── CoconutError (502): the hosted transcoder unreachable or refusing
    ├── Forbidden ── NotificationRejected: a Coconut webhook call that does not verify
    └── Conflict ── NotificationMismatch: a final state Coconut's API does not report
"""

from __future__ import annotations

from control_plane.errors import (
    AppError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
    UnsupportedMedia,
)


class MediaNotFound(NotFound):
    code = "media_not_found"


class MediaRejected(AppError):
    """An uploaded file that will not become a ready asset; `code` says why."""

    status_code = 422
    code = "invalid_media"


# Each also derives from the generic error of its status, so `except PayloadTooLarge` sees it.
class UnsupportedMediaType(MediaRejected, UnsupportedMedia):
    """Not an image or video this platform plays (decided from the bytes)."""

    status_code = 415
    code = "unsupported_media"


class CorruptMedia(MediaRejected, Invalid):
    """A format we play, but the file is broken, truncated or unreadable."""

    status_code = 422
    code = "corrupt_media"


class EmptyMedia(MediaRejected, Invalid):
    """A zero-length file."""

    status_code = 422
    code = "empty_media"


class MediaTooLarge(MediaRejected, PayloadTooLarge):
    """Too many pixels or too long a duration."""

    status_code = 413
    code = "too_large"


class TranscodeFailed(AppError):
    """A video that could not be converted; the message is fit for the media's error field."""

    status_code = 422
    code = "transcode_failed"
    retryable = False  # the same input will fail the same way


class CoconutError(TranscodeFailed):
    """Coconut could not be reached, or refused what we sent; `retryable` says if trying later
    may help (network, 5xx, 429) or not (a refused key or job)."""

    status_code = 502
    code = "transcoder_error"

    def __init__(self, message: str, *, http_status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message, details={"http_status": http_status} if http_status else None)
        self.http_status = http_status
        self.retryable = retryable


class NotificationRejected(Forbidden):
    """A webhook call whose token does not verify, or that names a job that is not its own."""

    code = "invalid_notification"


class NotificationMismatch(Conflict):
    """A notification that claims a final state Coconut's API does not (yet) report."""

    code = "notification_mismatch"
