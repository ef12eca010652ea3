"""Who reads a venue org's earnings: its admins and members (and super-admins), as the policy
says (`auth/policy.py`: payout and revenue_policy); its technicians and API keys do not (they
read them before, the routers checking only the org's kind)."""

from __future__ import annotations

from tests.helpers import PASSWORD, bearer, signup

PERIOD = {"period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z"}
READS = (("/v1/payouts/statements", PERIOD), ("/v1/payouts", None),
         ("/v1/revenue-share/policy", None))


def test_only_admins_and_members_read_the_earnings(client):
    owner = signup(client, "venue")
    headers = {"admin": owner.headers}
    for role in ("member", "technician"):
        r = client.post(f"/v1/orgs/{owner.org_id}/members", headers=owner.headers,
                        json={"email": f"{role}@example.com", "role": role})
        r = client.post("/v1/auth/invitations/accept",
                        json={"token": r.json()["invite_token"], "password": PASSWORD})
        headers[role] = bearer(r.json()["access_token"])
    key = client.post("/v1/api-keys", headers=owner.headers, json={"name": "bi"}).json()["key"]
    headers["api_key"] = bearer(key)
    want = {"admin": 200, "member": 200, "technician": 403, "api_key": 403}
    for path, params in READS:
        for who, status in want.items():
            r = client.get(path, headers=headers[who], params=params)
            assert r.status_code == status, (who, path, r.text)
