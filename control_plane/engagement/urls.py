"""What a landing URL may be: the only place a tracked link ever sends anyone.

An absolute http(s) URL with a host, no credentials (`https://bank.example@evil.example/`
reads as the first host to a person and goes to the second), at most 2,000 characters of
printable ASCII (non-ASCII is percent-encoded, IDN hosts in their `xn--` form, so that the
`Location` header is exactly what was checked). It is checked once, when it is set; the
redirect then sends this stored string and nothing from the request.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from control_plane.engagement.exceptions import InvalidLandingUrl
from control_plane.engagement.models import MAX_LANDING_URL

SCHEMES = ("http", "https")
_PRINTABLE_ASCII = re.compile(r"[!-~]+")  # no spaces, controls or non-ASCII
_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)")


def check_landing_url(url: str) -> str:
    """The URL if it may be a landing URL, else `InvalidLandingUrl` saying why."""
    if len(url) > MAX_LANDING_URL:
        raise InvalidLandingUrl(f"a landing URL is at most {MAX_LANDING_URL} characters")
    if not _PRINTABLE_ASCII.fullmatch(url):
        raise InvalidLandingUrl("a landing URL is printable ASCII without spaces "
                                "(percent-encode the rest)")
    if "\\" in url:  # browsers read a backslash as a slash; Python's parser does not
        raise InvalidLandingUrl("a landing URL may not contain a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise InvalidLandingUrl(f"not a URL: {exc}") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidLandingUrl("a landing URL is http or https",
                                details={"scheme": parts.scheme or None})
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidLandingUrl("a landing URL may not carry a user name or password")
    host = parts.hostname
    if not host or not _HOST.fullmatch(parts.netloc.rsplit(":", 1)[0] if port is not None
                                       else parts.netloc):
        raise InvalidLandingUrl("a landing URL names a host")
    return url
