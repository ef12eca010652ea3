"""What the dashboard's tests share: a browser-like client that keeps cookies and sends the
form token, as a person's browser does."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import PASSWORD

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The form token a page carries."""
    found = CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def post_form(client: TestClient, path: str, data: dict[str, Any], *,
              from_page: str | None = None, **kwargs: Any) -> Any:
    """Post a form as the page at `from_page` (default: `path`) would, with its token."""
    page = client.get(from_page or path)
    return client.post(path, data={"csrf": csrf_of(page.text), **data},
                       follow_redirects=False, **kwargs)


def sign_up(client: TestClient, kind: str = "advertiser", *, email: str,
            org_name: str = "Acme") -> Any:
    """Sign up through the page; the client holds the session afterwards."""
    answer = post_form(client, "/signup", {
        "org_kind": kind, "name": "Pat", "org_name": org_name, "email": email,
        "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return answer


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    """Sign in through the page."""
    answer = post_form(client, "/login", {"email": email, "password": password})
    assert answer.status_code == 303, answer.text
    return answer
