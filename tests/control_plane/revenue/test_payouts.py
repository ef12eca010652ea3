"""Payouts to venue orgs, through the API on both databases: offline end to end (onboarding,
a run, a rerun that makes nothing more, the minimum carried over), and with the official SDK
against the Stripe fake (Express onboarding, webhooks, a 500 mid-run, reversals, and refused
reversals taken from the next payout)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from control_plane.payments.models import PaymentCall
from tests.control_plane.billing.test_close import close, hour_floor, plays, upload
from tests.control_plane.reporting.conftest import Network, make_network
from tests.control_plane.stripe_network import deliver as signed_delivery
from tests.control_plane.stripe_network import latest_event, stripe_network
from tests.helpers import error_code, until
from tests.stripe_fake import StripeFake

# 120 plays × 2.5 (the screen's multiplier) at 10.00 CPM invoice 3.00; the venue earns 60 %
EARNED_PER_120 = 180


def period(hours_ago: int, length_h: int = 2) -> tuple[datetime, datetime]:
    start = hour_floor(datetime.now(UTC)) - timedelta(hours=hours_ago)
    return start, start + timedelta(hours=length_h)


def bill(net: Network, p: tuple[datetime, datetime], n: int = 120) -> dict[str, Any]:
    """n plays in the period, the period closed; its invoice."""
    upload(net, plays(net, p[0] + timedelta(minutes=1), n))
    r = close(net, *p)
    assert r.status_code == 200, r.text
    [invoice] = [i for i in net.client.get("/v1/invoices", headers=net.advertiser.headers)
                 .json()["invoices"] if i["cycle_id"] == r.json()["id"]]
    return dict(invoice)


def run(net: Network, p: tuple[datetime, datetime]) -> dict[str, Any]:
    r = net.client.post("/v1/payouts/run", headers=net.admin,
                        json={"period_start": p[0].isoformat(), "period_end": p[1].isoformat()})
    assert r.status_code == 200, r.text
    return dict(r.json())


def onboard(net: Network) -> dict[str, Any]:
    r = net.client.post("/v1/payouts/onboarding-link", headers=net.venue_owner.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def statement(net: Network, p: tuple[datetime, datetime]) -> dict[str, Any]:
    r = net.client.get("/v1/payouts/statements", headers=net.venue_owner.headers,
                       params={"period_start": p[0].isoformat(), "period_end": p[1].isoformat()})
    assert r.status_code == 200, r.text
    [found] = r.json()["statements"]
    return dict(found)


def mark_paid(net: Network, invoice: dict[str, Any]) -> None:
    r = net.client.post(f"/v1/invoices/{invoice['id']}/mark-paid", headers=net.admin)
    assert r.status_code == 200, r.text


def offline_transfers(net: Network) -> list[dict[str, Any]]:
    with net.app.state.sessionmaker() as session:
        return [dict(p) for p in session.scalars(select(PaymentCall.params).where(
            PaymentCall.operation == "transfers.create"))]


@pytest.fixture
def offline(settings: Any, tmp_path: Any) -> Iterator[Network]:
    with make_network(settings, tmp_path, payout_minimum_cents=300,
                      payout_auto_run=False) as net:
        yield net


def test_offline_a_run_pays_once_and_a_rerun_makes_nothing_more(offline: Network):
    net = offline
    p1, p2 = period(6), period(4)
    invoice = bill(net, p1, 240)
    mark_paid(net, invoice)
    earned = 2 * EARNED_PER_120
    assert statement(net, p1)["by_status"] == {"payable": earned}

    # only a venue org's admin onboards; offline the account can be paid at once
    r = net.client.post("/v1/payouts/onboarding-link", headers=net.advertiser.headers)
    assert r.status_code == 403 and error_code(r) == "venue_admin_only"
    link = onboard(net)
    assert link["payouts_enabled"] is True and "/v1/payouts/onboarding/offline" in link["url"]
    assert onboard(net)["account_id"] == link["account_id"]  # made once
    page = net.client.get("/v1/payouts/onboarding/offline")
    assert page.status_code == 200 and "offline" in page.text
    for path in ("return", "refresh"):
        assert net.client.get(f"/v1/payouts/onboarding/{path}").status_code == 200

    # the platform runs payouts, for a closed cycle only
    r = net.client.post("/v1/payouts/run", headers=net.venue_owner.headers,
                        json={"period_start": p1[0].isoformat(),
                              "period_end": p1[1].isoformat()})
    assert r.status_code == 403
    r = net.client.post("/v1/payouts/run", headers=net.admin,
                        json={"period_start": p2[0].isoformat(),
                              "period_end": p2[1].isoformat()})
    assert r.status_code == 404 and error_code(r) == "cycle_not_closed"

    result = run(net, p1)
    [payout] = result["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == earned
    assert payout["venue_org_id"] == net.venue_owner.org_id and payout["lines"] == 1
    assert payout["transfer_group"] == f"cycle_{invoice['cycle_id']}"
    assert payout["source_transaction"]  # one invoice, its charge known
    assert statement(net, p1)["by_status"] == {"paid": earned}
    [transfer] = offline_transfers(net)
    assert transfer["amount"] == earned and transfer["destination"] == link["account_id"]

    again = run(net, p1)
    assert again["payouts"] == [] and len(offline_transfers(net)) == 1

    mine = net.client.get("/v1/payouts", headers=net.venue_owner.headers).json()["payouts"]
    assert [p["id"] for p in mine] == [payout["id"]]
    assert len(net.client.get("/v1/payouts", headers=net.admin).json()["payouts"]) == 1
    assert net.client.get("/v1/payouts", headers=net.advertiser.headers).status_code == 403


def test_offline_a_balance_below_the_minimum_is_carried_into_the_next_run(offline: Network):
    net = offline
    p1, p2 = period(6), period(4)
    onboard(net)
    first = bill(net, p1)  # 1.80 earned, the minimum is 3.00
    mark_paid(net, first)
    result = run(net, p1)
    assert result["payouts"] == []
    [skipped] = result["skipped"]
    assert skipped["balance_cents"] == EARNED_PER_120 and "minimum" in skipped["reason"]
    assert offline_transfers(net) == []

    second = bill(net, p2)
    mark_paid(net, second)
    [payout] = run(net, p2)["payouts"]
    assert payout["amount_cents"] == 2 * EARNED_PER_120 and payout["lines"] == 2
    assert payout["source_transaction"] is None  # two invoices fund it
    assert statement(net, p1)["by_status"] == {"paid": EARNED_PER_120}
    assert statement(net, p2)["by_status"] == {"paid": EARNED_PER_120}
    assert run(net, p1)["payouts"] == [] and len(offline_transfers(net)) == 1


def test_offline_an_org_without_a_connected_account_is_not_paid(offline: Network):
    net = offline
    p1 = period(6)
    mark_paid(net, bill(net, p1, 240))
    result = run(net, p1)
    assert result["payouts"] == []
    assert "connected account" in result["skipped"][0]["reason"]
    onboard(net)
    # this cycle's run pays it now that the org can be paid
    [payout] = run(net, p1)["payouts"]
    assert payout["amount_cents"] == 2 * EARNED_PER_120


# --- Stripe, through the SDK against the fake ---------------------------------------------

@pytest.fixture
def fake() -> Iterator[StripeFake]:
    with StripeFake() as running:
        yield running


@pytest.fixture
def stripe_net(settings: Any, tmp_path: Any, fake: StripeFake) -> Iterator[Network]:
    with stripe_network(settings, tmp_path, fake, payout_minimum_cents=100,
                        payout_auto_run=False) as net:
        yield net


def deliver(net: Network, fake: StripeFake, type_: str) -> dict[str, Any]:
    """The fake's latest event of this type, delivered signed to the webhook; its answer."""
    r = signed_delivery(net, fake, latest_event(fake, type_))
    assert r.status_code == 200, r.text
    return dict(r.json())


