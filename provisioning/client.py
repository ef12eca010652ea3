"""A small typed client of the control plane's REST API (API.md), for the technicians' CLI.

Whatever goes wrong on the way comes out as one of these, so a command can print one clear
line instead of a traceback:

    ClientError       the server answered, but not like an ADSBIN control plane (HTML, redirect)
    ├── Unreachable   no HTTP answer at all: DNS, refused, TLS, timeout
    └── ApiError      an error answer: HTTP status, the API's `error.code` and its message

httpx's exceptions are translated here, at the edge. A transport can be injected (httpx's
`MockTransport`), and one client serves both a technician's token and a device token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Any

import httpx

from provisioning.models import Claim, Me, Screen, Token, Venue
from shared.device import HeartbeatAck

TIMEOUT_S = 10.0
SPEEDTEST_TIMEOUT_S = 60.0


def _version() -> str:
    try:
        return metadata.version("adsbin")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


USER_AGENT = f"adsbin-provision/{_version()}"


class ClientError(Exception):
    """The control plane could not be used for this request."""


class Unreachable(ClientError):
    """No HTTP answer came back from the server."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason} — check the URL and the network")
        self.url = url


class ApiError(ClientError):
    """An error answer of the API, as `{"error": {"code", "message", "details"}}` gives it."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @property
    def retry_after_s(self) -> float | None:
        """How long the server asked us to wait (rate limits), if it said."""
        if isinstance(self.details, dict):
            value = self.details.get("retry_after_s")
            if isinstance(value, int | float):
                return float(value)
        return None


@dataclass(frozen=True)
class Probe:
    """One timed exchange: the answer, and the wall clock just before and just after it."""

    response: httpx.Response
    sent_at: float
    received_at: float

    @property
    def round_trip_s(self) -> float:
        """Seconds from sending the request to having the whole answer."""
        return self.received_at - self.sent_at


class ControlPlane:
    """The control plane's API at `base_url`, called with an optional bearer token."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 timeout_s: float = TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Redirects are not followed: an http:// URL answered by a redirect to https:// would
        # turn a POST into a GET; better to tell the technician which URL to use.
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                  transport=transport, follow_redirects=False)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; an error answer raises ApiError, no answer raises Unreachable."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise Unreachable(self.base_url, f"no answer in time ({type(exc).__name__})") from exc
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        _raise_for_error(response)
        return response

    def timed(self, method: str, path: str, **kwargs: Any) -> Probe:
        """`request`, timed by the wall clock (for latency and clock-skew measurements)."""
        sent_at = time.time()
        response = self.request(method, path, **kwargs)
        return Probe(response, sent_at, time.time())

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _json(self.request(method, path, **kwargs))

    def login(self, email: str, password: str, org_id: str | None = None) -> Token:
        """Sign in with a password (POST /v1/auth/token)."""
        body = {"email": email, "password": password}
        if org_id:
            body["org_id"] = org_id
        return Token.model_validate(self._json("POST", "/v1/auth/token", json=body))

    def me(self) -> Me:
        """Who the token speaks for (GET /v1/me)."""
        return Me.model_validate(self._json("GET", "/v1/me"))

    def venues(self) -> list[Venue]:
        """The org's venues."""
        return [Venue.model_validate(v) for v in self._json("GET", "/v1/venues")["items"]]

    def screens(self, venue_id: str) -> list[Screen]:
        """A venue's screens."""
        items = self._json("GET", f"/v1/venues/{venue_id}/screens")["items"]
        return [Screen.model_validate(s) for s in items]

    def screen(self, screen_id: str) -> Screen:
        """One screen."""
        return Screen.model_validate(self._json("GET", f"/v1/screens/{screen_id}"))

    def claim(self, screen_id: str, code: str) -> Claim:
        """Claim the pairing code a display shows, for this screen."""
        return Claim.model_validate(
            self._json("POST", f"/v1/screens/{screen_id}/pair", json={"code": code}))

    def unpair(self, screen_id: str) -> None:
        """Revoke the device paired to this screen (DELETE /v1/screens/{id}/device)."""
        self.request("DELETE", f"/v1/screens/{screen_id}/device")

    def healthz(self) -> Probe:
        """GET /healthz, timed."""
        return self.timed("GET", "/healthz")

    def server_time(self) -> tuple[HeartbeatAck, Probe]:
        """GET /v1/device/time with the device token (records nothing); the server's time, and
        the timing."""
        probe = self.timed("GET", "/v1/device/time")
        return HeartbeatAck.model_validate(_json(probe.response)), probe

    def speedtest(self, size: int) -> tuple[int, float]:
        """Download `size` bytes from /v1/device/speedtest; (bytes received, seconds)."""
        received = 0
        try:
            with self._http.stream("GET", "/v1/device/speedtest", params={"size": size},
                                   timeout=SPEEDTEST_TIMEOUT_S) as response:
                if response.is_error:
                    response.read()
                    _raise_for_error(response)
                # Timed from the first byte on: the link's throughput, not the server's latency.
                started = time.perf_counter()
                for chunk in response.iter_bytes():
                    received += len(chunk)
                return received, time.perf_counter() - started
        except httpx.TimeoutException as exc:
            raise Unreachable(self.base_url, f"the download stalled after {received} bytes "
                                             f"({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc


def server_url(value: str) -> str:
    """A control plane's base URL, checked (http or https, a host) and without a trailing /."""
    url = value.strip().rstrip("/")
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        parts = None
    if parts is None or "://" not in url or parts.scheme not in ("http", "https") \
            or not parts.host:
        raise ValueError(f"{value!r} is not a server URL: give it whole, e.g. "
                         "https://ads.example.com")
    return url


def _json(response: httpx.Response) -> Any:
    """The JSON body of a success, or ClientError when it is something else (a captive portal)."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise ClientError(f"{response.request.url} answered {response.status_code} with {kind}, "
                          "not JSON: is this an ADSBIN control plane (or a Wi-Fi login page)?"
                          ) from None


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_redirect:
        where = response.headers.get("location", "elsewhere")
        raise ClientError(f"{response.request.url} redirects to {where}: use that server URL")
    if not response.is_error:
        return
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        # Not our error body: a proxy, a load balancer, or not ADSBIN at all.
        text = " ".join(response.text.split())[:200]
        code, message, details = f"http_{response.status_code}", (
            f"{response.reason_phrase or 'error'} from {response.request.url}"
            + (f": {text}" if text else "")), None
    raise ApiError(response.status_code, code, message, details)
