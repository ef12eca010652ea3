"""A fake of Twilio's Messages API that the official SDK talks to unchanged, for tests.

`TwilioFake` is an HTTP server on 127.0.0.1:

    with TwilioFake() as fake:
        client = twilio.rest.Client(fake.account_sid, fake.auth_token)
        client.api.base_url = fake.url

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` as Twilio does: HTTP Basic auth with
the account SID and auth token (401, error 20003, otherwise), a form body that needs `To`,
`Body` and `From` or `MessagingServiceSid` (400, error 21604 / 21603), an E.164 `To` (400, error
21211), and a 201 with the message resource (its `SM…` SID, status `queued`). Every request is
kept in `fake.requests`, every accepted message in `fake.messages` (with the
`status_callback` it was sent with). `fail_next(status, code)`
answers the next requests with Twilio's error body instead; `status_callback()` makes the form
and `X-Twilio-Signature` Twilio would post to a message's `StatusCallback`.

Not covered: any other resource, GETs, media, scheduling, or Twilio calling the callback itself.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@dataclass
class Received:
    """One request the fake got: its path, form, and what it answered."""

    path: str
    form: dict[str, str]
    status: int


class TwilioFake:
    """Twilio's Messages API on a local port."""

    def __init__(self) -> None:
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_hex(16)
        self.requests: list[Received] = []
        self.messages: list[dict[str, Any]] = []
        self._failures: list[tuple[int, int, str, str | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TwilioFake:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, code: int = 0, message: str = "", times: int = 1,
                  retry_after: str | None = None) -> None:
        """Answer the next `times` message requests with this error (and this Retry-After
        header, if given)."""
        with self._lock:
            self._failures += [(status, code or status, message or f"fake failure {status}",
                                retry_after)] * times

    def to(self, number: str) -> list[dict[str, Any]]:
        """The messages accepted for a number."""
        with self._lock:
            return [m for m in self.messages if m["to"] == number]

    def status_callback(self, message: dict[str, Any], status: str, *,
                        error_code: str | None = None,
                        token: str | None = None) -> tuple[dict[str, str], str]:
        """The form Twilio posts to the message's status callback, and its signature (with
        our auth token unless `token` is given, to forge one)."""
        form = {"AccountSid": self.account_sid, "MessageSid": message["sid"],
                "SmsSid": message["sid"], "MessageStatus": status, "SmsStatus": status,
                "To": message["to"], "From": message["from"] or "", "ApiVersion": "2010-04-01"}
        if error_code:
            form["ErrorCode"] = error_code
        url = message["status_callback"]
        assert url, "the message was sent without a status callback"
        signature = RequestValidator(token or self.auth_token).compute_signature(url, form)
        return form, signature

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                status, body, extra = fake._answer(
                    self.path, self.headers.get("Authorization", ""), form)
                with fake._lock:
                    fake.requests.append(Received(self.path, form, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _error(self, status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"code": code, "message": message, "status": status,
                        "more_info": f"https://www.twilio.com/docs/errors/{code}"}

    def _answer(self, path: str, authorization: str,
                form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status, body and extra headers of the answer."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures and _MESSAGES.match(
                path.split("?")[0]) else None
        if failure is not None:
            status, code, message, retry_after = failure
            return (*self._error(status, code, message),
                    {"Retry-After": retry_after} if retry_after is not None else {})
        return (*self._message(path, authorization, form), {})

    def _message(self, path: str, authorization: str,
                 form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        found = _MESSAGES.match(path.split("?")[0])
        if found is None:
            return self._error(404, 20404, f"The requested resource {path} was not found")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if authorization != f"Basic {expected}" or found.group(1) != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        if not form.get("To"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        if not _E164.match(form["To"]):
            return self._error(400, 21211,
                               f"The 'To' number {form['To']} is not a valid phone number.")
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        message = {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": form["To"], "from": form.get("From"), "body": form["Body"],
            "messaging_service_sid": form.get("MessagingServiceSid"), "status": "queued",
            "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "date_created": now, "date_updated": now, "date_sent": None, "price": None,
            "price_unit": "USD", "error_code": None, "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {}}
        with self._lock:  # kept with its callback, which Twilio does not echo
            self.messages.append({**message, "status_callback": form.get("StatusCallback")})
        return 201, message


@contextmanager
def twilio_fake() -> Iterator[TwilioFake]:
    """A running fake, stopped after."""
    with TwilioFake() as fake:
        yield fake
