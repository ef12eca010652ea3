"""Everyone's account pages: profile and the org to act in, notification preferences, the phone
for SMS, push in the browser and its service worker, what was sent, members and invitations,
API keys, and a forgotten password; each through the same services as the API."""

from __future__ import annotations

import base64
import os
import re
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import select

from control_plane.app import create_app
from control_plane.notifications import service as notifications_service
from control_plane.notifications import vapid
from control_plane.notifications.models import OfflineMessage
from control_plane.orgs import service as orgs_service
from tests.control_plane.dashboard.pages import csrf_of, post_form, sign_in, sign_up
from tests.helpers import PASSWORD, bearer, login, signup, with_settings

pytestmark = pytest.mark.usefixtures("clean_db")
ERROR = re.compile(r'id="e-([\w-]+)"[^>]*>([^<]*)<')


def errors_of(html: str) -> dict[str, str]:
    """The errors a page shows next to its fields, by field."""
    return dict(ERROR.findall(html))


def no_inline_script_or_style(html: str) -> bool:
    return not re.search(r"<script(?![^>]*\ssrc=)", html) and " style=" not in html \
        and "<style" not in html


def invite_through_the_page(client: TestClient, email: str, role: str = "member") -> str:
    """Invite an address on the members page; the id of its pending invitation."""
    answer = post_form(client, "/account/members/invite", {"email": email, "role": role},
                       from_page="/account/members")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account/members?invited=1"
    page = client.get("/account/members").text
    found = re.findall(r'action="/account/invitations/([\w-]+)/withdraw"', page)
    assert found, page
    return str(found[0])


def accept(client: TestClient, app: Any, invitation_id: str) -> None:
    """Accept an invitation as its emailed link would (the token made as the email job does)."""
    token = app.state.account_links.invitation_token(invitation_id)
    answer = client.post("/v1/auth/invitations/accept", json={"token": token,
                                                              "password": PASSWORD})
    assert answer.status_code == 200, answer.text


# --- profile and switching org ---------------------------------------------------------


def test_the_profile_says_who_i_am_and_what_my_role_opens(client: TestClient) -> None:
    sign_up(client, "advertiser", email="ada@example.com", org_name="Ada Ads")
    page = client.get("/account")
    assert page.status_code == 200
    assert "ada@example.com" in page.text and "not confirmed" in page.text
    assert 'action="/verify-email/resend"' in page.text
    assert 'href="/account/members"' in page.text and 'href="/account/api-keys"' in page.text
    assert "belong to this organisation only" in page.text
    assert no_inline_script_or_style(page.text)
    client.cookies.clear()
    asked = client.get("/account", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/login")


def test_a_user_in_two_orgs_switches_and_the_pages_follow(client: TestClient,
                                                          app: Any) -> None:
    ann = signup(client, "advertiser", email="ann@example.com")
    made = client.post("/v1/campaigns", headers=ann.headers, json={
        "name": "Spring sale", "category": "1003", "currency": "USD",
        "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z",
        "budget_cents": 10000, "cpm_cents": 500})
    assert made.status_code == 201, made.text
    owner = TestClient(app)
    sign_up(owner, "venue", email="vic@example.com", org_name="Vic's Bar")
    accept(client, app, invite_through_the_page(owner, "ann@example.com", "technician"))
    sign_in(client, "ann@example.com")
    assert "Spring sale" in client.get("/campaigns").text
    account = client.get("/account").text
    options = dict((v, t) for v, t in re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)<',
                                                 account))
    venue_org = next(v for v, t in options.items() if "Vic" in t)
    assert len(options) == 2 and "technician" in options[venue_org]
    switched = post_form(client, "/org", {"org_id": venue_org}, from_page="/account")
    assert switched.status_code == 303
    home = client.get("/").text
    assert "Vic&#39;s Bar" in home and "Venues and screens" in home
    assert "Spring sale" not in client.get("/campaigns").text
    assert "technician" in client.get("/account").text
    # a technician manages nothing of the org
    assert client.get("/account/members").status_code == 403
    assert client.get("/account/api-keys").status_code == 403
    # an org they are not in answers 404, and they stay where they were
    other = signup(TestClient(app), "advertiser")
    refused = post_form(client, "/org", {"org_id": other.org_id}, from_page="/account")
    assert refused.status_code == 404
    assert "Vic&#39;s Bar" in client.get("/").text


