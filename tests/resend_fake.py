"""A fake of Resend's email API that speaks its wire format, for tests.

`ResendFake` is an HTTP server on 127.0.0.1 that the official SDK talks to unchanged
(`resend.api_url = fake.url`):

    with ResendFake(api_key="re_test") as fake:
        ...  # the channel sends; fake.emails holds what Resend would have sent

What it covers: `POST /emails` with a JSON body, Bearer auth (401 `missing_api_key` without,
403 `invalid_api_key` with another key), the required fields (`from`, `to`, `subject`, one of
`html`/`text`: 422 `missing_required_field`), recipients that are not addresses (422
`validation_error`), and the `Idempotency-Key` header as Resend treats it: the same key with the
same body answers the first answer again and sends nothing; with another body (or on the other
endpoint), 409 `invalid_idempotent_request`. Errors are Resend's error object
(`{"statusCode", "name", "message"}`).

`POST /emails/batch` takes an array of 1 to 100 such emails (else 422 `validation_error`),
which may carry neither `attachments` nor `scheduled_at` (Resend's batch does not take them),
and answers `{"data": [{"id"}, ...]}` in the request's order. The `x-batch-validation` header
chooses how an invalid email is treated: `strict` (the default) refuses the whole batch with
that email's error (422, nothing sent); `permissive` sends the others and answers
`{"data": [...the sent ones' ids...], "errors": [{"index", "message"}, ...]}`, the index being
the email's place in the request. Its Idempotency-Key is the batch's, with the same rules.
`fake.batches` holds each batch Resend took (its key and its emails' ids).

Test controls are Python methods: `fail_next(status)` answers the next requests (to either
endpoint) with 400, 429, 500, 503... (`retry_after=` adds that Retry-After header);
`hang_next(seconds)` holds the next answer (timeouts); `take_then_fail_next()` takes the next
request and loses its answer (a 503 instead: what a client sees when the connection drops after
Resend acted). `signed(event, secret)` makes the body and Svix headers of a status webhook.

What it does not do: sending, scheduled emails, attachments, domains, the GET endpoints, or
webhook delivery (tests post `signed()` to the app themselves).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ERROR_NAMES = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key",
                404: "not_found", 409: "invalid_idempotent_request",
                422: "missing_required_field", 429: "rate_limit_exceeded",
                500: "internal_server_error", 503: "service_unavailable"}


@dataclass
class Sent:
    """An email Resend accepted: its id, its body, and the request's Idempotency-Key (the
    batch's, for an email of a batch)."""

    id: str
    body: dict[str, Any]
    idempotency_key: str | None
    batched: bool = False


@dataclass
class Batch:
    """A batch Resend accepted: its Idempotency-Key and the ids of the emails it sent."""

    idempotency_key: str | None
    ids: list[str]


_ADDRESS = re.compile(r"^(?:[^<>]*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$")
BATCH_MAX = 100


