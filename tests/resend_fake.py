"""A fake of Resend's email API that speaks its wire format, for tests.

`ResendFake` is an HTTP server on 127.0.0.1 that the official SDK talks to unchanged
(`resend.api_url = fake.url`):

    with ResendFake(api_key="re_test") as fake:
        ...  # the channel sends; fake.emails holds what Resend would have sent

What it covers: `POST /emails` with a JSON body, Bearer auth (401 `missing_api_key` without,
403 `invalid_api_key` with another key), the required fields (`from`, `to`, `subject`, one of
`html`/`text`: 422 `missing_required_field`), and the `Idempotency-Key` header as Resend treats
it: the same key with the same body answers the first email's id and sends nothing; with
another body, 409 `invalid_idempotent_request`. Errors are Resend's error object
(`{"statusCode", "name", "message"}`). Test controls are Python methods: `fail_next(status)`
answers the next requests with 400, 429, 500, 503... (`retry_after=` adds that Retry-After
header); `hang_next(seconds)` holds the next answer (timeouts). `signed(event, secret)` makes
the body and Svix headers of a status webhook.

What it does not do: sending, batches, scheduled emails, attachments, domains, the GET endpoints,
or webhook delivery (tests post `signed()` to the app themselves).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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
    """An email Resend accepted: its id, the request's body and headers."""

    id: str
    body: dict[str, Any]
    idempotency_key: str | None


class ResendFake:
    """A local Resend API server (see the module's docstring)."""

    def __init__(self, api_key: str = "re_test") -> None:
        self.api_key = api_key
        self.emails: list[Sent] = []
        self.requests = 0  # every POST /emails, answered or failed
        self._keys: dict[str, tuple[str, str]] = {}  # idempotency key -> (body digest, id)
        self._failures: list[tuple[int, str | None]] = []
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
        with self._lock:
            if path.rstrip("/") != "/emails":
                return (*self._error(404, "The requested endpoint does not exist."), {})
            self.requests += 1
            if self._failures:
                status, retry_after = self._failures.pop(0)
                return (*self._error(status, f"the fake was told to answer {status}"),
                        {"Retry-After": retry_after} if retry_after is not None else {})
            return (*self._accept(headers, raw), {})

    def _accept(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """Resend's checks and its answer to an email; the caller holds the lock."""
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:]:
            return self._error(401, "Missing API key in the authorization header.")
        if auth[7:] != self.api_key:
            return self._error(403, "API key is invalid.")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "Invalid JSON body.")
        if not isinstance(body, dict):
            return self._error(422, "The body must be an object.", "validation_error")
        missing = [f for f in ("from", "to", "subject") if not body.get(f)]
        if not body.get("html") and not body.get("text"):
            missing.append("html or text")
        if missing:
            return self._error(422, f"Missing `{', '.join(missing)}` field.")
        if isinstance(body["to"], str):
            body["to"] = [body["to"]]
        key = headers.get("idempotency-key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None and key in self._keys:
            first_digest, email_id = self._keys[key]
            if first_digest != digest:
                return self._error(409, "This idempotency key was used with another "
                                   "request body.")
            return 200, {"id": email_id}
        email_id = str(uuid.uuid4())
        self.emails.append(Sent(email_id, body, key))
        if key is not None:
            self._keys[key] = (digest, email_id)
        return 200, {"id": email_id}


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
