"""Closing billing periods: invoices from proof of play, late plays, closing twice, the venues'
statements and the reconciliation, through the API, on both databases (payments offline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.control_plane.reporting.conftest import Network
from tests.helpers import error_code


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def plays(net: Network, start: datetime, n: int, *, device: Any = None,
          campaign: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """n records of the network's campaign, 12 s apart from `start`."""
    device = device or net.device
    campaign = campaign or net.campaign
    return [device.record(campaign["id"], campaign["creatives"][0]["id"],
                          started_at=start + timedelta(seconds=12 * i)) for i in range(n)]


def upload(net: Network, records: list[dict[str, Any]], device: Any = None) -> None:
    device = device or net.device
    r = net.upload_pop(device.batch(records), device)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(records), r.json()


def close(net: Network, start: datetime, end: datetime) -> Any:
    return net.client.post("/v1/billing/cycles/close", headers=net.admin,
                           json={"period_start": start.isoformat(),
                                 "period_end": end.isoformat()})


def test_a_close_bills_every_play_once_and_the_shares_add_up(network: Network):
    net = network
    now_hour = hour_floor(datetime.now(UTC))
    p1 = (now_hour - timedelta(hours=3), now_hour - timedelta(hours=2))
    p2 = (now_hour - timedelta(hours=2), now_hour)
    upload(net, plays(net, p1[0] + timedelta(minutes=1), 120))
    upload(net, plays(net, p2[0] + timedelta(minutes=5), 30))  # the next period's

    r = close(net, *p1)
    assert r.status_code == 200, r.text
    cycle = r.json()
    assert cycle["created"] is True and cycle["status"] == "closed"
    assert cycle["invoices"] == 1 and cycle["pending_invoices"] == 0

    invoices = net.client.get("/v1/invoices", headers=net.advertiser.headers).json()["invoices"]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["status"] == "open" and invoice["provider"] == "offline"
    assert invoice["hosted_invoice_url"].endswith(f"/v1/invoices/{invoice['id']}/page")
    [line] = invoice["lines"]
    assert line["kind"] == "delivery" and line["plays"] == 120
    # 120 plays × 2.5 (the screen's multiplier) = 300 impressions at 10.00 CPM = 3.00
    assert line["impressions"] == 300.0 and line["amount_cents"] == 300
    assert invoice["amount_cents"] == 300 and line["budget_capped_cents"] == 0

    # closing the same period again bills nothing more
    again = close(net, *p1)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["id"] == cycle["id"]
    assert len(net.client.get("/v1/invoices",
                              headers=net.advertiser.headers).json()["invoices"]) == 1

    # a play of the closed period arrives late: the next close bills it on a line of its own
    upload(net, plays(net, p1[0] + timedelta(minutes=40), 10))
    r = close(net, *p2)
    assert r.status_code == 200, r.text
    second = [i for i in net.client.get("/v1/invoices", headers=net.advertiser.headers)
              .json()["invoices"] if i["cycle_id"] == r.json()["id"]]
    assert len(second) == 1
    kinds = {ln["kind"]: ln for ln in second[0]["lines"]}
    assert kinds["delivery"]["plays"] == 30
    assert kinds["late_delivery"]["plays"] == 10
    assert kinds["late_delivery"]["period_start"].startswith(p1[0].strftime("%Y-%m-%dT%H"))

    # every billed play is on exactly one line, and invoiced = venues + platform
    total = 300 + second[0]["amount_cents"]
    delivered = net.client.get(f"/v1/campaigns/{net.campaign['id']}",
                               headers=net.advertiser.headers).json()
    assert delivered["spend_cents"] == total
    recon = net.client.get("/v1/billing/reconciliation", headers=net.admin, params={
        "period_start": p1[0].isoformat(), "period_end": p2[1].isoformat()}).json()
    [row] = recon["currencies"]
    assert row["invoiced_cents"] == total == row["plays_spend_cents"]
    assert row["venue_earnings_cents"] + row["platform_cents"] == total
    assert row["difference_cents"] == 0
    # the default share: 60 % to the venue
    assert row["venue_earnings_cents"] == total * 6000 // 10000

    trace = net.client.get("/v1/billing/reconciliation/trace", headers=net.admin, params={
        "period_start": p1[0].isoformat(), "period_end": p2[1].isoformat(),
        "format": "ndjson"})
    assert trace.status_code == 200
    import json
    rows = [json.loads(x) for x in trace.text.splitlines()]
    invoice_plays = [r["play_id"] for r in rows if r["line_type"] == "invoice_line"]
    assert len(invoice_plays) == len(set(invoice_plays)) == 160
    statement_plays = {r["play_id"] for r in rows if r["line_type"] == "statement_line"}
    assert statement_plays == set(invoice_plays)
    assert sum(r["spend_cents"] for r in rows if r["line_type"] == "invoice_line") == total

    statements = net.client.get("/v1/payouts/statements", headers=net.venue_owner.headers,
                                params={"period_start": p1[0].isoformat(),
                                        "period_end": p2[1].isoformat()}).json()
    [statement] = statements["statements"]
    assert statement["earnings_cents"] == row["venue_earnings_cents"]
    assert statement["by_status"] == {"accrued": row["venue_earnings_cents"]}
    assert statement["venues"][0]["screens"][0]["screen_id"] == net.screen["id"]


