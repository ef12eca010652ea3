"""HTTP for the agent on the standard library's `http.client`: the one HTTP stack in a display
unit's memory (httpx, with httpcore, h11, anyio, idna and certifi, cost it some 3 MB beside the
`http.client` that Python loads anyway; bench_agent.py).

What the agent needs of a client, and no more: connections kept alive and shared by its threads
(one request at a time on each), a request on a kept-alive connection the server has since closed
sent again on a new one, redirects followed (the Authorization header dropped when they leave
the origin, as httpx does), `HTTP(S)_PROXY` and `NO_PROXY` from the environment, a connect and a
read timeout, certificates checked against the system's store, and bodies read whole or streamed.
Anything that is not an answer from the server raises `TransportError`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

MAX_REDIRECTS = 20
MAX_IDLE_PER_ORIGIN = 4
REDIRECTS = frozenset({301, 302, 303, 307, 308})

Origin = tuple[str, str, int]  # scheme, host, port


class TransportError(Exception):
    """No answer: DNS, refused, reset, timed out, a broken TLS handshake or a cut-off body."""


@dataclass
class Response:
    """An answer whose body was read whole."""

    status_code: int
    reason_phrase: str
    headers: http.client.HTTPMessage  # case-insensitive `get`
    content: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        return json.loads(self.content)


class Streamed:
    """An answer whose body is read as it comes (`iter_bytes`)."""

    def __init__(self, raw: http.client.HTTPResponse) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.reason_phrase = raw.reason
        self.headers = raw.headers

    def iter_bytes(self, chunk_bytes: int) -> Iterator[bytes]:
        """The body, `chunk_bytes` at a time."""
        try:
            while block := self.raw.read(chunk_bytes):
                yield block
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"the answer was cut off: {exc!r}") from exc

    def read(self) -> Response:
        """The rest of the body, whole."""
        return Response(self.status_code, self.reason_phrase, self.headers,
                        b"".join(self.iter_bytes(256 * 1024)))


def _origin(url: str) -> Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url!r}")
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


class Client:
    """Requests to any origin, over a pool of kept-alive connections shared by threads."""

    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float,
                 headers: dict[str, str] | None = None) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.headers = dict(headers or {})
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def close(self) -> None:
        """Close the kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                content: bytes | None = None, json_body: Any = None) -> Response:
        """Send a request (following redirects) and read its answer whole."""
        with self.stream(method, url, headers=headers, content=content,
                         json_body=json_body) as answer:
            return answer.read()

    @contextlib.contextmanager
    def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None,
               content: bytes | None = None, json_body: Any = None) -> Iterator[Streamed]:
        """Send a request (following redirects); the answer, its body read in the block."""
        sent = {**self.headers, **(headers or {})}
        if json_body is not None:  # as httpx writes it
            content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"),
                                 allow_nan=False).encode()
            sent["Content-Type"] = "application/json"
        for _ in range(MAX_REDIRECTS + 1):
            origin = _origin(url)
            connection, raw = self._exchange(origin, method, url, sent, content)
            location = raw.getheader("Location")
            if raw.status not in REDIRECTS or not location:
                break
            self._finish(origin, connection, raw)
            target = urljoin(url, location)
            if _origin(target) != origin:
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            if raw.status == 303 or (raw.status in (301, 302) and method == "POST"):
                method, content = "GET", None
                sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
            url = target
        else:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects from {url}")
        try:
            yield Streamed(raw)
        except BaseException:
            connection.close()  # the body may be half read: the connection cannot be reused
            raise
        self._finish(origin, connection, raw)

    def _exchange(self, origin: Origin, method: str, url: str, headers: dict[str, str],
                  content: bytes | None,
                  ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """One request and its answer's status and headers, on a kept-alive connection if
        there is one; sent again on a new one if the server had closed that."""
        while True:
            connection, reused = self._take(origin)
            target, extra = self._target(origin, url)
            try:
                connection.request(method, target, body=content, headers={**headers, **extra})
                return connection, connection.getresponse()
            except (ConnectionError, http.client.BadStatusLine) as exc:
                connection.close()
                if not reused:
                    raise TransportError(f"{origin[1]}:{origin[2]}: {exc!r}") from exc
                # a kept-alive connection the server closed meanwhile: a new one, once
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise TransportError(f"{origin[1]}:{origin[2]}: {exc!r}") from exc

    def _finish(self, origin: Origin, connection: http.client.HTTPConnection,
                raw: http.client.HTTPResponse) -> None:
        """Keep the connection for the next request if its answer was read to the end."""
        try:
            raw.read()  # what is left (nothing, after a whole read); a redirect's short body
        except (OSError, http.client.HTTPException):
            connection.close()
            return
        if raw.will_close:
            connection.close()
            return
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                idle.append(connection)
                return
        connection.close()

    def _take(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._connect(origin), False
            if _idle_and_open(connection):
                return connection, True
            connection.close()  # the server closed it meanwhile (uvicorn after 5 s idle)

    def _connect(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        proxy = _proxy_for(scheme, host)
        connection: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            at = (proxy.hostname or "", proxy.port or 80) if proxy else (host, port)
            connection = http.client.HTTPSConnection(*at, timeout=self.connect_timeout_s,
                                                     context=self._tls)
            if proxy:
                connection.set_tunnel(host, port, headers=_proxy_auth(proxy))
        else:
            at = (proxy.hostname or "", proxy.port or 80) if proxy else (host, port)
            connection = http.client.HTTPConnection(*at, timeout=self.connect_timeout_s)
        try:
            connection.connect()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"{host}:{port}: {exc!r}") from exc
        if connection.sock is not None:  # connected in time: reads may take longer
            connection.sock.settimeout(self.read_timeout_s)
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _target(self, origin: Origin, url: str) -> tuple[str, dict[str, str]]:
        """What goes on the request line: the path, or the whole URL to a plain-HTTP proxy."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if origin[0] == "http" and (proxy := _proxy_for("http", origin[1])):
            return url.split("#")[0], _proxy_auth(proxy)
        return path, {}


def _proxy_for(scheme: str, host: str) -> Any:
    """The proxy the environment names for this scheme and host (`urlsplit` parts), or None."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):  # NO_PROXY (from the environment here)
        return None
    return urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _proxy_auth(proxy: Any) -> dict[str, str]:
    if proxy.username is None:
        return {}
    login = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(login).decode()}


def _idle_and_open(connection: http.client.HTTPConnection) -> bool:
    """Whether a kept-alive connection is still open: an idle one has nothing to read, so a
    readable one was closed by the server (EOF). poll(), as select() refuses descriptors above
    1,023, which a simulated fleet's processes have."""
    if connection.sock is None:
        return False
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return not poller.poll(0)
