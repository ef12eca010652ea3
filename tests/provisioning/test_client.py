"""The API client's edge: what it makes of answers that are not the API's own.

The live-server tests cover the API's real errors; these use httpx's MockTransport for what a
field network puts in between (a Wi-Fi login page, a redirect, a proxy's error page).
"""

from __future__ import annotations

import re

import httpx
import pytest

from provisioning.client import ApiError, ClientError, ControlPlane, server_url


def client(handler):
    return ControlPlane("https://ads.example.com/", "tok",
                        transport=httpx.MockTransport(handler))


def test_api_errors_carry_status_code_and_message():
    api = client(lambda r: httpx.Response(429, json={"error": {
        "code": "rate_limited", "message": "too many", "details": {"retry_after_s": 12.5}}}))
    with pytest.raises(ApiError) as caught:
        api.venues()
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        429, "rate_limited", "too many")
    assert caught.value.retry_after_s == 12.5
    assert str(caught.value) == "too many (rate_limited, HTTP 429)"


def test_what_is_not_the_api_says_so():
    portal = client(lambda r: httpx.Response(200, html="<h1>Accept our terms</h1>"))
    with pytest.raises(ClientError, match="not JSON: is this an ADSBIN control plane"):
        portal.venues()
    moved = client(lambda r: httpx.Response(301, headers={"location": "https://new.example"}))
    with pytest.raises(ClientError, match=re.escape("redirects to https://new.example")):
        moved.me()
    proxy = client(lambda r: httpx.Response(502, text="Bad Gateway from nginx"))
    with pytest.raises(ApiError) as caught:
        proxy.me()
    assert caught.value.code == "http_502" and "Bad Gateway from nginx" in caught.value.message


def test_requests_carry_the_token():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json={"items": []})

    assert client(handler).venues() == []
    assert seen["authorization"] == "Bearer tok" and seen["user-agent"].startswith("adsbin-")


@pytest.mark.parametrize("value", ["ads.example.com", "ftp://ads.example.com", "https://", ""])
def test_server_urls_must_be_whole(value):
    with pytest.raises(ValueError, match=re.escape("e.g. https://")):
        server_url(value)
    assert server_url(" https://ads.example.com/ ") == "https://ads.example.com"