def test_bad_periods_are_refused_and_change_nothing(network: Network):
    net = network
    now_hour = hour_floor(datetime.now(UTC))
    a, b = now_hour - timedelta(hours=4), now_hour - timedelta(hours=2)
    cases = [(b, a, "invalid_period"), (a, a, "invalid_period"),
             (a + timedelta(minutes=30), b, "invalid_period"),
             (a, now_hour + timedelta(hours=2), "invalid_period")]
    for start, end, code in cases:
        r = close(net, start, end)
        assert r.status_code == 422 and error_code(r) == code, (start, end, r.text)
    assert close(net, a, b).status_code == 200
    overlapping = close(net, a + timedelta(hours=1), b + timedelta(hours=1))
    assert overlapping.status_code == 409 and error_code(overlapping) == "period_overlaps"
    before = close(net, a - timedelta(hours=2), a)
    assert before.status_code == 409 and error_code(before) == "period_overlaps"
    r = net.client.post("/v1/billing/cycles/close", headers=net.advertiser.headers,
                        json={"period_start": a.isoformat(), "period_end": b.isoformat()})
    assert r.status_code == 403


def test_an_org_sees_only_its_own_invoices(network: Network):
    net = network
    now_hour = hour_floor(datetime.now(UTC))
    upload(net, plays(net, now_hour - timedelta(hours=2), 20))
    assert close(net, now_hour - timedelta(hours=3), now_hour - timedelta(hours=1)) \
        .status_code == 200
    [invoice] = net.client.get("/v1/invoices", headers=net.advertiser.headers) \
        .json()["invoices"]
    from tests.helpers import signup
    other = signup(net.client, "advertiser")
    assert net.client.get("/v1/invoices", headers=other.headers).json()["invoices"] == []
    r = net.client.get(f"/v1/invoices/{invoice['id']}", headers=other.headers)
    assert r.status_code == 404
    assert net.client.get(f"/v1/invoices/{invoice['id']}/page",
                          headers=other.headers).status_code == 404
    assert net.client.get(f"/v1/invoices/{invoice['id']}",
                          headers=net.admin).status_code == 200
    # reconciliation and closing are the platform's
    r = net.client.get("/v1/billing/reconciliation", headers=net.venue_owner.headers,
                       params={"period_start": "2026-01-01T00:00:00Z",
                               "period_end": "2026-02-01T00:00:00Z"})
    assert r.status_code == 403


