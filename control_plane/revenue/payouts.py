"""Payouts to venue orgs through Stripe Connect (Express): onboarding, transfers, reversals.

A venue org onboards once (`onboarding_link`: its Express account, then a Stripe-hosted link;
offline, the account can be paid at once). A payout run (`run`) takes the closed cycle of one
period and makes one transfer per venue org and currency of its payable balance: the payable
lines of that cycle and of earlier ones not paid yet, less what it owes back (`Adjustment`).
A balance below `payout_minimum_cents`, or of an org that cannot be paid yet, waits for a later
run. Each payout is written (pending, its lines linked) and committed before the transfer is
asked for, with an idempotency key derived from the payout's id and amount, so a run that dies
or meets an unavailable provider is finished by the next run without a second transfer.

Earnings refunded after their transfer (`reverse_paid_lines`, in the refund's transaction,
which has no provider at hand) become an `Adjustment` at once; the next run (or the hourly job)
first tries to take them back with a transfer reversal on their payout's transfer, and keeps
them to subtract from the org's next payout when the provider refuses (the money has left the
connected account) — so nothing is taken back twice and nothing is forgotten.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control_plane import events
from control_plane.db import utcnow
from control_plane.jobs.queue import JobContext, registry
from control_plane.orgs import service as orgs_service
from control_plane.payments.base import PaymentProvider, idempotency_key
from control_plane.payments.exceptions import ProviderRefused, ProviderUnavailable
from control_plane.revenue.exceptions import CycleNotClosed
from control_plane.revenue.models import (
    Adjustment,
    ConnectAccount,
    LineStatus,
    Payout,
    PayoutStatus,
    StatementLine,
)
from control_plane.settings import Settings
from control_plane.upcalls import NotProvided, Upcall

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DUE_JOB = "revenue.payouts_due"


def _ms(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(milliseconds=1)


@Upcall
def funding_charge(*, session: Session, provider: PaymentProvider,
                   invoice_id: str) -> str | None:
    """The charge that paid an invoice (a transfer's `source_transaction`), if known."""
    raise NotProvided("control_plane.billing.service provides invoices' funding charges")


@Upcall
def closed_cycle(*, session: Session, start_ms: int, end_ms: int) -> tuple[str, int] | None:
    """The billing cycle of exactly this period, as (id, end ms), if it was closed."""
    raise NotProvided("control_plane.billing.service provides the billing cycles")


# --- onboarding ---------------------------------------------------------------------------

def connect_account(*, session: Session, org_id: str) -> ConnectAccount | None:
    """A venue org's connected account, if it has one."""
    return session.get(ConnectAccount, org_id)


def onboarding_link_for(*, session: Session, provider: PaymentProvider, settings: Settings,
                        org_id: str, user_id: str | None) -> str:
    """`onboarding_link` for the org, its account opened with the asking user's address."""
    user = orgs_service.get_user(session=session, user_id=user_id) if user_id else None
    return onboarding_link(session=session, provider=provider, settings=settings, org_id=org_id,
                           email=user.email if user else None)


def onboarding_link(*, session: Session, provider: PaymentProvider, settings: Settings,
                    org_id: str, email: str | None) -> str:
    """A single-use onboarding URL for the org's Express account (made once; committed)."""
    account = session.get(ConnectAccount, org_id)
    if account is None or account.provider != provider.name:
        session.commit()  # no transaction is held while the provider is called
        account_id = provider.create_account(
            key=idempotency_key("connect-account", org_id=org_id, provider=provider.name),
            org_id=org_id, email=email, country=settings.connect_country)
        if account is None:
            account = ConnectAccount(org_id=org_id, provider=provider.name,
                                     account_id=account_id)
            session.add(account)
        else:  # the org onboarded with another provider (offline before a Stripe key)
            account.provider, account.account_id = provider.name, account_id
            account.payouts_enabled = account.details_submitted = False
        session.commit()
    if provider.offline and not account.payouts_enabled:
        state = provider.account_state(account_id=account.account_id)
        account.payouts_enabled, account.details_submitted = (state.payouts_enabled,
                                                              state.details_submitted)
        account.updated_at = utcnow()
        session.commit()
    base = f"{settings.public_url}/v1/payouts/onboarding"
    return provider.account_link(account_id=account.account_id, refresh_url=f"{base}/refresh",
                                 return_url=f"{base}/return")


# --- the run ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Skipped:
    """A balance the run left for a later one, and why."""

    venue_org_id: str
    currency: str
    balance_cents: int
    reason: str


@dataclass
class RunResult:
    payouts: list[Payout]
    skipped: list[Skipped]


def run(*, session: Session, provider: PaymentProvider, settings: Settings,
        period_start: datetime, period_end: datetime,
        now: datetime | None = None) -> list[Payout]:
    """Pay venue orgs for the closed cycle of exactly this period (see the module's
    docstring); the payouts made or finished (committed)."""
    return run_detailed(session=session, provider=provider, settings=settings,
                        period_start=period_start, period_end=period_end, now=now).payouts


def run_detailed(*, session: Session, provider: PaymentProvider, settings: Settings,
                 period_start: datetime, period_end: datetime,
                 now: datetime | None = None) -> RunResult:
    """`run`, also saying which balances were left for a later run and why."""
    found = closed_cycle(session=session, start_ms=_ms(period_start), end_ms=_ms(period_end))
    if found is None:
        raise CycleNotClosed("no billing cycle of exactly this period was closed",
                             details={"period_start": period_start.isoformat(),
                                      "period_end": period_end.isoformat()})
    cycle_id = found[0]
    settle_reversals(session=session, provider=provider)
    skipped = _plan(session, provider, settings, cycle_id)
    done: list[Payout] = []
    pending = session.scalars(select(Payout).where(Payout.status == PayoutStatus.pending)
                              .order_by(Payout.created_at, Payout.id)).all()
    for payout in pending:
        try:
            _transfer(session, provider, payout)
        except ProviderUnavailable as exc:
            log.warning("payouts: the provider is unavailable; payout %s is retried by the "
                        "next run: %s", payout.id, exc.message)
            break
        done.append(payout)
    for s in skipped:
        log.info("payouts: %s %s %s carried over: %s", s.venue_org_id, s.balance_cents,
                 s.currency, s.reason)
    return RunResult(done, skipped)


def _plan(session: Session, provider: PaymentProvider, settings: Settings,
          cycle_id: str) -> list[Skipped]:
    """Write a pending payout (its lines and adjustments linked) per venue org and currency
    with a balance to pay; the balances left for later."""
    # earlier cycles' lines were all written before this cycle's (closes go in order)
    cutoff = select(func.max(StatementLine.created_at)).where(
        StatementLine.cycle_id == cycle_id).scalar_subquery()
    lines = session.scalars(select(StatementLine).where(
        StatementLine.status == LineStatus.payable, StatementLine.payout_id.is_(None),
        or_(StatementLine.cycle_id == cycle_id, StatementLine.created_at <= cutoff))
        .order_by(StatementLine.id)).all()
    adjustments = session.scalars(select(Adjustment).where(Adjustment.payout_id.is_(None))
                                  .order_by(Adjustment.id)).all()
    groups: dict[tuple[str, str], tuple[list[StatementLine], list[Adjustment]]] = \
        defaultdict(lambda: ([], []))
    for ln in lines:
        groups[(ln.venue_org_id, ln.currency)][0].append(ln)
    for adj in adjustments:
        if (adj.venue_org_id, adj.currency) in groups:
            groups[(adj.venue_org_id, adj.currency)][1].append(adj)
    paid_already = {(p.venue_org_id, p.currency) for p in session.scalars(
        select(Payout).where(Payout.cycle_id == cycle_id))}
    skipped: list[Skipped] = []
    for (org_id, currency), (group, owed) in sorted(groups.items()):
        balance = sum(ln.earnings_cents for ln in group) + sum(a.amount_cents for a in owed)
        reason = None
        if (org_id, currency) in paid_already:
            reason = "this cycle's payout was made; later earnings go with the next cycle's"
        elif balance <= 0 or balance < settings.payout_minimum_cents:
            reason = f"below the minimum payout ({settings.payout_minimum_cents} cents)"
        else:
            account = session.get(ConnectAccount, org_id)
            if account is None or not account.payouts_enabled \
                    or account.provider != provider.name:
                reason = "the org has no connected account that can be paid yet"
        if reason is not None:
            skipped.append(Skipped(org_id, currency, balance, reason))
            continue
        invoices = {ln.invoice_id for ln in group}
        source = funding_charge(session=session, provider=provider,
                                invoice_id=next(iter(invoices))) if len(invoices) == 1 else None
        payout = Payout(venue_org_id=org_id, cycle_id=cycle_id, currency=currency,
                        amount_cents=balance, status=PayoutStatus.pending,
                        transfer_group=f"cycle_{cycle_id}", source_transaction=source)
        session.add(payout)
        try:
            session.flush()
        except IntegrityError:  # another run wrote it at the same moment: it pays it
            session.rollback()
            continue
        for ln in group:
            ln.payout_id = payout.id
        for adj in owed:
            adj.payout_id = payout.id
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    return skipped


def _transfer(session: Session, provider: PaymentProvider, payout: Payout) -> None:
    """Make a pending payout's transfer (the same key on every retry), then mark it paid."""
    account = session.get(ConnectAccount, payout.venue_org_id)
    if account is None:  # cannot happen: a payout is only written for a connected account
        raise RuntimeError(f"payout {payout.id} has no connected account")
    session.commit()  # no transaction is held while the provider is called
    try:
        transfer_id = provider.create_transfer(
            key=idempotency_key("payout", payout=payout.id, amount=payout.amount_cents),
            amount_cents=payout.amount_cents, currency=payout.currency,
            destination=account.account_id, transfer_group=payout.transfer_group,
            source_transaction=payout.source_transaction,
            metadata={"adsbin_payout_id": payout.id, "cycle_id": payout.cycle_id,
                      "org_id": payout.venue_org_id})
    except ProviderUnavailable as exc:
        payout.last_error = exc.message
        session.commit()
        raise
    except ProviderRefused as exc:
        # a retry with the key would be refused again: its lines wait for the next cycle's
        log.error("payouts: the provider refused payout %s: %s", payout.id, exc.message)
        payout.status, payout.last_error = PayoutStatus.failed, exc.message
        events.record(session, events.PayoutChanged(
            payout_id=payout.id, org_id=payout.venue_org_id, status="failed",
            amount_cents=payout.amount_cents, currency=payout.currency,
            reason=exc.message[:500]))
        session.execute(update(StatementLine).where(StatementLine.payout_id == payout.id)
                        .values(payout_id=None))
        session.execute(update(Adjustment).where(Adjustment.payout_id == payout.id)
                        .values(payout_id=None))
        session.commit()
        return
    _mark_paid(session, payout, transfer_id)
    session.commit()


def _mark_paid(session: Session, payout: Payout, transfer_id: str) -> None:
    if payout.status != PayoutStatus.paid:
        events.record(session, events.PayoutChanged(
            payout_id=payout.id, org_id=payout.venue_org_id, status="paid",
            amount_cents=payout.amount_cents, currency=payout.currency))
    payout.transfer_id, payout.status = transfer_id, PayoutStatus.paid
    payout.paid_at, payout.last_error = payout.paid_at or utcnow(), None
    session.execute(update(StatementLine).where(
        StatementLine.payout_id == payout.id, StatementLine.status == LineStatus.payable)
        .values(status=LineStatus.paid))


def payouts_of(*, session: Session, venue_org_id: str | None,
               limit: int = 200) -> list[Payout]:
    """Payouts, newest first: a venue org's, or (None) all."""
    query = select(Payout).order_by(Payout.created_at.desc(), Payout.id).limit(limit)
    if venue_org_id is not None:
        query = query.where(Payout.venue_org_id == venue_org_id)
    return list(session.scalars(query))


def lines_of_payout(*, session: Session, payout_id: str) -> int:
    """How many statement lines a payout carries."""
    return int(session.scalar(select(func.count()).select_from(StatementLine).where(
        StatementLine.payout_id == payout_id)) or 0)


# --- reversals ----------------------------------------------------------------------------

def reverse_paid_lines(*, session: Session, lines: Sequence[StatementLine], reason: str) -> None:
    """Take back earnings that were transferred already: each becomes money owed back (an
    `Adjustment`), which the next run reverses on its transfer or subtracts from the next
    payout (not committed; the refund's transaction holds no provider)."""
    for ln in lines:
        ln.status = LineStatus.reversed
        session.add(Adjustment(venue_org_id=ln.venue_org_id, currency=ln.currency,
                               amount_cents=-ln.earnings_cents, reason=reason[:300],
                               statement_line_id=ln.id))


def settle_reversals(*, session: Session, provider: PaymentProvider) -> int:
    """Reverse, on their payout's transfer, the earnings owed back since it was made; what the
    provider refuses stays owed, for the next payout (committed). How many were reversed."""
    owed = session.execute(select(Adjustment, Payout).join(
        StatementLine, StatementLine.id == Adjustment.statement_line_id).join(
        Payout, Payout.id == StatementLine.payout_id).where(
        Adjustment.payout_id.is_(None), Payout.transfer_id.is_not(None),
        Payout.status.in_([PayoutStatus.paid, PayoutStatus.reversed]))
        .order_by(Adjustment.id)).all()
    by_payout: dict[str, tuple[Payout, list[Adjustment]]] = {}
    for adj, payout in owed:
        by_payout.setdefault(payout.id, (payout, []))[1].append(adj)
    reversed_ = 0
    for payout, adjustments in by_payout.values():
        amount = -sum(a.amount_cents for a in adjustments)
        left = payout.amount_cents - payout.reversed_cents
        if amount <= 0 or amount > left or payout.transfer_id is None:
            continue  # more than the transfer has left: it is taken from the next payout
        session.commit()  # no transaction is held while the provider is called
        try:
            provider.reverse_transfer(
                key=idempotency_key("reversal", transfer=payout.transfer_id,
                                    lines=sorted(str(a.statement_line_id)
                                                 for a in adjustments)),
                transfer_id=payout.transfer_id, amount_cents=amount)
        except ProviderRefused as exc:
            # e.g. balance_insufficient: the money left the connected account; the next
            # payout of the org carries the adjustment instead
            log.warning("payouts: reversal on %s refused (%s); %s cents are taken from the "
                        "org's next payout", payout.transfer_id, exc.provider_code, amount)
            for a in adjustments:
                if "reversal refused" not in a.reason:
                    a.reason = f"{a.reason}; reversal refused ({exc.provider_code})"[:300]
            session.commit()
            continue
        for a in adjustments:
            a.payout_id = payout.id  # settled: taken back from that payout's transfer
        _reversed(payout, payout.reversed_cents + amount)
        session.commit()
        reversed_ += len(adjustments)
    return reversed_


def _reversed(payout: Payout, amount_reversed: int) -> None:
    payout.reversed_cents = max(payout.reversed_cents, amount_reversed)
    if payout.reversed_cents >= payout.amount_cents:
        payout.status = PayoutStatus.reversed


# --- webhooks -----------------------------------------------------------------------------

def apply_connect_event(*, session: Session, type_: str, obj: dict[str, Any]) -> str:
    """Apply a Stripe Connect event (`account.updated`, `transfer.*`); what was done (not
    committed)."""
    if type_ == "account.updated":
        account = session.scalar(select(ConnectAccount).where(
            ConnectAccount.account_id == str(obj.get("id"))))
        if account is None:
            return "ignored: not an account of ours"
        account.payouts_enabled = bool(obj.get("payouts_enabled"))
        account.details_submitted = bool(obj.get("details_submitted"))
        account.updated_at = utcnow()
        return f"account {account.account_id} payouts_enabled={account.payouts_enabled}"
    if type_.startswith("transfer."):
        payout = session.scalar(select(Payout).where(Payout.transfer_id == str(obj.get("id"))))
        if payout is None:
            metadata = obj.get("metadata")
            payout_id = metadata.get("adsbin_payout_id") if isinstance(metadata, dict) \
                else None
            payout = session.get(Payout, str(payout_id)) if payout_id else None
        if payout is None:
            return "ignored: not a transfer of ours"
        if type_ in ("transfer.created", "transfer.updated") \
                and payout.status == PayoutStatus.pending:
            # the answer to our call was lost, the event tells it
            _mark_paid(session, payout, str(obj.get("id")))
            return f"payout {payout.id} paid"
        if type_ == "transfer.reversed":
            _reversed(payout, int(obj.get("amount_reversed") or 0))
            return f"payout {payout.id} reversed {payout.reversed_cents} cents"
        return f"payout {payout.id}: nothing to do"
    return "ignored"


# --- the schedule -------------------------------------------------------------------------

def _period_of(settings: Settings, instant: datetime) -> tuple[datetime, datetime]:
    """The billing period an instant falls in (as billing counts them: `billing_cycle`)."""
    instant = instant.astimezone(UTC)
    if settings.billing_cycle == "days":
        length_ms = settings.billing_cycle_days * 86_400_000
        start = _EPOCH + timedelta(milliseconds=_ms(instant) // length_ms * length_ms)
        return start, start + timedelta(milliseconds=length_ms)
    start = datetime(instant.year, instant.month, 1, tzinfo=UTC)
    return start, datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def due_period(*, settings: Settings, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The latest period whose end plus `payout_delay_days` has passed."""
    target = (now or utcnow()) - timedelta(days=settings.payout_delay_days)
    start, _ = _period_of(settings, target)
    return _period_of(settings, start - timedelta(milliseconds=1))


@registry.job(DUE_JOB, max_attempts=3, hourly=True)
def _payouts_due_job(context: JobContext, payload: dict[str, Any]) -> None:
    """The scheduler's hourly look: reverse what is owed back, and pay the period that ended
    `payout_delay_days` ago once its cycle is closed (finishing pending payouts)."""
    provider = context.payments
    if provider is None:
        raise RuntimeError("this process has no payment provider")
    if not context.settings.payout_auto_run:  # payouts and reversals run when asked only
        return
    with context.sessionmaker() as session:
        settle_reversals(session=session, provider=provider)
        start, end = due_period(settings=context.settings)
        if closed_cycle(session=session, start_ms=_ms(start), end_ms=_ms(end)) is None:
            return
        run(session=session, provider=provider, settings=context.settings,
            period_start=start, period_end=end)
