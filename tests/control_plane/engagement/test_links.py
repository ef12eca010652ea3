"""A campaign's tracked link: only the campaign's advertiser sets it, only to a safe landing
URL; its QR code is the short URL; the short URL sends to the landing URL and nowhere else,
and stops once the link is disabled."""

from __future__ import annotations

import io
import re

import pytest
import segno
import zxingcpp
from PIL import Image

from control_plane.engagement import qr
from tests.control_plane.engagement.conftest import LANDING
from tests.helpers import error_code, signup


def _url(campaign) -> str:
    return f"/v1/campaigns/{campaign['id']}/tracked-link"


def test_a_link_is_made_with_a_short_random_code(client, advertiser, campaign, link):
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}", link["code"])
    assert link["short_url"] == f"http://testserver/r/{link['code']}"
    assert link["landing_url"] == LANDING and link["enabled"] and link["scans"] == 0
    assert client.get(_url(campaign), headers=advertiser.headers).json() == link
    # pointing it elsewhere keeps the code, so printed QR codes keep working
    r = client.post(_url(campaign), headers=advertiser.headers,
                   json={"landing_url": "http://shop.example.com/spring"})
    assert r.status_code == 200 and r.json()["code"] == link["code"]
    assert r.json()["landing_url"] == "http://shop.example.com/spring"
    other = signup(client, "advertiser")
    from tests.control_plane.engagement.conftest import draft_campaign
    second = draft_campaign(client, other)
    r = client.post(_url(second), headers=other.headers, json={"landing_url": LANDING})
    assert r.json()["code"] != link["code"]


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)", "ftp://files.example.com/ad.pdf", "https://",
    "https:///path-only", "//shop.example.com/no-scheme", "shop.example.com",
    "https://user:secret@shop.example.com/", "https://shop.example.com@evil.example/",
    "https://shop.example.com:99999/", "https://shop.example.com/a b",
    "https://shop.example.com\\@evil.example/", "data:text/html,<script>alert(1)</script>",
    "https://shöp.example.com/", "https://shop.example.com/" + "a" * 2000,
])
def test_a_landing_url_that_is_not_safe_is_refused_and_nothing_changes(
        client, advertiser, campaign, link, url):
    r = client.post(_url(campaign), headers=advertiser.headers, json={"landing_url": url})
    assert r.status_code == 422, r.text
    assert error_code(r) in ("invalid_landing_url", "validation_error")
    assert client.get(_url(campaign), headers=advertiser.headers).json() == link


def test_a_first_invalid_url_makes_no_link(client, advertiser, campaign):
    r = client.post(_url(campaign), headers=advertiser.headers,
                   json={"landing_url": "javascript:alert(1)"})
    assert r.status_code == 422 and error_code(r) == "invalid_landing_url"
    r = client.get(_url(campaign), headers=advertiser.headers)
    assert r.status_code == 404 and error_code(r) == "tracked_link_not_found"


def test_another_tenant_gets_404_for_everything(client, campaign, link):
    for kind in ("advertiser", "venue"):
        stranger = signup(client, kind)
        for method, path in (("GET", ""), ("GET", "/qr.png"), ("GET", "/qr.svg"),
                             ("DELETE", ""), ("POST", "")):
            r = client.request(method, _url(campaign) + path, headers=stranger.headers,
                               json={"landing_url": "https://evil.example/"}
                               if method == "POST" else None)
            assert r.status_code == 404, (kind, method, path, r.text)
            assert error_code(r) == "campaign_not_found"
    assert client.get(f"/r/{link['code']}", follow_redirects=False).headers["location"] == \
        LANDING


def test_the_qr_png_decodes_to_the_short_url(client, advertiser, campaign, link):
    r = client.get(f"{_url(campaign)}/qr.png", headers=advertiser.headers, params={"scale": 6})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [link["short_url"]]
    matrix = segno.make(link["short_url"], error="m", micro=False)
    assert image.size == matrix.symbol_size(scale=6, border=qr.BORDER)


def test_the_qr_svg_is_the_short_urls_code(client, advertiser, campaign, link):
    r = client.get(f"{_url(campaign)}/qr.svg", headers=advertiser.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    expected = io.BytesIO()
    segno.make(link["short_url"], error="m", micro=False).save(
        expected, kind="svg", scale=qr.DEFAULT_SCALE, border=qr.BORDER, xmldecl=True,
        title="QR code", desc=link["short_url"])
    assert r.content == expected.getvalue()
    assert b"<svg" in r.content and link["short_url"].encode() in r.content


@pytest.mark.parametrize("scale", [0, 41, -1])
def test_the_qr_scale_is_bounded(client, advertiser, campaign, link, scale):
    r = client.get(f"{_url(campaign)}/qr.png", headers=advertiser.headers,
                   params={"scale": scale})
    assert r.status_code == 422 and error_code(r) == "validation_error"


@pytest.mark.parametrize("query", [
    "", "?next=https://evil.example/", "?url=https://evil.example/&redirect=//evil.example",
    "?landing_url=javascript:alert(1)", "?%0d%0aLocation:%20https://evil.example/",
])
def test_the_short_url_redirects_only_to_the_landing_url(client, link, query):
    r = client.get(f"/r/{link['code']}{query}", follow_redirects=False,
                   headers={"Host": "evil.example", "Referer": "https://evil.example/",
                            "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 302
    assert r.headers["location"] == LANDING
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_unknown_codes_answer_a_404_page(client, link):
    for code in ("AAAAAAAA", "x" * 200, "a.b", link["code"] + "x"):
        r = client.get(f"/r/{code}", follow_redirects=False)
        assert r.status_code == 404 and "location" not in r.headers
        assert r.headers["content-type"].startswith("text/html")


def test_a_disabled_link_stops_redirecting_and_can_be_enabled_again(
        client, advertiser, campaign, link):
    r = client.delete(_url(campaign), headers=advertiser.headers)
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = client.get(f"/r/{link['code']}", follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    r = client.post(_url(campaign), headers=advertiser.headers, json={"landing_url": LANDING})
    assert r.json()["enabled"] is True and r.json()["code"] == link["code"]
    assert client.get(f"/r/{link['code']}", follow_redirects=False).status_code == 302
