"""Errors of the object store, the same whichever backend holds the objects.

    AppError
    ├── Invalid ── InvalidKey: a key that could reach outside the store
    ├── NotFound ── ObjectNotFound
    ├── InvalidRange (416): a byte range the object cannot satisfy
    └── Forbidden
        ├── SignatureInvalid: a signed URL whose signature does not verify
        └── UrlExpired: a signed URL past its expiry

Backends translate their own errors into these where they enter (`s3.py`: `raise ... from exc`).
"""

from __future__ import annotations

from control_plane.errors import AppError, Forbidden, Invalid, NotFound


class InvalidKey(Invalid):
    code = "invalid_key"


class ObjectNotFound(NotFound):
    code = "object_not_found"


class InvalidRange(AppError):
    status_code = 416
    code = "range_not_satisfiable"


class SignatureInvalid(Forbidden):
    code = "signature_invalid"


class UrlExpired(Forbidden):
    code = "url_expired"
