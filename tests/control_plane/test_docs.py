"""The interactive docs work without internet: /docs and /redoc load only assets the app serves."""

from __future__ import annotations

import re

import pytest

# what a page fetches or links to: attributes, and Swagger UI's own `url:` of the document
_URLS = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")


def _urls(html: str) -> list[str]:
    return [a or b for a, b in _URLS.findall(html)]


@pytest.mark.parametrize("page, script", [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
def test_docs_pages_load_only_local_assets(client, page, script):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _urls(r.text)
    assert urls, r.text
    assert "cdn." not in r.text and "googleapis" not in r.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(script in client.get(u).text for u in scripts)
    assert any(u.endswith(".css") for u in urls) or page == "/redoc"
    assert "/openapi.json" in urls


def test_the_oauth2_redirect_page_is_served(client):
    r = client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()