def stripe_invoice(fake: StripeFake, invoice: dict[str, Any]) -> dict[str, Any]:
    [found] = [i for i in fake.invoices.values()
               if i["metadata"].get("adsbin_invoice_id") == invoice["id"]]
    return found


def pay(net: Network, fake: StripeFake, invoice: dict[str, Any]) -> str:
    """The customer pays on Stripe, the webhook says so; the charge that paid it."""
    found = stripe_invoice(fake, invoice)
    fake.pay(found["id"])
    assert deliver(net, fake, "invoice.paid")["outcome"].endswith("paid")
    intents = {p["payment"]["payment_intent"] for p in fake.invoice_payments.values()
               if p["invoice"] == found["id"]}
    [charge] = [fake.payment_intents[pi]["latest_charge"] for pi in intents]
    return str(charge)


def refund(net: Network, fake: StripeFake, charge: str) -> None:
    fake.client("sk_test_x").v1.refunds.create({"charge": charge})
    assert deliver(net, fake, "charge.refunded")["outcome"].endswith("refunded")


def payouts(net: Network) -> list[dict[str, Any]]:
    return list(net.client.get("/v1/payouts", headers=net.admin).json()["payouts"])


def test_stripe_payouts_transfer_once_and_refunds_are_taken_back(stripe_net: Network,
                                                                  fake: StripeFake):
    net = stripe_net
    p1, p2, p3 = period(6), period(4), period(2)

    # onboarding: an Express account through controller properties, then a Stripe link
    link = onboard(net)
    assert link["payouts_enabled"] is False and link["url"].startswith(f"{fake.url}/setup/")
    [made] = fake.calls("POST", "/v1/accounts")
    assert made.params["controller"]["stripe_dashboard"]["type"] == "express"
    assert made.idempotency_key
    [link_call] = fake.calls("POST", "/v1/account_links")
    assert link_call.params["return_url"].endswith("/v1/payouts/onboarding/return")
    assert onboard(net)["account_id"] == link["account_id"]
    assert len(fake.calls("POST", "/v1/accounts")) == 1

    first = bill(net, p1)
    charge1 = pay(net, fake, first)
    assert statement(net, p1)["by_status"] == {"payable": EARNED_PER_120}

    # not onboarded yet: carried over
    result = run(net, p1)
    assert result["payouts"] == [] and fake.transfers == {}
    fake.complete_onboarding(link["account_id"])
    assert "payouts_enabled=True" in deliver(net, fake, "account.updated")["outcome"]

    # Stripe fails mid-run: the payout stays pending and the next run finishes it
    fake.fail_next(path_prefix="/v1/transfers")
    assert run(net, p1)["payouts"] == []
    [pending] = payouts(net)
    assert pending["status"] == "pending" and pending["last_error"]
    assert fake.transfers == {}
    [payout] = run(net, p1)["payouts"]
    assert payout["id"] == pending["id"] and payout["status"] == "paid"
    [transfer] = fake.transfers.values()
    assert transfer["amount"] == EARNED_PER_120 and transfer["destination"] == link["account_id"]
    assert transfer["transfer_group"] == f"cycle_{first['cycle_id']}"
    assert transfer["source_transaction"] == charge1
    assert deliver(net, fake, "transfer.created")["outcome"].startswith(f"payout {payout['id']}")
    assert run(net, p1)["payouts"] == [] and len(fake.transfers) == 1
    assert statement(net, p1)["by_status"] == {"paid": EARNED_PER_120}

    # a refund after the payout: the transfer is reversed at once (the refund's event)
    refund(net, fake, charge1)
    assert statement(net, p1)["by_status"] == {"reversed": EARNED_PER_120}
    until(lambda: fake.reversals, what="the transfer's reversal")
    [reversal] = fake.reversals.values()
    assert reversal["amount"] == EARNED_PER_120 and reversal["transfer"] == transfer["id"]
    assert "reversed" in deliver(net, fake, "transfer.reversed")["outcome"]
    [reversed_] = payouts(net)
    assert reversed_["status"] == "reversed" and reversed_["reversed_cents"] == EARNED_PER_120
    run(net, p1)
    assert len(fake.reversals) == 1  # taken back once

    # the money has left the connected account: the refund is taken from the next payout
    second = bill(net, p2)
    charge2 = pay(net, fake, second)
    [payout2] = run(net, p2)["payouts"]
    assert payout2["amount_cents"] == EARNED_PER_120
    fake.refuse_reversals()
    refund(net, fake, charge2)
    assert run(net, p2)["payouts"] == [] and len(fake.reversals) == 1
    third = bill(net, p3, 240)
    pay(net, fake, third)
    [payout3] = run(net, p3)["payouts"]
    assert payout3["amount_cents"] == 2 * EARNED_PER_120 - EARNED_PER_120
    assert len(fake.transfers) == 3 and len(fake.reversals) == 1
    assert sorted(t["amount"] for t in fake.transfers.values()) == [EARNED_PER_120] * 3


def test_the_scheduled_run_pays_the_period_that_ended_the_delay_ago(settings: Any):
    from control_plane.revenue.payouts import due_period
    from tests.helpers import with_settings
    monthly = with_settings(settings, payout_delay_days=30, billing_cycle="month")
    # January ended on 1 February: it is due 30 days later, on 3 March
    assert due_period(settings=monthly, now=datetime(2026, 3, 2, 12, tzinfo=UTC)) == (
        datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert due_period(settings=monthly, now=datetime(2026, 3, 3, 12, tzinfo=UTC)) == (
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    daily = with_settings(settings, payout_delay_days=0, billing_cycle="days",
                          billing_cycle_days=1)
    assert due_period(settings=daily, now=datetime(2026, 3, 3, 12, tzinfo=UTC)) == (
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