def test_a_super_admin_marks_an_offline_invoice_paid_and_its_earnings_become_payable(
        network: Network):
    net = network
    now_hour = hour_floor(datetime.now(UTC))
    start, end = now_hour - timedelta(hours=3), now_hour - timedelta(hours=1)
    upload(net, plays(net, start + timedelta(minutes=3), 50))
    assert close(net, start, end).status_code == 200
    [invoice] = net.client.get("/v1/invoices", headers=net.advertiser.headers) \
        .json()["invoices"]
    assert net.client.post(f"/v1/invoices/{invoice['id']}/mark-paid",
                           headers=net.advertiser.headers).status_code == 403
    r = net.client.post(f"/v1/invoices/{invoice['id']}/mark-paid", headers=net.admin)
    assert r.status_code == 200 and r.json()["status"] == "paid"
    statement = net.client.get("/v1/payouts/statements", headers=net.venue_owner.headers,
                               params={"period_start": start.isoformat(),
                                       "period_end": end.isoformat()}).json()["statements"][0]
    assert set(statement["by_status"]) == {"payable"}


def test_a_venue_report_shows_its_earnings_by_the_policy_in_force_at_each_play(
        network: Network):
    net = network
    now_hour = hour_floor(datetime.now(UTC))
    start, end = now_hour - timedelta(hours=4), now_hour - timedelta(hours=1)
    # 70 % from the middle of the period on (the default, 60 %, before)
    r = net.client.put("/v1/revenue-share/policy", headers=net.admin, json={
        "default_bps": 7000, "effective_from": (start + timedelta(hours=2)).isoformat()})
    assert r.status_code == 200, r.text
    upload(net, plays(net, start + timedelta(minutes=1), 100))  # 250 impressions: 2.50
    upload(net, plays(net, start + timedelta(hours=2, minutes=1), 100))  # at 70 %
    span = {"from": start.isoformat(), "to": end.isoformat()}
    report = net.client.get("/v1/reports/delivery", headers=net.venue_owner.headers,
                            params={**span, "group_by": "campaign"}).json()
    [total] = [t for t in report["totals"] if t["currency"] == "EUR"]
    assert total["earnings_cents"] == 250 * 6000 // 10000 + 250 * 7000 // 10000 == 325
    by_hour = net.client.get("/v1/reports/delivery", headers=net.venue_owner.headers,
                             params={**span, "group_by": "hour"}).json()
    assert sum(row["earnings_cents"] for row in by_hour["rows"]) == 325
    # the statement of the closed period says the same
    assert close(net, start, end).status_code == 200
    statement = net.client.get("/v1/payouts/statements", headers=net.venue_owner.headers,
                               params={"period_start": start.isoformat(),
                                       "period_end": end.isoformat()}).json()["statements"][0]
    assert statement["earnings_cents"] == 325
    assert {ln["policy_version"] for ln in statement["lines"]} == {0, 1}
    # a policy may not reach into a closed period
    r = net.client.put("/v1/revenue-share/policy", headers=net.admin, json={
        "default_bps": 5000, "effective_from": start.isoformat()})
    assert r.status_code == 409 and error_code(r) == "policy_in_closed_period"
    r = net.client.put("/v1/revenue-share/policy", headers=net.admin, json={
        "default_bps": 10_001})
    assert r.status_code == 422
    r = net.client.put("/v1/revenue-share/policy", headers=net.admin, json={
        "default_bps": 5000, "venue_overrides": [{"venue_id": "ven_nope", "bps": 1}]})
    assert r.status_code == 422 and error_code(r) == "unknown_venue"
    assert net.client.put("/v1/revenue-share/policy", headers=net.venue_owner.headers,
                          json={"default_bps": 9000}).status_code == 403
    page = net.client.get("/v1/revenue-share/policy", headers=net.venue_owner.headers).json()
    assert page["current"]["default_bps"] == 7000
