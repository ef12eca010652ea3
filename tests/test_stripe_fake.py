"""The Stripe fake, driven through the official SDK (stripe.StripeClient) and its test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
import stripe

from tests.stripe_fake import StripeFake, parse_form

SECRET = "whsec_test_secret"


@pytest.fixture
def fake() -> Iterator[StripeFake]:
    with StripeFake() as running:
        yield running


@pytest.fixture
def client(fake: StripeFake) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_fake",
        base_addresses={"api": fake.url, "connect": fake.url, "files": fake.url},
        max_network_retries=0)


def _paid_charge(client: stripe.StripeClient, fake: StripeFake, amount: int = 5000) -> str:
    """A charge made the way production makes one: an invoice the customer pays."""
    cus = client.v1.customers.create({"name": "Café Lumen"})
    inv = client.v1.invoices.create({"customer": cus.id, "collection_method": "send_invoice",
                                     "days_until_due": 7})
    client.v1.invoice_items.create({"customer": cus.id, "invoice": inv.id, "amount": amount,
                                    "currency": "usd"})
    client.v1.invoices.finalize_invoice(inv.id)
    fake.pay(inv.id)
    payment = client.v1.invoice_payments.list({"invoice": inv.id}).data[0]
    pi = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert isinstance(pi.latest_charge, str)
    return pi.latest_charge


def test_invoice_from_draft_to_refund(client: stripe.StripeClient, fake: StripeFake) -> None:
    cus = client.v1.customers.create({"name": "Café Lumen", "email": "owner@lumen.test",
                                      "metadata": {"org_id": "org_1"}})
    assert cus.id.startswith("cus_") and cus.metadata["org_id"] == "org_1"
    pending = client.v1.invoice_items.create({"customer": cus.id, "amount": 999,
                                              "currency": "usd"})
    inv = client.v1.invoices.create({
        "customer": cus.id, "currency": "usd", "collection_method": "send_invoice",
        "days_until_due": 14, "pending_invoice_items_behavior": "exclude",
        "description": "Screens, March", "metadata": {"statement": "st_1"}})
    assert inv.status == "draft" and inv.amount_due == 0 and inv.lines.data == []
    for amount, venue in ((1200, "venue_a"), (800, "venue_b")):
        item = client.v1.invoice_items.create({
            "customer": cus.id, "invoice": inv.id, "amount": amount, "currency": "usd",
            "description": f"Plays at {venue}", "metadata": {"venue": venue},
            "period": {"start": 1_700_000_000, "end": 1_702_592_000}})
        assert item.invoice == inv.id and item.period.end == 1_702_592_000
    assert client.v1.invoice_items.retrieve(pending.id).invoice is None
    assert [i.id for i in client.v1.invoice_items.list({"invoice": inv.id}).data] != []
    assert [i.id for i in client.v1.invoice_items.list({"pending": True}).data] == [pending.id]

    inv = client.v1.invoices.finalize_invoice(inv.id)
    assert (inv.status, inv.amount_due, inv.total) == ("open", 2000, 2000)
    assert inv.number and inv.hosted_invoice_url.startswith(fake.url)
    assert requests.get(inv.hosted_invoice_url, timeout=5).status_code == 200
    assert len(inv.lines.data) == 2
    assert inv.lines.data[0].parent.invoice_item_details.invoice_item.startswith("ii_")
    with pytest.raises(stripe.InvalidRequestError, match="re-finalize"):
        client.v1.invoices.finalize_invoice(inv.id)
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.invoice_items.create({"customer": cus.id, "invoice": inv.id, "amount": 1})
    client.v1.invoices.send_invoice(inv.id)
    inv = client.v1.invoices.pay(inv.id)
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("paid", 2000, 0)
    assert "charge" not in inv and "payment_intent" not in inv  # gone since 2025-03-31

    payments = client.v1.invoice_payments.list({"invoice": inv.id})
    assert [p.status for p in payments.data] == ["paid"]
    payment = payments.data[0]
    assert payment.id.startswith("inpay_") and payment.payment.type == "payment_intent"
    pi = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert pi.status == "succeeded" and pi.amount_received == 2000
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.id.startswith("ch_") and charge.payment_intent == pi.id
    expanded = client.v1.payment_intents.retrieve(pi.id, {"expand": ["latest_charge"]})
    assert expanded.latest_charge.id == charge.id

    refund = client.v1.refunds.create({"charge": charge.id, "amount": 500})
    assert refund.id.startswith("re_") and refund.amount == 500
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    client.v1.refunds.create({"payment_intent": pi.id})  # the rest
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (2000, True)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": charge.id})
    assert err.value.code == "charge_already_refunded"

    types = [e["type"] for e in fake.events]
    assert types == ["invoice.finalized", "invoice.paid", "charge.refunded", "charge.refunded"]
    assert fake.events[1]["data"]["object"]["status"] == "paid"
    assert fake.invoices[inv.id]["metadata"] == {"statement": "st_1"}


def test_invoice_failures_voids_and_zero_totals(client: stripe.StripeClient,
                                                fake: StripeFake) -> None:
    cus = client.v1.customers.create({"name": "Bar Nord"})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoice_items.create({"customer": cus.id, "invoice": inv.id, "amount": 700})
    client.v1.invoices.finalize_invoice(inv.id)
    fake.fail_payment(inv.id)
    inv = client.v1.invoices.retrieve(inv.id)
    assert (inv.status, inv.attempt_count) == ("open", 1)
    fake.pay(inv.id)
    assert client.v1.invoices.retrieve(inv.id).status == "paid"
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(inv.id)

    other = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoice_items.create({"customer": cus.id, "invoice": other.id, "amount": 300})
    client.v1.invoices.finalize_invoice(other.id)
    assert client.v1.invoices.void_invoice(other.id).status == "void"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(other.id)
    assert [p.status for p in client.v1.invoice_payments.list({"invoice": other.id})] == [
        "canceled"]
    with pytest.raises(stripe.InvalidRequestError, match="send_invoice"):  # charged, not sent
        client.v1.invoices.send_invoice(_open_invoice(client, cus.id))

    # like Stripe, a zero-due invoice is settled as it is finalized
    empty = client.v1.invoices.create({"customer": cus.id})
    assert client.v1.invoices.finalize_invoice(empty.id).status == "paid"
    assert [e["type"] for e in fake.events] == [
        "invoice.finalized", "invoice.payment_failed", "invoice.paid", "invoice.finalized",
        "invoice.voided", "invoice.finalized", "invoice.finalized", "invoice.paid"]
    assert [i.id for i in client.v1.invoices.list({"customer": cus.id, "status": "void"})] == [
        other.id]


def _open_invoice(client: stripe.StripeClient, customer: str) -> str:
    inv = client.v1.invoices.create({"customer": customer})
    client.v1.invoice_items.create({"customer": customer, "invoice": inv.id, "amount": 100})
    return client.v1.invoices.finalize_invoice(inv.id).id


def test_pending_items_are_included_when_asked(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    item = client.v1.invoice_items.create({"customer": cus.id, "unit_amount_decimal": "250",
                                           "quantity": 3, "currency": "usd"})
    inv = client.v1.invoices.create({"customer": cus.id,
                                     "pending_invoice_items_behavior": "include"})
    assert inv.amount_due == 750
    assert client.v1.invoice_items.retrieve(item.id).invoice == inv.id


def test_express_account_onboarding_transfers_and_reversals(client: stripe.StripeClient,
                                                            fake: StripeFake) -> None:
    acct = client.v1.accounts.create({
        "controller": {"stripe_dashboard": {"type": "express"}, "fees": {"payer": "application"},
                       "losses": {"payments": "application"}},
        "country": "FR", "email": "owner@lumen.test", "metadata": {"venue_owner": "vo_1"},
        "capabilities": {"transfers": {"requested": True}}})
    assert acct.id.startswith("acct_") and acct.type == "express"
    assert acct.controller.stripe_dashboard.type == "express"
    assert (acct.payouts_enabled, acct.charges_enabled, acct.details_submitted) == (
        False, False, False)
    link = client.v1.account_links.create({
        "account": acct.id, "type": "account_onboarding",
        "refresh_url": "https://adsbin.test/refresh", "return_url": "https://adsbin.test/back"})
    assert link.object == "account_link" and link.url.startswith(fake.url)
    assert link.expires_at > time.time()

    charge = _paid_charge(client, fake)
    transfer = {"amount": 3000, "currency": "usd", "destination": acct.id,
                "transfer_group": "statement_1", "source_transaction": charge,
                "description": "March", "metadata": {"statement": "st_1"}}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.create(transfer)
    assert err.value.param == "destination"
    fake.complete_onboarding(acct.id)
    acct = client.v1.accounts.retrieve(acct.id)
    assert acct.payouts_enabled and acct.capabilities.transfers == "active"
    updated = [e for e in fake.events if e["type"] == "account.updated"]
    assert updated[-1]["account"] == acct.id
    assert updated[-1]["data"]["previous_attributes"]["payouts_enabled"] is False

    with pytest.raises(stripe.InvalidRequestError, match="No such charge"):
        client.v1.transfers.create({**transfer, "source_transaction": "ch_missing"})
    tr = client.v1.transfers.create(transfer)
    assert tr.id.startswith("tr_") and tr.source_transaction == charge
    assert [t.id for t in client.v1.transfers.list({"transfer_group": "statement_1"})] == [tr.id]
    assert client.v1.transfers.list({"destination": "acct_other"}).data == []

    part = client.v1.transfers.reversals.create(tr.id, {"amount": 1000})
    assert part.id.startswith("trr_") and part.object == "transfer_reversal"
    tr = client.v1.transfers.retrieve(tr.id)
    assert (tr.amount_reversed, tr.reversed) == (1000, False)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(tr.id, {"amount": 2001})
    rest = client.v1.transfers.reversals.create(tr.id)
    assert rest.amount == 2000
    tr = client.v1.transfers.retrieve(tr.id)
    assert (tr.amount_reversed, tr.reversed) == (3000, True)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(tr.id)

    second = client.v1.transfers.create({**transfer, "amount": 500})
    fake.refuse_reversals()
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.transfers.reversals.create(second.id)
    assert err.value.code == "balance_insufficient"
    assert fake.transfers[second.id]["amount_reversed"] == 0
    assert [e["type"] for e in fake.events if e["type"].startswith("transfer.")] == [
        "transfer.created", "transfer.reversed", "transfer.reversed", "transfer.created"]


def test_legacy_express_type_and_account_update(client: stripe.StripeClient,
                                                fake: StripeFake) -> None:
    acct = client.v1.accounts.create({"type": "express", "country": "DE"})
    assert acct.controller.fees.payer == "application_express"
    acct = client.v1.accounts.update(acct.id, {"email": "new@lumen.test",
                                               "metadata": {"k": "v"}})
    assert acct.email == "new@lumen.test"
    assert fake.accounts[acct.id]["metadata"] == {"k": "v"}
    assert fake.events[-1]["data"]["previous_attributes"]["email"] is None


def test_an_idempotent_replay_creates_one_object(client: stripe.StripeClient,
                                                 fake: StripeFake) -> None:
    params = {"name": "Café Lumen", "metadata": {"org_id": "org_1"}}
    first = client.v1.customers.create(params, {"idempotency_key": "org_1-customer"})
    again = client.v1.customers.create(params, {"idempotency_key": "org_1-customer"})
    assert again.id == first.id and len(fake.customers) == 1
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    calls = fake.calls("POST", "/v1/customers")
    assert [(c.idempotency_key, c.replayed, c.status) for c in calls] == [
        ("org_1-customer", False, 200), ("org_1-customer", True, 200)]
    assert calls[0].params == {"name": "Café Lumen", "metadata": {"org_id": "org_1"}}

    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"name": "Someone else"},
                                   {"idempotency_key": "org_1-customer"})
    other_key = stripe.StripeClient("sk_test_other", base_addresses={"api": fake.url})
    other_key.v1.customers.create(params, {"idempotency_key": "org_1-customer"})  # per API key
    assert len(fake.customers) == 2


def test_stored_errors_replay_too(client: stripe.StripeClient, fake: StripeFake) -> None:
    acct = client.v1.accounts.create({"type": "express"})
    params = {"amount": 100, "currency": "usd", "destination": acct.id}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.transfers.create(params, {"idempotency_key": "payout_1"})
    fake.complete_onboarding(acct.id)
    with pytest.raises(stripe.InvalidRequestError):  # as on Stripe: same key, same answer
        client.v1.transfers.create(params, {"idempotency_key": "payout_1"})
    assert client.v1.transfers.create(params, {"idempotency_key": "payout_1b"}).amount == 100
    assert [c.replayed for c in fake.calls("POST", "/v1/transfers")] == [
        False, True, True, False]


def test_fail_next_applies_nothing_and_a_retry_creates_one(client: stripe.StripeClient,
                                                           fake: StripeFake) -> None:
    fake.fail_next(status=500, path_prefix="/v1/customers")
    with pytest.raises(stripe.APIError):
        client.v1.customers.create({"name": "Lumen"}, {"idempotency_key": "k1"})
    assert fake.customers == {}
    client.v1.customers.create({"name": "Lumen"}, {"idempotency_key": "k1"})
    client.v1.customers.create({"name": "Lumen"}, {"idempotency_key": "k1"})
    assert len(fake.customers) == 1
    assert [(c.status, c.injected, c.replayed) for c in fake.calls("POST", "/v1/customers")] == [
        (500, True, False), (200, False, False), (200, False, True)]


def test_the_sdk_retries_with_its_own_key(fake: StripeFake,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)  # the SDK waits >= this
    retrying = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url},
                                   max_network_retries=2)
    fake.fail_next(n=1)
    retrying.v1.customers.create({"name": "Lumen"})
    calls = fake.calls("POST", "/v1/customers")
    assert [c.status for c in calls] == [500, 200] and len(fake.customers) == 1
    assert calls[0].idempotency_key and calls[0].idempotency_key == calls[1].idempotency_key


def test_hang_next_times_the_client_out(fake: StripeFake) -> None:
    impatient = stripe.StripeClient(
        "sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=0.2))
    fake.hang_next(2.0, path_prefix="/v1/customers")
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.create({"name": "Lumen"}, {"idempotency_key": "slow"})
    assert time.monotonic() - started < 1.0
    # the work was done; only the answer was lost, so the retry replays it
    again = impatient.v1.customers.create({"name": "Lumen"}, {"idempotency_key": "slow"})
    assert list(fake.customers) == [again.id]


def test_signed_events_verify_with_the_sdk(client: stripe.StripeClient,
                                           fake: StripeFake) -> None:
    client.v1.accounts.create({"type": "express"})
    event = fake.event("venue.unheard_of", {"id": "x_1", "object": "thing"})
    payload, header = fake.signed(event, SECRET)
    verified = stripe.Webhook.construct_event(payload, header, SECRET)
    assert verified.type == "venue.unheard_of" and verified.id.startswith("evt_")
    assert verified.api_version == "2026-10-28.endive"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong")
    stale_payload, stale = fake.signed(event, SECRET, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(stale_payload, stale, SECRET)
    assert fake.events == []  # hand-built events are not Stripe's own


def test_errors_have_stripes_shape(client: stripe.StripeClient, fake: StripeFake) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve("cus_missing")
    assert (err.value.http_status, err.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create({})
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400, "parameter_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create({"customer": "cus_missing"})
    assert (err.value.http_status, err.value.code, err.value.param) == (
        400, "resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create({"nmae": "typo"})  # type: ignore[arg-type]
    assert err.value.code == "parameter_unknown"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("pk_test_public", base_addresses={"api": fake.url}).v1.customers.list()


def test_lists_page(fake: StripeFake) -> None:
    client = fake.client()
    ids = [client.v1.customers.create({"email": f"{i}@x.test"}).id for i in range(3)]
    page = client.v1.customers.list({"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    assert [c.id for c in page.auto_paging_iter()] == ids[::-1]
    assert [c.id for c in client.v1.customers.list({"email": "1@x.test"})] == [ids[1]]
    updated = client.v1.customers.update(ids[0], {"metadata": {"a": "1"}, "name": "A"})
    updated = client.v1.customers.update(ids[0], {"metadata": {"a": "", "b": "2"}})
    assert (updated.name, updated.metadata.to_dict()) == ("A", {"b": "2"})


def test_parse_form_reads_stripes_bracket_nesting() -> None:
    assert parse_form("metadata[org_id]=x&controller[stripe_dashboard][type]=express"
                      "&expand[0]=a&expand[]=b&lines[0][amount]=5&lines[1][amount]=6") == {
        "metadata": {"org_id": "x"}, "controller": {"stripe_dashboard": {"type": "express"}},
        "expand": ["a", "b"], "lines": [{"amount": "5"}, {"amount": "6"}]}