class ResendFake:
    """A local Resend API server (see the module's docstring)."""

    def __init__(self, api_key: str = "re_test") -> None:
        self.api_key = api_key
        self.emails: list[Sent] = []
        self.batches: list[Batch] = []
        self.requests = 0  # every POST /emails and /emails/batch, answered or failed
        self.batch_requests = 0  # every POST /emails/batch, answered or failed
        # idempotency key -> (endpoint and body digest, the first answer)
        self._keys: dict[str, tuple[str, dict[str, Any]]] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._lose_next = 0
        self._hang_s = 0.0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body, extra = fake._answer(self.path, dict(self.headers.items()),
                                                   self.rfile.read(length))
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ResendFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- test controls ----------------------------------------------------------------------

    def fail_next(self, *statuses: int, retry_after: str | None = None) -> None:
        """Answer the next requests with these statuses (one each), Resend's error body, and
        this Retry-After header if given (seconds or an HTTP date, as servers send it)."""
        with self._lock:
            self._failures.extend((status, retry_after) for status in statuses)

    def hang_next(self, seconds: float) -> None:
        """Hold the next answer this long (a client with a shorter timeout gives up)."""
        self._hang_s = seconds

    def take_then_fail_next(self, count: int = 1) -> None:
        """Take the next requests as usual, but answer each with a 503: Resend acted and the
        client never heard it (a dropped connection, a proxy's error)."""
        with self._lock:
            self._lose_next += count

    def to(self, address: str) -> list[Sent]:
        """The emails sent to an address."""
        return [e for e in self.emails if address in e.body.get("to", [])]

    # --- the API ----------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, name: str | None = None) -> tuple[int, dict[str, Any]]:
        return status, {"statusCode": status, "name": name or _ERROR_NAMES.get(status, "error"),
                        "message": message}

    def _answer(self, path: str, headers: dict[str, str],
                raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status, body and extra headers of the answer."""
        headers = {k.lower(): v for k, v in headers.items()}
        if self._hang_s:
            hang, self._hang_s = self._hang_s, 0.0
            time.sleep(hang)
        endpoint = path.split("?")[0].rstrip("/")
        with self._lock:
            if endpoint not in ("/emails", "/emails/batch"):
                return (*self._error(404, "The requested endpoint does not exist."), {})
            self.requests += 1
            if endpoint == "/emails/batch":
                self.batch_requests += 1
            if self._failures:
                status, retry_after = self._failures.pop(0)
                return (*self._error(status, f"the fake was told to answer {status}"),
                        {"Retry-After": retry_after} if retry_after is not None else {})
            answer = self._accept(endpoint, headers, raw)
            if self._lose_next and answer[0] == 200:
                self._lose_next -= 1
                return (*self._error(503, "the fake took the request and lost its answer"),
                        {})
            return (*answer, {})

    def _accept(self, endpoint: str, headers: dict[str, str],
                raw: bytes) -> tuple[int, dict[str, Any]]:
        """Resend's checks and its answer to an email or a batch; the caller holds the lock."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:]:
            return self._error(401, "Missing API key in the authorization header.")
        if auth[7:] != self.api_key:
            return self._error(403, "API key is invalid.")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "Invalid JSON body.")
        key = headers.get("idempotency-key")
        digest = endpoint + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None and key in self._keys:
            first_digest, first_answer = self._keys[key]
            if first_digest != digest:
                return self._error(409, "This idempotency key was used with another "
                                   "request body.")
            return 200, first_answer
        if endpoint == "/emails":
            if not isinstance(body, dict):
                return self._error(422, "The body must be an object.", "validation_error")
            invalid = self._invalid(body, batched=False)
            if invalid is not None:
                return invalid
            email_id = self._take(body, key, batched=False)
            answer: dict[str, Any] = {"id": email_id}
        else:
            permissive = headers.get("x-batch-validation", "strict").lower() == "permissive"
            if not isinstance(body, list) or not 0 < len(body) <= BATCH_MAX:
                return self._error(422, f"The body must be an array of 1 to {BATCH_MAX} "
                                   "emails.", "validation_error")
            checked = [self._invalid(email, batched=True) if isinstance(email, dict)
                       else self._error(422, "An email must be an object.", "validation_error")
                       for email in body]
            first_invalid = next((c for c in checked if c is not None), None)
            if first_invalid is not None and not permissive:
                return first_invalid  # strict: the whole batch refused, nothing sent
            ids = [self._take(email, key, batched=True)
                   for email, invalid in zip(body, checked, strict=True) if invalid is None]
            self.batches.append(Batch(key, ids))
            answer = {"data": [{"id": email_id} for email_id in ids]}
            if permissive:
                answer["errors"] = [{"index": index, "message": invalid[1]["message"]}
                                    for index, invalid in enumerate(checked)
                                    if invalid is not None]
        if key is not None:
            self._keys[key] = (digest, answer)
        return 200, answer

    def _invalid(self, email: dict[str, Any], *,
                 batched: bool) -> tuple[int, dict[str, Any]] | None:
        """Resend's error for an email it cannot create, or None."""
        missing = [f for f in ("from", "to", "subject") if not email.get(f)]
        if not email.get("html") and not email.get("text"):
            missing.append("html or text")
        if missing:
            return self._error(422, f"Missing `{', '.join(missing)}` field.")
        if batched:
            unsupported = [f for f in ("attachments", "scheduled_at") if f in email]
            if unsupported:
                return self._error(422, f"`{unsupported[0]}` is not supported in batch "
                                   "emails.", "validation_error")
        to = [email["to"]] if isinstance(email["to"], str) else email["to"]
        if not isinstance(to, list) or not all(isinstance(a, str) and _ADDRESS.match(a)
                                               for a in to):
            return self._error(422, "Invalid `to` field. The email address needs to follow "
                               "the `email@example.com` or `Name <email@example.com>` format.",
                               "validation_error")
        return None

    def _take(self, email: dict[str, Any], key: str | None, *, batched: bool) -> str:
        if isinstance(email["to"], str):
            email["to"] = [email["to"]]
        email_id = str(uuid.uuid4())
        self.emails.append(Sent(email_id, email, key, batched))
        return email_id


def webhook_secret() -> str:
    """A Svix signing secret as Resend shows it (`whsec_` and base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed(event: dict[str, Any], secret: str, *, at: float | None = None,
           message_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and Svix headers of a status webhook delivery signed with `secret`."""
    body = json.dumps(event).encode()
    msg_id = message_id or f"msg_{secrets.token_hex(12)}"
    timestamp = str(int(at if at is not None else time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return body, {"svix-id": msg_id, "svix-timestamp": timestamp,
                  "svix-signature": f"v1,{base64.b64encode(mac).decode()}",
                  "content-type": "application/json"}


def status_event(type_: str, email_id: str, **data: Any) -> dict[str, Any]:
    """A Resend email event (`email.delivered`, `email.bounced`...) about one email."""
    return {"type": type_, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "data": {"email_id": email_id, "created_at": "2026-01-01T00:00:00.000Z",
                     "from": "ADSBIN <notifications@adsbin.local>", "to": ["x@example.com"],
                     "subject": "A notification", **data}}
