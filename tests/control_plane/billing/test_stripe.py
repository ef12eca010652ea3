"""Billing against Stripe through the official SDK (`stripe.StripeClient`), talking to the
stateful fake that speaks Stripe's wire format (`tests/stripe_fake.py`), on both databases:
issuing a closed period, surviving 500s and lost answers mid-close without creating anything
twice, and the webhooks that move invoices and the venues' earnings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from control_plane.app import create_app
from control_plane.billing import service as billing_service
from control_plane.billing.models import Invoice
from control_plane.jobs.models import Job
from tests.control_plane.billing.test_close import close, hour_floor, plays, upload
from tests.control_plane.reporting.conftest import Network
from tests.control_plane.stripe_network import SECRET, deliver, stripe_network
from tests.control_plane.stripe_network import latest_event as last_event
from tests.helpers import error_code, until, with_settings
from tests.stripe_fake import Request, StripeFake

TIMEOUT_S = 0.5


@pytest.fixture
def fake() -> Iterator[StripeFake]:
    with StripeFake() as running:
        yield running


@pytest.fixture
def net(settings: Any, tmp_path: Any, fake: StripeFake) -> Iterator[Network]:
    """The proof-of-play network with payments on the fake Stripe (no SDK retries, a short
    timeout; the job queue's retries far enough apart that a test sees each attempt)."""
    with stripe_network(settings, tmp_path, fake, stripe_timeout_s=TIMEOUT_S,
                        job_retry_base_s=120.0) as network:
        yield network


def period(hours_ago: int = 3, length_h: int = 2) -> tuple[datetime, datetime]:
    start = hour_floor(datetime.now(UTC)) - timedelta(hours=hours_ago)
    return start, start + timedelta(hours=length_h)


def invoices(net: Network) -> list[dict[str, Any]]:
    r = net.client.get("/v1/invoices", headers=net.advertiser.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["invoices"])


def created(fake: StripeFake, path: str) -> list[Request]:
    """The POSTs to `path` that Stripe applied (neither replayed nor failed on purpose)."""
    return [r for r in fake.calls("POST", path) if not r.replayed and not r.injected
            and r.status == 200]


def statement(net: Network, start: datetime, end: datetime) -> dict[str, Any]:
    r = net.client.get("/v1/payouts/statements", headers=net.venue_owner.headers,
                       params={"period_start": start.isoformat(), "period_end": end.isoformat()})
    assert r.status_code == 200, r.text
    [found] = r.json()["statements"]
    return dict(found)


def issue_job_settled(net: Network, cycle_id: str) -> Any:
    """The cycle's billing.issue job, once its attempt is over (waiting for the retry)."""
    with net.app.state.sessionmaker() as session:
        job = session.scalar(select(Job).where(Job.kind == billing_service.ISSUE_JOB,
                                               Job.subject == cycle_id))
        return job if job is not None and job.status not in ("queued", "running") else None


def test_a_close_issues_one_stripe_invoice_per_org_with_our_idempotency_keys(
        net: Network, fake: StripeFake):
    start, end = period()
    upload(net, plays(net, start + timedelta(minutes=1), 120))
    other = net.approved_campaign(net.advertiser, name="Summer ciders", cpm_cents=2_000)
    upload(net, plays(net, start + timedelta(minutes=30), 40, campaign=other))

    r = close(net, start, end)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["pending_invoices"] == 0

    [customer] = fake.customers.values()
    assert customer["metadata"] == {"org_id": net.advertiser.org_id}
    [stripe_invoice] = fake.invoices.values()
    [ours] = invoices(net)
    assert stripe_invoice["customer"] == customer["id"]
    assert stripe_invoice["collection_method"] == "send_invoice"
    assert stripe_invoice["metadata"]["adsbin_invoice_id"] == ours["id"]
    assert stripe_invoice["status"] == "open" and stripe_invoice["currency"] == "eur"
    assert fake.calls("POST", f"/v1/invoices/{stripe_invoice['id']}/send")
    create = created(fake, "/v1/invoices")[0]
    assert create.params["pending_invoice_items_behavior"] == "exclude"
    # one Stripe item per line, with the line's amount: 300 impressions at 10.00, 100 at 20.00
    items = sorted(fake.invoice_items.values(), key=lambda i: i["amount"])
    assert {i["metadata"]["adsbin_invoice_line_id"] for i in items} == \
        {ln["id"] for ln in ours["lines"]}
    assert sorted(ln["amount_cents"] for ln in ours["lines"]) == [i["amount"] for i in items] \
        == [200, 300]
    assert all(i["invoice"] == stripe_invoice["id"] for i in items)
    assert stripe_invoice["amount_due"] == ours["amount_cents"] == 500

    assert ours["status"] == "open" and ours["provider"] == "stripe"
    assert ours["number"] == stripe_invoice["number"] and ours["number"]
    assert ours["hosted_invoice_url"] == stripe_invoice["hosted_invoice_url"]
    posts = [r for r in fake.requests if r.method == "POST"]
    assert posts and all((r.idempotency_key or "").startswith("adsbin-") for r in posts), \
        [(r.path, r.idempotency_key) for r in posts]

    # closing again bills nothing more and calls Stripe for nothing new
    seen = len(fake.requests)
    again = close(net, start, end)
    assert again.status_code == 200 and again.json()["created"] is False
    assert len(fake.requests) == seen and len(fake.invoices) == 1

    # the platform's: only super-admins close, and Stripe's invoices are paid by Stripe
    r = net.client.post("/v1/billing/cycles/close", headers=net.advertiser.headers,
                        json={"period_start": start.isoformat(), "period_end": end.isoformat()})
    assert r.status_code == 403
    r = net.client.post(f"/v1/invoices/{ours['id']}/mark-paid", headers=net.admin)
    assert r.status_code == 409 and error_code(r) == "invoice_state"
    assert invoices(net)[0]["status"] == "open"

    # the next period's plays are all free (10 plays × 2.5 impressions at 0.01 CPM: a
    # fortieth of a cent): its invoice is settled at once and Stripe hears nothing of it
    seen = len(fake.requests)
    cheap = net.approved_campaign(net.advertiser, name="Cheap", cpm_cents=1)
    upload(net, plays(net, end + timedelta(minutes=1), 10, campaign=cheap))
    r = close(net, end, end + timedelta(hours=1))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["invoices"] == 1
    assert len(fake.requests) == seen
    [free] = [i for i in invoices(net) if i["cycle_id"] == r.json()["id"]]
    assert free["amount_cents"] == 0 and free["status"] == "paid"


def test_a_stripe_outage_mid_close_is_finished_later_without_duplicates(
        net: Network, fake: StripeFake):
    # a 500 on adding the items, then (next period) on finalizing: each time the close's call
    # and the billing.issue job's first attempt both meet it
    for (start, end), path_prefix in ((period(5), "/v1/invoiceitems"),
                                      (period(3), "/v1/invoices/in_")):
        before = {name: len(created(fake, name)) for name in ("/v1/invoices",
                                                              "/v1/invoiceitems")}
        upload(net, plays(net, start + timedelta(minutes=1), 120))
        fake.fail_next(2, 500, path_prefix=path_prefix)

        r = close(net, start, end)
        assert r.status_code == 200, r.text
        cycle = r.json()
        assert cycle["status"] == "closing" and cycle["pending_invoices"] == 1
        assert cycle["last_error"]
        job = until(lambda: issue_job_settled(net, cycle["id"]), 20,  # noqa: B023
                    "the billing.issue job's first attempt")
        assert job.status == "retrying", (job.status, job.last_error)  # not given up
        assert not [i for i in invoices(net) if i["cycle_id"] == cycle["id"]]  # a draft

        # closing the same period again finishes issuing it
        again = close(net, start, end)
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "closed" and again.json()["pending_invoices"] == 0
        assert again.json()["id"] == cycle["id"]
        assert len(created(fake, "/v1/invoices")) == before["/v1/invoices"] + 1
        assert len(created(fake, "/v1/invoiceitems")) == before["/v1/invoiceitems"] + 1
        [ours] = [i for i in invoices(net) if i["cycle_id"] == cycle["id"]]
        assert ours["status"] == "open" and ours["amount_cents"] == 300
        [stripe_invoice] = [i for i in fake.invoices.values()
                            if i["metadata"]["adsbin_invoice_id"] == ours["id"]]
        assert stripe_invoice["status"] == "open" and stripe_invoice["amount_due"] == 300
        assert ours["number"] == stripe_invoice["number"]
    assert len(created(fake, "/v1/customers")) == 1 == len(fake.customers)
    assert len(fake.invoices) == 2 and len(fake.invoice_items) == 2
    assert sum(r.injected for r in fake.requests) == 4


def test_a_lost_answer_is_replayed_not_created_again(net: Network, fake: StripeFake):
    start, end = period()
    upload(net, plays(net, start + timedelta(minutes=1), 120))
    # Stripe creates the invoice but the answer comes after the client's timeout, twice
    fake.hang_next(TIMEOUT_S * 3, n=2, path_prefix="/v1/invoices")

    r = close(net, start, end)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closing" and r.json()["pending_invoices"] == 1
    until(lambda: issue_job_settled(net, r.json()["id"]), 20,
          "the billing.issue job's first attempt")
    assert invoices(net) == []
    assert len(fake.invoices) == 1  # applied, though nobody heard the answer

    with net.app.state.sessionmaker() as session:  # what the billing.issue job runs
        cycle = billing_service.issue(session=session, settings=net.app.state.settings,
                                      provider=net.app.state.payments,
                                      cycle_id=r.json()["id"])
        assert cycle.status.value == "closed"
    assert len(created(fake, "/v1/invoices")) == 1 == len(fake.invoices)
    assert any(r.replayed for r in fake.calls("POST", "/v1/invoices"))
    assert len(fake.invoice_items) == 1
    [ours] = invoices(net)
    assert ours["status"] == "open"
    assert ours["number"] == next(iter(fake.invoices.values()))["number"]


def closed_invoice(net: Network, fake: StripeFake, start: datetime,
                   end: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Plays in the period, closed: our invoice and Stripe's."""
    upload(net, plays(net, start + timedelta(minutes=1), 120))
    r = close(net, start, end)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    [ours] = [i for i in invoices(net) if i["cycle_id"] == r.json()["id"]]
    [theirs] = [i for i in fake.invoices.values()
                if i["metadata"]["adsbin_invoice_id"] == ours["id"]]
    return ours, theirs


def status_of(net: Network, invoice_id: str) -> str:
    r = net.client.get(f"/v1/invoices/{invoice_id}", headers=net.advertiser.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_stripe_webhooks_move_invoices_and_the_venues_earnings(
        net: Network, fake: StripeFake):
    a, b, c = period(5), period(3), period(1, 1)
    ours, stripe_invoice = closed_invoice(net, fake, *a)
    assert set(statement(net, *a)["by_status"]) == {"accrued"}

    # refused deliveries: bad signature, none, stale, not signed by our secret
    event = fake.event("invoice.paid", stripe_invoice)
    payload, header = fake.signed(event, SECRET)
    bad = [{"Stripe-Signature": header.replace("v1=", "v1=00")}, {},
           {"Stripe-Signature": fake.signed(event, SECRET,
                                            timestamp=int(time.time()) - 3600)[1]},
           {"Stripe-Signature": fake.signed(event, "whsec_other")[1]}]
    for headers in bad:
        r = net.client.post("/v1/webhooks/stripe", content=payload, headers=headers)
        assert r.status_code == 400 and error_code(r) == "bad_signature", (headers, r.text)
    assert status_of(net, ours["id"]) == "open"

    # an unknown event type is acknowledged and ignored
    r = deliver(net, fake, fake.event("customer.created", next(iter(
        fake.customers.values()))))
    assert r.status_code == 200 and "ignored" in r.json()["outcome"]

    # the advertiser pays on the hosted page: paid, the earnings payable, the charge learned
    fake.pay(stripe_invoice["id"])
    paid = last_event(fake, "invoice.paid")
    r = deliver(net, fake, paid)
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "paid"
    assert set(statement(net, *a)["by_status"]) == {"payable"}
    [charge] = fake.charges.values()
    with net.app.state.sessionmaker() as session:
        assert session.get(Invoice, ours["id"]).charge_id == charge["id"]
    # Stripe delivers the same event again: nothing changes
    r = deliver(net, fake, paid)
    assert r.status_code == 200 and r.json()["replayed"] is True
    assert status_of(net, ours["id"]) == "paid"
    assert set(statement(net, *a)["by_status"]) == {"payable"}

    # a full refund of the charge: refunded, the earnings reversed
    stripe_client = fake.client("sk_test_x")
    stripe_client.v1.refunds.create({"charge": charge["id"]})
    r = deliver(net, fake, last_event(fake, "charge.refunded"))
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "refunded"
    assert set(statement(net, *a)["by_status"]) == {"reversed"}

    # the next period's invoice: a declined card, then voided
    ours, stripe_invoice = closed_invoice(net, fake, *b)
    fake.fail_payment(stripe_invoice["id"])
    r = deliver(net, fake, last_event(fake, "invoice.payment_failed"))
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "payment_failed"
    stripe_client.v1.invoices.void_invoice(stripe_invoice["id"])
    r = deliver(net, fake, last_event(fake, "invoice.voided"))
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "void"
    assert set(statement(net, *b)["by_status"]) == {"reversed"}

    # paid while Stripe could not tell which charge paid it: the refund is still ours
    ours, stripe_invoice = closed_invoice(net, fake, *c)
    fake.pay(stripe_invoice["id"])
    fake.fail_next(1, 500, path_prefix="/v1/invoice_payments")
    r = deliver(net, fake, last_event(fake, "invoice.paid"))
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "paid"
    [charge] = [ch for ch in fake.charges.values()
                if ch["status"] == "succeeded" and not ch["refunded"]]
    stripe_client.v1.refunds.create({"charge": charge["id"]})
    r = deliver(net, fake, last_event(fake, "charge.refunded"))
    assert r.status_code == 200, r.text
    assert status_of(net, ours["id"]) == "refunded", r.json()
    assert set(statement(net, *c)["by_status"]) == {"reversed"}


def test_without_a_webhook_secret_stripe_webhooks_are_refused(settings: Any,
                                                              fake: StripeFake):
    app = create_app(with_settings(settings, stripe_api_key=SecretStr("sk_test_x"),
                                   stripe_api_base=fake.url, stripe_webhook_secret=None))
    with TestClient(app) as client:
        payload, header = fake.signed(fake.event("invoice.paid", {"id": "in_x"}), SECRET)
        r = client.post("/v1/webhooks/stripe", content=payload,
                        headers={"Stripe-Signature": header})
        assert r.status_code == 400 and error_code(r) == "bad_signature"
