"""The dashboard's sessions: signing up, in and out through the pages, the cookies they keep,
the form token every post must carry, and the headers every page answers with."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from control_plane.dashboard.session import CSRF_COOKIE, SESSION_COOKIE
from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in, sign_up
from tests.helpers import PASSWORD, signup

pytestmark = pytest.mark.usefixtures("clean_db")


def test_a_visitor_signs_up_and_lands_on_their_home(client: TestClient) -> None:
    answer = sign_up(client, "advertiser", email="ann@example.com", org_name="Ann's Bakery")
    assert answer.headers["location"] == "/?welcome=1"
    cookie = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "Ann&#39;s Bakery" in home.text and "New campaign" in home.text
    assert "Confirm your email address" in home.text  # not verified yet


def test_signup_errors_are_shown_next_to_their_fields_and_nothing_is_made(
        client: TestClient) -> None:
    answer = post_form(client, "/signup", {"org_kind": "advertiser", "name": "Pat",
                                           "org_name": "Acme", "email": "not-an-email",
                                           "password": "short"})
    assert answer.status_code == 422
    assert re.search(r'id="e-email"[^>]*>[^<]*email', answer.text, re.I)
    assert re.search(r'id="e-password"', answer.text)
    assert 'value="Acme"' in answer.text  # what was typed stays
    assert client.get("/", follow_redirects=False).text.count("Sign in") >= 1
    assert SESSION_COOKIE not in client.cookies


def test_a_taken_email_is_said_at_the_email_field(client: TestClient) -> None:
    signup(client, "advertiser", email="taken@example.com")
    answer = post_form(client, "/signup", {"org_kind": "venue", "name": "Pat",
                                           "org_name": "Bar", "email": "taken@example.com",
                                           "password": PASSWORD})
    assert answer.status_code == 409
    assert 'id="e-email"' in answer.text


def test_sign_in_goes_back_to_the_page_asked_for_and_out_again(client: TestClient) -> None:
    signup(client, "venue", email="vera@example.com")
    asked = client.get("/campaigns?x=1", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2Fcampaigns%3Fx%3D1"
    login = client.get(asked.headers["location"])
    answer = client.post("/login", data={"csrf": csrf_of(login.text), "next": "/campaigns?x=1",
                                         "email": "vera@example.com", "password": PASSWORD},
                         follow_redirects=False)
    assert answer.headers["location"] == "/campaigns?x=1"
    out = post_form(client, "/logout", {}, from_page="/")
    assert out.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_sign_in_never_sends_the_browser_to_another_site(client: TestClient,
                                                         target: str) -> None:
    signup(client, "advertiser", email="nora@example.com")
    login = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(login.text), "next": target,
                                         "email": "nora@example.com", "password": PASSWORD},
                         follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_a_wrong_password_says_so_and_opens_no_session(client: TestClient) -> None:
    signup(client, "advertiser", email="wes@example.com")
    answer = post_form(client, "/login", {"email": "wes@example.com", "password": "x" * 12})
    assert answer.status_code == 401
    assert "wrong" in answer.text
    assert SESSION_COOKIE not in client.cookies


def test_a_post_without_the_form_token_is_refused(client: TestClient) -> None:
    client.get("/login")  # the browser has its CSRF cookie
    answer = client.post("/login", data={"email": "a@example.com", "password": PASSWORD})
    assert answer.status_code == 403
    assert "expired" in answer.text


def test_a_token_of_another_browser_is_refused(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    other = TestClient(app)
    token = csrf_of(other.get("/login").text)
    client.get("/login")
    answer = client.post("/login", data={"csrf": token, "email": "a@example.com",
                                         "password": PASSWORD})
    assert answer.status_code == 403


def test_a_post_from_another_site_is_refused(client: TestClient) -> None:
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "email": "a@example.com",
                                         "password": PASSWORD},
                         headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


def test_signing_in_makes_a_new_form_token(client: TestClient) -> None:
    signup(client, "advertiser", email="rota@example.com")
    before = client.cookies.get(CSRF_COOKIE) or (client.get("/login") and \
        client.cookies.get(CSRF_COOKIE))
    sign_in(client, "rota@example.com")
    assert client.cookies.get(CSRF_COOKIE) not in (None, before)


def test_every_page_answers_with_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/login", "/signup"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    sign_up(client, "advertiser", email="ivy@example.com")
    for path in ("/", "/login"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\ssrc=)", html)
        assert " style=" not in html and "<style" not in html


def test_the_assets_are_served_by_the_app(client: TestClient) -> None:
    for path in ("/static/app.css", "/static/app.js", "/static/vendor/htmx/htmx.min.js",
                 "/static/vendor/htmx/LICENSE"):
        assert client.get(path).status_code == 200, path


def test_the_campaigns_page_shows_only_the_orgs_own_and_says_what_to_do_when_empty(
        client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    other = TestClient(app)
    token = signup(other, "advertiser", email="rival@example.com").token
    made = other.post("/v1/campaigns", headers={"Authorization": f"Bearer {token}"}, json={
        "name": "Rival sale", "category": "1003", "currency": "USD",
        "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z",
        "budget_cents": 10000, "cpm_cents": 500})
    assert made.status_code == 201, made.text
    sign_up(client, "advertiser", email="own@example.com")
    page = client.get("/campaigns")
    assert "Rival sale" not in page.text
    assert "No campaign yet" in page.text and 'href="/campaigns/new"' in page.text
