"""Delivery reports and the raw export, scoped by caller: an advertiser sees its campaigns, a
venue org its screens (earnings, not advertisers' spend), an API key what its org may read, the
platform everything; the CSV opens with the `csv` module and adds up; the export's cursor never
skips or repeats; a stored batch verifies with the device's public key."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.pop import signed_message, verify
from tests.helpers import PASSWORD, Account, bearer, error_code, signup


@dataclass
class Market:
    net: Any
    a: Account  # advertiser A, campaign ca, 3 plays on S1 and 1 on S2
    b: Account  # advertiser B, campaign cb, 2 plays on S1 and 4 on S2
    v1: Account  # venue org of S1 (and a house play there)
    v2: Account  # venue org of S2
    ca: str
    cb: str
    s1: str
    s2: str
    keys: dict[str, dict[str, str]]
    technician: dict[str, str]


def api_key(client, account_headers) -> dict[str, str]:
    r = client.post("/v1/api-keys", headers=account_headers, json={"name": "warehouse"})
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


@pytest.fixture
def market(network) -> Market:
    net = network
    a, v1 = net.advertiser, net.venue_owner
    b = signup(net.client, "advertiser")
    v2 = signup(net.client, "venue")
    cb = net.approved_campaign(b, name="Sneakers")
    s2, d2 = net.new_screen(owner=v2)
    d1 = net.device
    ca_ids = (net.campaign["id"], net.creative_id)
    cb_ids = (cb["id"], cb["creatives"][0]["id"])
    one = [d1.record(*ca_ids) for _ in range(3)] + [d1.record(*cb_ids) for _ in range(2)] + \
        [d1.record(None, "house:default")]
    two = [d2.record(*ca_ids)] + [d2.record(*cb_ids) for _ in range(4)]
    assert net.upload_pop(d1.batch(one)).json()["accepted"] == 6
    assert net.upload_pop(d2.batch(two), device=d2).json()["accepted"] == 5
    r = net.client.post(f"/v1/orgs/{v1.org_id}/members", headers=v1.headers,
                        json={"email": "tech@v1.example.com", "role": "technician"})
    r = net.client.post("/v1/auth/invitations/accept",
                        json={"token": r.json()["invite_token"], "password": PASSWORD})
    keys = {"a": api_key(net.client, a.headers), "v1": api_key(net.client, v1.headers),
            "platform": api_key(net.client, net.admin)}
    return Market(net, a, b, v1, v2, net.campaign["id"], cb["id"], net.screen["id"], s2["id"],
                  keys, bearer(r.json()["access_token"]))


def report(m: Market, headers, **params) -> dict[str, Any]:
    r = m.net.client.get("/v1/reports/delivery", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def plays_by(body, column) -> dict[Any, int]:
    """Plays per value of a column (rows are split by currency too: house content has none)."""
    out: dict[Any, int] = {}
    for row in body["rows"]:
        out[row[column]] = out.get(row[column], 0) + row["plays"]
    return out


def test_each_caller_sees_its_own_plays(market):
    m = market
    assert plays_by(report(m, m.a.headers, group_by="campaign"), "campaign_id") == {m.ca: 4}
    assert plays_by(report(m, m.a.headers, group_by="screen"), "screen_id") == {m.s1: 3, m.s2: 1}
    assert plays_by(report(m, m.b.headers, group_by="campaign"), "campaign_id") == {m.cb: 6}
    venue = report(m, m.v1.headers, group_by="campaign")
    assert plays_by(venue, "campaign_id") == {m.ca: 3, m.cb: 2, None: 1}
    assert all(isinstance(row["earnings_cents"], int) and "spend_cents" not in row
               for row in venue["rows"]) and venue["notes"]
    assert plays_by(report(m, m.v2.headers, group_by="screen"), "screen_id") == {m.s2: 5}
    everything = report(m, m.net.admin, group_by="campaign,screen")
    assert sum(row["plays"] for row in everything["rows"]) == 11
    # read from the fleet-wide rollups, the same figures
    fleet = report(m, m.net.admin, group_by="campaign,day")
    assert fleet["totals"] == everything["totals"]
    assert {row["campaign_name"] for row in everything["rows"]} == \
        {"Winter beers", "Sneakers", "house content"}
    # a filter on another tenant's campaign finds nothing rather than telling it exists
    assert report(m, m.a.headers, campaign_id=m.cb)["rows"] == []
    # API keys read what their org reads; the platform's key reads everything
    assert plays_by(report(m, m.keys["a"], group_by="campaign"), "campaign_id") == {m.ca: 4}
    assert plays_by(report(m, m.keys["v1"], group_by="screen"), "screen_id") == {m.s1: 6}
    assert sum(r["plays"] for r in report(m, m.keys["platform"])["rows"]) == 11
    # a technician installs screens; reports are not theirs to read
    r = m.net.client.get("/v1/reports/delivery", headers=m.technician)
    assert r.status_code == 403 and error_code(r) == "forbidden"


def test_the_csv_opens_with_the_csv_module_and_adds_up(market):
    m = market
    r = m.net.client.get("/v1/reports/delivery", headers=m.net.admin,
                         params={"group_by": "campaign,screen,day", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    body = report(m, m.net.admin, group_by="campaign,screen,day")
    assert len(rows) == len(body["rows"]) == 5
    assert sum(int(row["plays"]) for row in rows) == 11
    eur = next(t for t in body["totals"] if t["currency"] == "EUR")
    assert sum(int(row["spend_cents"]) for row in rows if row["currency"] == "EUR") == \
        eur["spend_cents"] > 0
    assert round(sum(float(row["impressions"]) for row in rows), 3) == eur["impressions"]
    house = [row for row in rows if row["campaign_id"] == ""]
    assert len(house) == 1 and house[0]["campaign_name"] == "house content"
    assert house[0]["spend_cents"] == "0" and house[0]["currency"] == ""
    # a venue's CSV has the earnings column instead of the advertisers' spend
    r = m.net.client.get("/v1/reports/delivery", headers=m.v1.headers,
                         params={"group_by": "screen", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sum(int(row["plays"]) for row in rows) == 6
    assert all(row["earnings_cents"].isdigit() and "spend_cents" not in row for row in rows)


def test_the_export_is_scoped_and_its_cursor_never_skips(market):
    m = market
    client = m.net.client

    def page(headers, after="0", limit=1000):
        r = client.get("/v1/pop", headers=headers, params={"after": after, "limit": limit})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(x) for x in r.text.splitlines()], r.headers

    lines, _ = page(m.keys["a"])
    assert len(lines) == 4 and {x["campaign_id"] for x in lines} == {m.ca}
    assert all("spend_cents" in x for x in lines)
    lines, _ = page(m.keys["v1"])
    assert len(lines) == 6 and {x["screen_id"] for x in lines} == {m.s1}
    assert not any("spend_cents" in x for x in lines)
    for headers in (m.a.headers, m.v1.headers, m.technician):  # people use reports
        r = client.get("/v1/pop", headers=headers)
        assert r.status_code == 403 and error_code(r) == "forbidden"
    assert client.get("/v1/pop").status_code == 401

    seen, cursor, more = [], "0", True
    while more:
        lines, headers = page(m.keys["platform"], cursor, limit=4)
        seen += lines
        cursor, more = headers["x-next-cursor"], headers["x-more"] == "true"
        assert len(lines) == 4 or not more
    assert len(seen) == len({x["play_id"] for x in seen}) == 11
    assert [int(x["cursor"]) for x in seen] == sorted(int(x["cursor"]) for x in seen)
    assert page(m.keys["platform"], cursor)[0] == []
    # new plays after the last cursor: exactly those, once
    device = m.net.device
    late = [device.record(m.ca, m.net.creative_id) for _ in range(2)]
    m.net.upload_pop(device.batch(late))
    lines, headers = page(m.keys["platform"], cursor)
    assert [x["play_id"] for x in lines] == [x["play_id"] for x in late]
    for bad in ("-1", "abc", "1" * 30):
        r = client.get("/v1/pop", headers=m.keys["platform"], params={"after": bad})
        assert r.status_code == 422


def test_a_stored_batch_verifies_with_the_device_key(market):
    m = market
    client = m.net.client
    lines = [json.loads(x) for x in client.get("/v1/pop", headers=m.keys["v1"]).text.split()]
    play = lines[0]
    r = client.get(f"/v1/pop/batches/{play['batch']}", headers=m.keys["v1"])
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["verifies"] is True and stored["screen_id"] == m.s1
    # what a third party does, with nothing of ours but the published format
    message = stored["message"].encode()
    assert verify(stored["public_key"], message, stored["signature"])
    signed = json.loads(message)
    assert signed_message(signed["batch_id"], signed["device_id"], signed["records"]) == message
    record = next(x for x in signed["records"] if x["play_id"] == play["play_id"])
    assert record["started_at"] == play["started_at"] and \
        record["creative_id"] == play["creative_id"]
    # the batch shows every play of that screen in it: its venue and the platform only
    assert client.get(f"/v1/pop/batches/{play['batch']}", headers=m.net.admin).status_code == 200
    # as the README says: the venue org's own people too, not only its API keys (issue 14 #14)
    r = client.get(f"/v1/pop/batches/{play['batch']}", headers=m.net.venue_owner.headers)
    assert r.status_code == 200 and r.json()["verifies"] is True
    for headers in (m.keys["a"], bearer_key(client, m.v2)):
        r = client.get(f"/v1/pop/batches/{play['batch']}", headers=headers)
        assert r.status_code == 404 and error_code(r) == "pop_batch_not_found"


def bearer_key(client, account: Account) -> dict[str, str]:
    return api_key(client, account.headers)


def test_days_and_hours_add_up_over_any_period(network):
    net, device = network, network.device
    now = datetime.now(UTC)
    starts = [now - timedelta(hours=h, minutes=7) for h in range(0, 49, 3)]
    records = [device.record(net.campaign["id"], net.creative_id, started_at=t) for t in starts]
    assert net.upload_pop(device.batch(records)).json()["accepted"] == len(records)
    headers = net.advertiser.headers
    for back_h in (2, 20, 26, 45, 60):
        start = now - timedelta(hours=back_h, minutes=13)
        params = {"from": start.isoformat(), "to": now.isoformat()}
        by_day = report_of(net, headers, group_by="day", **params)
        by_hour = report_of(net, headers, group_by="hour", **params)
        floored = start.replace(minute=0, second=0, microsecond=0)
        expected = sum(1 for t in starts if t >= floored)
        assert sum(r["plays"] for r in by_day["rows"]) == expected, back_h
        assert sum(r["plays"] for r in by_hour["rows"]) == expected, back_h
        assert by_hour["from"] == floored.isoformat().replace("+00:00", "Z")
        assert all(r["hour"].endswith(":00:00Z") for r in by_hour["rows"])
        assert all(len(r["day"]) == 10 for r in by_day["rows"])


def report_of(net, headers, **params):
    r = net.client.get("/v1/reports/delivery", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("params", "code"), [
    ({"group_by": "week"}, "invalid_group_by"),
    ({"from": "2026-01-01T00:00:00"}, "invalid_period"),
    ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid_period"),
    ({"to": "9999-12-31T23:59:59Z"}, "invalid_period"),
    ({"format": "xml"}, "validation_error"),
    ({"from": "yesterday"}, "validation_error"),
])
def test_bad_report_requests_say_why(network, params, code):
    r = network.client.get("/v1/reports/delivery", headers=network.advertiser.headers,
                           params=params)
    assert r.status_code == 422 and error_code(r) == code
