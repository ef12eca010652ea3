"""HTTP routes of payouts: a venue org's Stripe onboarding, the payout run (super-admins), and
the payouts made."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from control_plane.auth.dependencies import CurrentUser, SuperAdmin
from control_plane.auth.policy import Action, Resource, authorize
from control_plane.db import DbSession
from control_plane.dependencies import SettingsDep
from control_plane.errors import Forbidden
from control_plane.revenue import payouts
from control_plane.revenue.dependencies import PaymentProviderDep, check_payout_admin
from control_plane.revenue.models import Payout
from control_plane.revenue.schemas import (
    OnboardingLink,
    PayoutPage,
    PayoutRead,
    PayoutRunIn,
    PayoutRunResult,
    SkippedBalance,
)

router = APIRouter(prefix="/v1/payouts", tags=["payouts"])


def _read(session: Session, payout: Payout) -> PayoutRead:
    return PayoutRead(id=payout.id, venue_org_id=payout.venue_org_id, cycle_id=payout.cycle_id,
                      currency=payout.currency, amount_cents=payout.amount_cents,
                      reversed_cents=payout.reversed_cents, status=payout.status.value,
                      transfer_group=payout.transfer_group,
                      source_transaction=payout.source_transaction,
                      transfer_id=payout.transfer_id, last_error=payout.last_error,
                      lines=payouts.lines_of_payout(session=session, payout_id=payout.id),
                      created_at=payout.created_at, paid_at=payout.paid_at)


@router.post("/onboarding-link", response_model=OnboardingLink,
             summary="Where the venue org's admin sets up payouts (Stripe Connect Express)",
             description="Being paid needs a confirmed address: 403 `email_not_verified` until "
                         "the link mailed at signup was followed.",
             responses={403: {"description": "not_a_venue_admin, email_not_verified"}})
def onboarding_link(session: DbSession, principal: CurrentUser, settings: SettingsDep,
                    provider: PaymentProviderDep) -> OnboardingLink:
    org_id = check_payout_admin(principal)
    url = payouts.onboarding_link_for(session=session, provider=provider, settings=settings,
                                      org_id=org_id, user_id=principal.user_id)
    account = payouts.connect_account(session=session, org_id=org_id)
    assert account is not None  # onboarding_link made it
    return OnboardingLink(url=url, account_id=account.account_id,
                          payouts_enabled=account.payouts_enabled)


def _page(title: str, message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset=utf-8><title>"
                        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}"
                        f"</h1><p>{html.escape(message)}</p></body></html>")


@router.get("/onboarding/return", response_class=HTMLResponse, include_in_schema=False)
def onboarding_return() -> HTMLResponse:
    return _page("Payout setup sent", "Thank you: Stripe has your details. Payouts start once "
                 "Stripe has checked them; you can close this page.")


@router.get("/onboarding/refresh", response_class=HTMLResponse, include_in_schema=False)
def onboarding_refresh() -> HTMLResponse:
    return _page("This link has expired", "Onboarding links work once and for a few minutes: "
                 "ask for a new one from your payout settings.")


@router.get("/onboarding/offline", response_class=HTMLResponse, include_in_schema=False)
def onboarding_offline() -> HTMLResponse:
    return _page("Payouts are offline", "This installation has no Stripe key: the account is "
                 "ready at once and transfers are recorded, not sent.")


@router.post("/run", response_model=PayoutRunResult,
             summary="Pay venue orgs for the closed cycle of a period (super-admins)")
def run(body: PayoutRunIn, session: DbSession, settings: SettingsDep,
        provider: PaymentProviderDep, principal: SuperAdmin) -> PayoutRunResult:
    result = payouts.run_detailed(session=session, provider=provider, settings=settings,
                                  period_start=body.period_start, period_end=body.period_end)
    return PayoutRunResult(payouts=[_read(session, p) for p in result.payouts],
                           skipped=[SkippedBalance(venue_org_id=s.venue_org_id,
                                                   currency=s.currency,
                                                   balance_cents=s.balance_cents,
                                                   reason=s.reason)
                                    for s in result.skipped])


@router.get("", response_model=PayoutPage,
            summary="Payouts: a venue org's own, or (super-admins) all")
def list_payouts(session: DbSession, principal: CurrentUser) -> PayoutPage:
    if principal.is_superadmin:
        org_id = None
    elif principal.org_kind == "venue" and principal.org_id is not None:
        authorize(principal, Resource.payout, Action.read)  # its admins and members
        org_id = principal.org_id
    else:
        raise Forbidden("payouts are read by venue orgs and super-admins", code="forbidden")
    return PayoutPage(payouts=[_read(session, p) for p in
                               payouts.payouts_of(session=session, venue_org_id=org_id)])
