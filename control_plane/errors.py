"""Domain errors and the one handler that turns them into API.md's error body.

    AppError (code, HTTP status)
    ├── Invalid              422  the input is well-formed but not acceptable
    ├── Unauthenticated      401  no credentials, or credentials we do not accept
    ├── Forbidden            403  known caller, not allowed to do this
    ├── NotFound             404  does not exist, or is not yours
    ├── Conflict             409  the current state does not allow it
    ├── PayloadTooLarge      413
    ├── UnsupportedMedia     415
    ├── RateLimited          429
    └── BadRequest           400  e.g. a webhook whose signature does not verify

The database not answering (SQLAlchemy's `OperationalError`: refused, dropped, timed out; or
the connection pool running dry) is no bug of the request: it answers 503
`database_unavailable` with a `Retry-After`, so that devices and clients send it again later.

Services raise these (never `HTTPException`); every response body of an error is
`{"error": {"code", "message", "details"}}`, including FastAPI's own validation errors and
Starlette's 404/405.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5  # what a 503 for an unreachable database asks clients to wait


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "too_large"


class UnsupportedMedia(AppError):
    status_code = 415
    code = "unsupported_media"


class Invalid(AppError):
    status_code = 422
    code = "validation_error"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    @classmethod
    def after(cls, wait_s: float, what: str) -> RateLimited:
        """'too many <what>', with the wait in the details and in a Retry-After header."""
        return cls(f"too many {what}; wait and try again",
                   details={"retry_after_s": round(wait_s, 1)},
                   headers={"Retry-After": str(max(1, round(wait_s)))})


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
}


class ErrorInfo(BaseModel):
    """What went wrong: a stable code to act on, a sentence for people, and details (null when
    there are none; always present)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    details: Any


class ErrorBody(BaseModel):
    """The error body of API.md."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorInfo


# What the OpenAPI document says of every operation's 4xx (the app passes it to FastAPI): the
# body above. A route names its own codes beside it (`responses={409: ...}`), which
# `install_error_handlers` gives the same body in the document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "An error: `error.code` says which (API.md)"}}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error body of API.md."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response carrying the error body of API.md."""
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Keep what a client can act on; `input` and `ctx` may hold bytes or exceptions.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


def _document_errors(app: FastAPI) -> None:
    """A 4xx that a route names without a body (`{409: {"description": "email_taken"}}`) is
    documented with the error body, as the `4XX` beside it is."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build()
        for item in document["paths"].values() if fresh else ():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    if str(status).startswith("4") and "content" not in response:
                        response["content"] = {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the one error body (and say so in the
    OpenAPI document)."""
    _document_errors(app)

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        malformed = any(d["type"] == "json_invalid" for d in details)
        message = "the body is not valid JSON" if malformed else "the request is not valid"
        return error_response(422, "malformed_json" if malformed else "validation_error",
                              message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message,
                              headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("the database did not answer on %s %s: %s", request.method, request.url.path,
                  str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return error_response(503, "database_unavailable",
                              "the database cannot be reached right now; try again later",
                              {"retry_after_s": DATABASE_RETRY_AFTER_S},
                              headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error happened; it was logged")
