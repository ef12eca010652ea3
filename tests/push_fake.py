"""A push service on loopback, as browsers' push services behave for an application server:
pushes are POSTed to `/push/<id>`, signed with VAPID (RFC 8292) by the key the browser
subscribed with, and encrypted for the browser (RFC 8291, aes128gcm). It checks both as a real
one does (401 on a bad signature, 403 on another key, 400 on a body it cannot decrypt for the
subscriber), and answers what a test tells it to (201 by default)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's side of a subscription: its ECDH key pair and auth secret."""

    id: str
    endpoint: str
    application_server_key: str  # the VAPID public key it subscribed with
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def to_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives in a browser."""
        public = self.private_key.public_key().public_bytes(Encoding.X962,
                                                            PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}


@dataclass
class Push:
    """A push the service took, decrypted."""

    subscriber: str
    data: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


class PushService:
    """Takes pushes for the subscribers it made; `answer()` scripts its replies."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        self.received: list[Push] = []  # taken (2xx) and decrypted
        self.attempts: list[tuple[str, int]] = []  # every POST: subscriber id, status answered
        self.errors: list[str] = []  # why a push was rejected (bad signature, bad body)
        self._answers: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = outer._handle(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{outer.origin}/m/{secrets.token_hex(8)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def subscriber(self, application_server_key: str) -> Subscriber:
        """A new browser subscribed with this application server key."""
        sid = secrets.token_hex(8)
        found = Subscriber(sid, f"{self.origin}/push/{sid}", application_server_key)
        self.subscribers[sid] = found
        return found

    def answer(self, subscriber: Subscriber, *statuses: int) -> None:
        """Answer the next pushes to the subscriber with these statuses, then 201."""
        with self._lock:
            self._answers.setdefault(subscriber.id, []).extend(statuses)

    def pushes(self, subscriber: Subscriber) -> list[Push]:
        return [p for p in self.received if p.subscriber == subscriber.id]

    def tried(self, subscriber: Subscriber) -> list[int]:
        return [status for sid, status in self.attempts if sid == subscriber.id]

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        sid = path.removeprefix("/push/")
        found = self.subscribers.get(sid)
        status, push = self._check(found, headers, body) if found else (404, None)
        with self._lock:
            if status == 201 and self._answers.get(sid):
                status = self._answers[sid].pop(0)
            self.attempts.append((sid, status))
            if status == 201 and push is not None:
                self.received.append(push)
        return status

    def _check(self, subscriber: Subscriber, headers: dict[str, str],
               body: bytes) -> tuple[int, Push | None]:
        lower = {k.lower(): v for k, v in headers.items()}
        scheme, _, params = lower.get("authorization", "").partition(" ")
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if scheme.lower() != "vapid" or "t" not in parts or "k" not in parts:
            self.errors.append(f"no VAPID authorization: {lower.get('authorization')}")
            return 401, None
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                               b64url_decode(parts["k"]))
            claims = jwt.decode(parts["t"], key, algorithms=["ES256"], audience=self.origin,
                                options={"require": ["aud", "exp", "sub"]})
        except (ValueError, jwt.PyJWTError) as exc:
            self.errors.append(f"bad VAPID token: {exc!r}")
            return 401, None
        if claims["exp"] > time.time() + 24 * 3600:  # RFC 8292 §2: at most a day ahead
            self.errors.append("VAPID token expires more than 24 h ahead")
            return 401, None
        if parts["k"] != subscriber.application_server_key:
            self.errors.append("signed by another key than the browser subscribed with")
            return 403, None
        if lower.get("content-encoding") != "aes128gcm" or "ttl" not in lower:
            self.errors.append(f"headers: {lower}")
            return 400, None
        try:
            plain = http_ece.decrypt(body, private_key=subscriber.private_key,
                                     auth_secret=subscriber.auth, version="aes128gcm")
            data = json.loads(plain)
        except Exception as exc:  # any failure to decrypt is the sender's
            self.errors.append(f"cannot decrypt: {exc!r}")
            return 400, None
        return 201, Push(subscriber.id, data, lower, claims)


@contextmanager
def push_service() -> Iterator[PushService]:
    """A push service listening on loopback for the duration."""
    service = PushService()
    service.thread.start()
    try:
        yield service
    finally:
        service.server.shutdown()
        service.server.server_close()
