"""Account emails (issue 17, item 6): the address confirmed by the link mailed at signup (until
then an account signs in but cannot buy or be paid), a password reset by a single-use,
short-lived link, and invitations mailed to the address; rate-limited, and answering alike
whether or not the address has an account. Email goes through the official Resend SDK to the
local fake (`tests/resend_fake.py`); the links are followed as a person would, on the pages
they open."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from control_plane.app import create_app
from control_plane.auth.links import RESET_TTL_S, AccountLinks
from control_plane.events import OutboxEvent
from control_plane.orgs import service as orgs_service
from tests.helpers import PASSWORD, Account, bearer, error_code, login, signup, until, with_settings
from tests.resend_fake import ResendFake, Sent

NEW_PASSWORD = "a much better passphrase"


@dataclass
class World:
    client: TestClient
    fake: ResendFake

    @property
    def links(self) -> AccountLinks:
        return self.client.app.state.account_links  # type: ignore[attr-defined, no-any-return]

    def settled(self) -> bool:
        """Every event recorded so far was delivered to its subscribers."""
        with self.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            return session.scalar(select(OutboxEvent.id).where(
                OutboxEvent.status == "pending").limit(1)) is None

    def mail(self, address: str, subject: str, count: int = 1) -> Sent:
        """The one email to `address` whose subject has `subject` (waiting for it)."""
        def sent() -> list[Sent] | None:
            found = [e for e in self.fake.to(address) if subject in e.body["subject"]]
            return found if len(found) >= count else None

        found: list[Sent] = until(sent, what=f"the email “{subject}” to {address}")
        assert len(found) == count, [e.body["subject"] for e in found]
        return found[-1]


@pytest.fixture
def world(settings: Any) -> Iterator[World]:
    with ResendFake(api_key="re_test") as fake:
        app = create_app(with_settings(settings, run_worker=True,
                                       resend_api_key=SecretStr("re_test"),
                                       resend_api_url=fake.url, job_retry_base_s=0.05))
        with TestClient(app) as client:
            yield World(client, fake)


def link_of(email: Sent) -> str:
    """The link of an email, as its text shows it, as a path and query on the app."""
    found = re.findall(r"https?://\S+", email.body["text"])
    assert found, email.body["text"]
    parts = urlsplit(found[0])
    return f"{parts.path}?{parts.query}"


def token_of(link: str) -> str:
    return str(link.split("token=", 1)[1])


def form_token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]*)"', page)
    assert found, page
    return unescape(found.group(1))


def me(world: World, account: Account) -> dict[str, Any]:
    body: dict[str, Any] = world.client.get("/v1/me", headers=account.headers).json()
    return body


# --- the address ------------------------------------------------------------------------------

def test_signup_mails_a_link_whose_page_confirms_the_address(world: World) -> None:
    account = signup(world.client, "advertiser", verified=False)
    assert me(world, account)["user"]["email_verified_at"] is None
    email = world.mail(account.email, "Confirm your email address")
    # an account email, not a notification: no unsubscribe, and it says why it came
    assert "List-Unsubscribe" not in email.body.get("headers", {})
    assert "this address was given to ADSBIN" in email.body["text"]
    assert "Confirm my address" in email.body["html"]
    assert email.idempotency_key and email.idempotency_key.startswith("account-evt")
    link = link_of(email)
    assert link.startswith("/account/verify-email?token=")
    # the page changes nothing by being opened (mail scanners open links)
    page = world.client.get(link)
    assert page.status_code == 200 and "Confirm my address" in page.text
    assert me(world, account)["user"]["email_verified_at"] is None
    done = world.client.post("/account/verify-email", data={"token": form_token(page.text)})
    assert done.status_code == 200 and "is confirmed" in done.text
    assert me(world, account)["user"]["email_verified_at"] is not None
    # following it again is harmless
    assert world.client.post("/v1/auth/verify-email",
                             json={"token": token_of(link)}).json()["status"] == "verified"


def test_an_unconfirmed_account_signs_in_and_looks_but_cannot_buy_or_be_paid(
        world: World) -> None:
    client = world.client
    advertiser = signup(client, "advertiser", verified=False)
    venue = signup(client, "venue", verified=False)
    assert login(client, advertiser.email)
    r = client.post("/v1/campaigns", headers=advertiser.headers, json={
        "name": "Draft", "category": "1003",
        "start_at": datetime.now(UTC).isoformat(),
        "end_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "budget_cents": 10_000, "cpm_cents": 800, "currency": "EUR"})
    assert r.status_code == 201, r.text
    submit = f"/v1/campaigns/{r.json()['id']}/submit"
    r = client.post(submit, headers=advertiser.headers)
    assert r.status_code == 403 and error_code(r) == "email_not_verified"
    assert "/v1/auth/verify-email/resend" in r.json()["error"]["message"]
    r = client.post("/v1/payouts/onboarding-link", headers=venue.headers)
    assert r.status_code == 403 and error_code(r) == "email_not_verified"
    for account in (advertiser, venue):
        token = token_of(link_of(world.mail(account.email, "Confirm your email address")))
        assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    # the same tokens now pass: the next check is the campaign's own (it has no creative)
    r = client.post(submit, headers=advertiser.headers)
    assert r.status_code == 409 and error_code(r) == "no_creatives"
    assert client.post("/v1/payouts/onboarding-link", headers=venue.headers).status_code == 200


def test_a_new_link_on_request_limited_and_not_once_confirmed(world: World) -> None:
    account = signup(world.client, "venue", verified=False)
    first = world.mail(account.email, "Confirm your email address")
    answers = [world.client.post("/v1/auth/verify-email/resend", headers=account.headers)
               for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert error_code(answers[-1]) == "rate_limited" and "Retry-After" in answers[-1].headers
    world.mail(account.email, "Confirm your email address", count=4)
    assert len({e.idempotency_key for e in world.fake.to(account.email)}) == 4
    assert world.client.post("/v1/auth/verify-email",
                             json={"token": token_of(link_of(first))}).status_code == 200
    r = world.client.post("/v1/auth/verify-email/resend", headers=account.headers)
    assert r.status_code == 202 and r.json()["status"] == "already_verified"


def test_a_link_that_is_forged_changed_or_for_another_address_is_refused(
        world: World) -> None:
    account = signup(world.client, "venue", verified=False)
    token = token_of(link_of(world.mail(account.email, "Confirm your email address")))
    user_id, requested_at, mac = token.split(".")
    other = signup(world.client, "venue", verified=False)
    for bad in ("", "nonsense", f"{user_id}.{requested_at}.{mac[:-2]}AA",
                f"{user_id}.{int(requested_at) + 1}.{mac}", f"{other.user_id}.{requested_at}.{mac}",
                f"usr_nobody.{requested_at}.{mac}", "a" * 300):
        r = world.client.post("/v1/auth/verify-email", json={"token": bad})
        assert r.status_code == 422, (bad, r.text)
        assert error_code(r) in ("invalid_link", "validation_error")
    assert me(world, account)["user"]["email_verified_at"] is None
    assert me(world, other)["user"]["email_verified_at"] is None
    page = world.client.post("/account/verify-email", data={"token": "forged"})
    assert page.status_code == 422 and "not valid" in page.text


# --- the password -----------------------------------------------------------------------------

def test_a_reset_answers_alike_and_mails_only_an_address_with_an_account(world: World) -> None:
    account = signup(world.client, "advertiser")
    answers = [world.client.post("/v1/auth/password-reset", json={"email": email})
               for email in (account.email.upper(), "nobody-here@example.com")]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["status"] == "accepted"
    world.mail(account.email, "Reset your ADSBIN password")
    until(world.settled, what="every event delivered")
    assert world.fake.to("nobody-here@example.com") == []


def test_a_reset_link_works_once_and_not_for_long(world: World) -> None:
    client = world.client
    account = signup(client, "advertiser", verified=False)
    assert client.post("/v1/auth/password-reset",
                       json={"email": account.email}).status_code == 202
    email = world.mail(account.email, "Reset your ADSBIN password")
    assert "within 60 minutes" in email.body["text"]
    link = link_of(email)
    assert link.startswith("/account/reset-password?token=")
    page = client.get(link)
    assert page.status_code == 200 and 'type="password"' in page.text
    token = form_token(page.text)
    # the page checks what it is given, and keeps the old password meanwhile
    r = client.post("/account/reset-password", data={
        "token": token, "password": NEW_PASSWORD, "password_again": "something else"})
    assert r.status_code == 422 and "differ" in r.text
    r = client.post("/account/reset-password", data={
        "token": token, "password": "short", "password_again": "short"})
    assert r.status_code == 422 and "at least 10" in r.text
    assert login(client, account.email)
    r = client.post("/account/reset-password", data={
        "token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert r.status_code == 200 and "password is changed" in r.text
    assert client.post("/v1/auth/token", json={"email": account.email,
                                               "password": PASSWORD}).status_code == 401
    assert login(client, account.email, NEW_PASSWORD)
    # the link came to the address: it is confirmed too
    assert me(world, account)["user"]["email_verified_at"] is not None
    # once only
    r = client.post("/v1/auth/password-reset/confirm",
                    json={"token": token, "password": "yet another passphrase"})
    assert r.status_code == 422 and error_code(r) == "invalid_link"
    # and not for long: a link made an hour and a second ago is refused
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        user = orgs_service.get_user(session=session, user_id=account.user_id)
        assert user is not None
        stale = world.links.reset_token(user=user,
                                        requested_at=int(time.time()) - RESET_TTL_S - 1)
        fresh_but_for_verifying = world.links.verification_token(
            user=user, requested_at=int(time.time()))
    for bad in (stale, fresh_but_for_verifying):
        r = client.post("/v1/auth/password-reset/confirm",
                        json={"token": bad, "password": "yet another passphrase"})
        assert r.status_code == 422 and error_code(r) == "invalid_link"
    assert login(client, account.email, NEW_PASSWORD)


def test_reset_requests_are_limited_the_same_whoever_the_address_is(world: World) -> None:
    client = world.client
    account = signup(client, "advertiser")
    for email in (account.email, "nobody-else@example.com"):
        codes = [client.post("/v1/auth/password-reset", json={"email": email}).status_code
                 for _ in range(4)]
        assert codes == [202, 202, 202, 429], email
    r = client.post("/v1/auth/password-reset", json={"email": "not an address"})
    assert r.status_code == 422


# --- invitations ------------------------------------------------------------------------------

def test_an_invitation_is_mailed_and_its_page_makes_the_account(world: World) -> None:
    client = world.client
    venue = signup(client, "venue")
    r = client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                    json={"email": "new.tech@example.com", "role": "technician"})
    assert r.status_code == 201
    email = world.mail("new.tech@example.com", "invited you to venue org")
    assert "as technician" in email.body["text"]
    link = link_of(email)
    assert link.startswith("/account/invitation?token=")
    page = client.get(link)
    assert page.status_code == 200 and "Choose your password" in page.text
    token = form_token(page.text)
    assert token == r.json()["invite_token"]  # the email carries what the API showed
    r = client.post("/account/invitation", data={
        "token": token, "name": "Tess Tech", "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD})
    assert r.status_code == 200 and "You are a member of venue org" in r.text
    access = login(client, "new.tech@example.com", NEW_PASSWORD, org_id=venue.org_id)
    who = client.get("/v1/me", headers=bearer(access)).json()
    assert who["role"] == "technician" and who["user"]["name"] == "Tess Tech"
    assert who["user"]["email_verified_at"] is not None
    again = client.get(link)
    assert again.status_code == 422 and "not valid" in again.text


def test_an_invitation_to_an_account_asks_for_its_password(world: World) -> None:
    client = world.client
    venue = signup(client, "venue")
    known = signup(client, "advertiser")
    client.post(f"/v1/orgs/{venue.org_id}/members", headers=venue.headers,
                json={"email": known.email, "role": "member"})
    link = link_of(world.mail(known.email, "invited you"))
    page = client.get(link)
    assert "has an ADSBIN account" in page.text and "password_again" not in page.text
    token = form_token(page.text)
    wrong = client.post("/account/invitation", data={"token": token, "password": "wrong one!"})
    assert wrong.status_code == 401 and "its password" in wrong.text
    r = client.post("/account/invitation", data={"token": token, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert login(client, known.email, org_id=venue.org_id)


def test_an_account_email_is_retried_when_resend_fails_and_sent_once(world: World) -> None:
    world.fake.fail_next(503, 429)
    account = signup(world.client, "advertiser", verified=False)
    email = world.mail(account.email, "Confirm your email address")
    assert world.fake.requests >= 3
    until(world.settled, what="every event delivered")
    assert len(world.fake.to(account.email)) == 1
    assert email.idempotency_key and email.idempotency_key.startswith("account-")
