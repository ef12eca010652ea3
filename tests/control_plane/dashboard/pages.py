"""What the dashboard's tests share: a browser-like client that keeps cookies and sends the
form token, as a person's browser does."""

from __future__ import annotations

import re
from html.parser import HTMLParser
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


class _Form(HTMLParser):
    """The fields of one form of a page, as a browser would post them unchanged."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select = a.get("name", "")
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = ""


def form_fields(html: str, action: str) -> list[tuple[str, str]]:
    """The fields of the page's form posting to `action`, filled in as the page shows them
    (checked boxes and chosen options only; textareas and buttons left out)."""
    parser = _Form(action)
    parser.feed(html)
    assert parser.fields, f"the page has no form posting to {action}"
    return parser.fields