# --- notifications ---------------------------------------------------------------------


def test_preferences_are_saved_per_kind_and_channel(client: TestClient) -> None:
    sign_up(client, "advertiser", email="pia@example.com")
    token = login(client, "pia@example.com")
    before = client.get("/v1/me/notification-preferences", headers=bearer(token)).json()
    kinds = [p["kind"] for p in before["preferences"]]
    page = client.get("/account/notifications")
    assert page.status_code == 200 and no_inline_script_or_style(page.text)
    assert f'name="{kinds[0]}:email"' in page.text
    chosen = {f"{kinds[0]}:sms": "on", f"{kinds[1]}:push": "on", f"{kinds[1]}:email": "on"}
    refused = client.post("/account/notifications/preferences", data=chosen)
    assert refused.status_code == 403
    assert client.get("/v1/me/notification-preferences",
                      headers=bearer(token)).json() == before
    saved = post_form(client, "/account/notifications/preferences", chosen,
                      from_page="/account/notifications")
    assert saved.status_code == 303
    after = {p["kind"]: p for p in client.get("/v1/me/notification-preferences",
                                              headers=bearer(token)).json()["preferences"]}
    assert (after[kinds[0]]["email"], after[kinds[0]]["sms"], after[kinds[0]]["push"]) == \
        (False, True, False)
    assert (after[kinds[1]]["email"], after[kinds[1]]["sms"], after[kinds[1]]["push"]) == \
        (True, False, True)
    assert all(not (p["email"] or p["sms"] or p["push"]) for p in after.values()
               if p["kind"] not in kinds[:2])
    assert "Your choices are saved" in client.get(saved.headers["location"]).text


def test_a_phone_number_is_confirmed_with_the_code_texted_to_it(client: TestClient,
                                                                app: Any) -> None:
    sign_up(client, "venue", email="sam@example.com")
    bad = post_form(client, "/account/phone", {"number": "06 12 34 56 78"},
                    from_page="/account/notifications")
    assert bad.status_code == 422 and "E.164" in errors_of(bad.text)["number"]
    given = post_form(client, "/account/phone", {"number": "+33612345678"},
                      from_page="/account/notifications")
    assert given.status_code == 303
    with app.state.sessionmaker() as session:
        text = session.scalars(select(OfflineMessage.body).where(
            OfflineMessage.to == "+33612345678")).one()
    code = re.search(r"\d{6}", text)
    assert code
    wrong = post_form(client, "/account/phone/confirm",
                      {"code": "000000" if code.group() != "000000" else "111111"},
                      from_page="/account/notifications")
    assert wrong.status_code == 422 and "code" in errors_of(wrong.text)
    assert "not confirmed" in wrong.text
    right = post_form(client, "/account/phone/confirm", {"code": code.group()},
                      from_page="/account/notifications")
    assert right.status_code == 303
    page = client.get("/account/notifications").text
    assert "+33612345678" in page and "state-done\">confirmed" in page
    token = login(client, "sam@example.com")
    assert client.get("/v1/me/phone", headers=bearer(token)).json()["confirmed"] is True
    post_form(client, "/account/phone/remove", {}, from_page="/account/notifications")
    assert client.get("/v1/me/phone", headers=bearer(token)).status_code == 404


def tell(app: Any, email: str, title: str) -> None:
    """A notification about the org of the user with this address (to its admins)."""
    with app.state.sessionmaker() as session:
        user = orgs_service.get_user_by_email(session=session, email=email)
        assert user is not None
        [membership] = orgs_service.memberships_of(session=session, user_id=user.id)
        notifications_service.notify(session=session, queue=None, kind="invoice.paid",
                                     org_id=membership.org_id, title=title, body="Thank you",
                                     link="/invoices", dedupe_key=f"evt_{secrets.token_hex(6)}")


def test_what_was_sent_is_listed_and_marked_read(client: TestClient, app: Any) -> None:
    sign_up(client, "advertiser", email="nell@example.com")
    assert "Nothing yet" in client.get("/account/notifications").text
    other = signup(TestClient(app), "advertiser")
    tell(app, "nell@example.com", "Invoice INV-1 paid")
    tell(app, other.email, "Not yours")
    page = client.get("/account/notifications").text
    assert "Invoice INV-1 paid" in page and "Not yours" not in page and "1 unread" in page
    [mine] = re.findall(r'action="/account/notifications/([\w-]+)/read"', page)
    [theirs] = client.get("/v1/notifications", headers=other.headers).json()["notifications"]
    refused = post_form(client, f"/account/notifications/{theirs['id']}/read", {},
                        from_page="/account/notifications")
    assert refused.status_code == 404
    read = post_form(client, f"/account/notifications/{mine}/read", {},
                     from_page="/account/notifications")
    assert read.status_code == 303
    page = client.get("/account/notifications").text
    assert "1 unread" not in page and f"/account/notifications/{mine}/read" not in page
    assert "Invoice INV-1 paid" in page


# --- push in the browser ---------------------------------------------------------------


def subscription() -> dict[str, Any]:
    """What `PushSubscription.toJSON()` gives in a browser."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"endpoint": f"https://push.example.net/push/{secrets.token_hex(6)}",
            "expirationTime": None, "keys": {"p256dh": b64(public), "auth": b64(os.urandom(16))}}


def test_a_browser_subscribes_to_push_with_the_page_token(settings: Any) -> None:
    # a push service's name that resolves nowhere here: private endpoints allowed, as in
    # tests/control_plane/notifications/test_push.py
    app = create_app(with_settings(settings, push_allow_private_endpoints=True))
    with TestClient(app) as client:
        sign_up(client, "advertiser", email="pat@example.com")
        page = client.get("/account/notifications").text
        key = re.search(r'data-push-enable data-key="([^"]+)"', page)
        assert key and key.group(1) == vapid.public_key(app.state.settings)
        assert "data-push-status" in page and "No browser receives" in page
        token = re.search(r'hx-headers=\'\{"X-CSRF-Token": "([^"]+)"\}\'', page)
        assert token
        body = subscription()
        for headers in ({}, {"X-CSRF-Token": "forged"},
                        {"X-CSRF-Token": token.group(1), "Origin": "https://evil.example"}):
            refused = client.post("/account/push", json=body, headers=headers)
            assert refused.status_code == 403, headers
        api = bearer(login(client, "pat@example.com"))
        assert client.get("/v1/me/push-subscriptions", headers=api).json() == []
        bad = client.post("/account/push", json={**body, "keys": {"auth": "x"}},
                          headers={"X-CSRF-Token": token.group(1)})
        assert bad.status_code == 422
        taken = client.post("/account/push", json=body,
                            headers={"X-CSRF-Token": token.group(1)})
        assert taken.status_code == 201, taken.text
        [stored] = client.get("/v1/me/push-subscriptions", headers=api).json()
        assert stored["endpoint"] == body["endpoint"] == taken.json()["endpoint"]
        page = client.get("/account/notifications").text
        assert f'action="/account/push/{stored["id"]}/remove"' in page
        post_form(client, f"/account/push/{stored['id']}/remove", {},
                  from_page="/account/notifications")
        assert client.get("/v1/me/push-subscriptions", headers=api).json() == []
        signed_out = TestClient(app)
        csrf = csrf_of(signed_out.get("/login").text)
        assert signed_out.post("/account/push", json=body,
                               headers={"X-CSRF-Token": csrf}).status_code == 401


def test_the_service_worker_is_served_at_the_root(client: TestClient) -> None:
    answer = client.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["service-worker-allowed"] == "/"
    assert answer.headers["content-type"].startswith("text/javascript")
    assert 'addEventListener("push"' in answer.text and "showNotification" in answer.text


# --- members and invitations -----------------------------------------------------------


def test_an_admin_invites_withdraws_changes_roles_and_removes(client: TestClient,
                                                              app: Any) -> None:
    sign_up(client, "venue", email="val@example.com", org_name="Val's Cafe")
    page = client.get("/account/members")
    assert page.status_code == 200 and no_inline_script_or_style(page.text)
    assert "val@example.com" in page.text and "No invitation is waiting" in page.text
    # a bad form says why at its field and sends nothing; without the token, nothing either
    bad = post_form(client, "/account/members/invite", {"email": "nope", "role": "member"},
                    from_page="/account/members")
    assert bad.status_code == 422 and "email" in errors_of(bad.text)
    assert 'value="nope"' in bad.text
    bad = post_form(client, "/account/members/invite", {"email": "a@example.com",
                                                        "role": "owner"},
                    from_page="/account/members")
    assert bad.status_code == 422 and "role" in errors_of(bad.text)
    assert client.post("/account/members/invite", data={
        "email": "b@example.com", "role": "member"}).status_code == 403
    assert "No invitation is waiting" in client.get("/account/members").text
    # invite, withdraw, invite again and accept
    withdrawn = invite_through_the_page(client, "tom@example.com", "technician")
    assert "tom@example.com" in client.get("/account/members").text
    answer = post_form(client, f"/account/invitations/{withdrawn}/withdraw", {},
                       from_page="/account/members")
    assert answer.status_code == 303
    assert "No invitation is waiting" in client.get("/account/members").text
    accept(client, app, invite_through_the_page(client, "tom@example.com", "member"))
    again = post_form(client, "/account/members/invite", {"email": "tom@example.com",
                                                          "role": "member"},
                      from_page="/account/members")
    assert again.status_code == 409 and "already a member" in errors_of(again.text)["email"]
    page = client.get("/account/members").text
    tom = re.search(r'action="/account/members/([\w-]+)/role"[^<]*(?:<[^>]*>[^<]*){0,6}'
                    r'Role of tom@example.com', page)
    assert tom, page
    tom_id = tom.group(1)
    # another org's member, invitation and a made-up id answer 404
    other = signup(TestClient(app), "venue")
    for path in (f"/account/members/{other.user_id}/role",
                 f"/account/members/{other.user_id}/remove",
                 "/account/invitations/inv_nothing/withdraw"):
        assert post_form(client, path, {"role": "admin"},
                         from_page="/account/members").status_code == 404, path
    # roles: a bad one is said at the row; the last admin stays
    me = re.search(r'action="/account/members/([\w-]+)/role"', page)
    assert me and me.group(1) != tom_id
    last = post_form(client, f"/account/members/{me.group(1)}/role", {"role": "member"},
                     from_page="/account/members")
    assert last.status_code == 409 and f"e-role-{me.group(1)}" in last.text
    bad = post_form(client, f"/account/members/{tom_id}/role", {"role": "boss"},
                    from_page="/account/members")
    assert bad.status_code == 422 and f"e-role-{tom_id}" in bad.text
    changed = post_form(client, f"/account/members/{tom_id}/role", {"role": "technician"},
                        from_page="/account/members")
    assert changed.status_code == 303
    listed = client.get(f"/v1/orgs/{other.org_id}/members", headers=other.headers).json()
    assert len(listed["items"]) == 1
    mine = login(client, "val@example.com")
    org_id = client.get("/v1/me", headers=bearer(mine)).json()["org_id"]
    roles = {m["user"]["email"]: m["role"] for m in client.get(
        f"/v1/orgs/{org_id}/members", headers=bearer(mine)).json()["items"]}
    assert roles == {"val@example.com": "admin", "tom@example.com": "technician"}
    removed = post_form(client, f"/account/members/{tom_id}/remove", {},
                        from_page="/account/members")
    assert removed.status_code == 303
    assert "tom@example.com" not in client.get("/account/members").text


def test_a_member_may_not_manage_members_or_keys(client: TestClient, app: Any) -> None:
    admin = TestClient(app)
    sign_up(admin, "advertiser", email="boss@example.com")
    accept(client, app, invite_through_the_page(admin, "mo@example.com", "member"))
    sign_in(client, "mo@example.com")
    account = client.get("/account").text
    assert 'href="/account/members"' not in account and 'href="/account/api-keys"' not in account
    for path in ("/account/members", "/account/api-keys"):
        assert client.get(path).status_code == 403, path
    assert post_form(client, "/account/members/invite", {"email": "x@example.com"},
                     from_page="/account").status_code == 403
    assert post_form(client, "/account/api-keys", {"name": "mine"},
                     from_page="/account").status_code == 403


# --- API keys --------------------------------------------------------------------------


def test_an_api_key_is_shown_once_works_and_stops_when_revoked(client: TestClient,
                                                                app: Any) -> None:
    sign_up(client, "advertiser", email="kim@example.com")
    page = client.get("/account/api-keys")
    assert page.status_code == 200 and "No API key yet" in page.text
    bad = post_form(client, "/account/api-keys", {"name": ""}, from_page="/account/api-keys")
    assert bad.status_code == 422 and "name" in errors_of(bad.text)
    assert client.post("/account/api-keys", data={"name": "x"}).status_code == 403
    assert "No API key yet" in client.get("/account/api-keys").text
    made = post_form(client, "/account/api-keys", {"name": "Spreadsheet"},
                     from_page="/account/api-keys")
    assert made.status_code == 201 and no_inline_script_or_style(made.text)
    secret = re.search(r'id="f-secret"[^>]*value="([^"]+)"', made.text)
    assert secret
    listed = client.get("/account/api-keys").text
    assert "Spreadsheet" in listed and secret.group(1) not in listed
    assert client.get("/v1/campaigns", headers=bearer(secret.group(1))).status_code == 200
    [key_id] = re.findall(r'action="/account/api-keys/([\w-]+)/revoke"', listed)
    other = signup(TestClient(app), "advertiser")
    theirs = client.post("/v1/api-keys", headers=other.headers, json={"name": "theirs"}).json()
    for path in (f"/account/api-keys/{theirs['id']}/revoke", "/account/api-keys/key_none/revoke"):
        assert post_form(client, path, {}, from_page="/account/api-keys").status_code == 404
    assert client.get("/v1/campaigns", headers=bearer(theirs["key"])).status_code == 200
    revoked = post_form(client, f"/account/api-keys/{key_id}/revoke", {},
                        from_page="/account/api-keys")
    assert revoked.status_code == 303
    assert "revoked" in client.get("/account/api-keys").text
    assert client.get("/v1/campaigns", headers=bearer(secret.group(1))).status_code == 401


# --- a forgotten password --------------------------------------------------------------


def test_forgot_password_answers_the_same_whoever_asks(client: TestClient) -> None:
    signup(client, "advertiser", email="known@example.com")
    page = client.get("/account/forgot-password")
    assert page.status_code == 200 and no_inline_script_or_style(page.text)
    assert 'href="/account/forgot-password"' in client.get("/login").text
    bad = post_form(client, "/account/forgot-password", {"email": "nope"})
    assert bad.status_code == 422 and "email" in errors_of(bad.text)
    assert client.post("/account/forgot-password",
                       data={"email": "known@example.com"}).status_code == 403
    answers = []
    for email in ("known@example.com", "nobody@example.com"):
        for _ in range(3):  # the address limit: 3 an hour
            answer = post_form(client, "/account/forgot-password", {"email": email})
            assert answer.status_code == 303
            answers.append(answer.headers["location"])
        limited = post_form(client, "/account/forgot-password", {"email": email})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        assert "email" in errors_of(limited.text)
    assert set(answers) == {"/account/forgot-password?sent=1"}
    assert "If an account has this address" in client.get(answers[0]).text


def test_an_id_that_cannot_be_one_answers_not_found(client: TestClient) -> None:
    sign_up(client, "venue", email="wes@example.com")
    csrf = csrf_of(client.get("/account").text)
    for bad in ("a%00b", "x" * 41, "%E2%80%AE", "..%2f"):
        for path in (f"/account/api-keys/{bad}/revoke", f"/account/members/{bad}/role",
                     f"/account/members/{bad}/remove", f"/account/invitations/{bad}/withdraw",
                     f"/account/notifications/{bad}/read", f"/account/push/{bad}/remove"):
            answer = client.post(path, data={"csrf": csrf, "role": "admin"})
            # a NUL is refused at the door, as in every request (middleware.RefuseNul)
            assert answer.status_code == (422 if bad == "a%00b" else 404), (
                path, answer.status_code)
