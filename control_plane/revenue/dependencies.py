"""Revenue's app-wide object as a typed dependency: the payment provider `create_app` chose
(billing's own is above revenue, so revenue reads it here); and who may set up payouts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from control_plane.auth.dependencies import require_verified_email
from control_plane.auth.policy import Principal
from control_plane.payments.base import PaymentProvider
from control_plane.revenue.exceptions import NotAVenueAdmin


async def get_payment_provider(request: Request) -> PaymentProvider:
    """The app's payment provider (Stripe, or offline without a key)."""
    provider: PaymentProvider = request.app.state.payments
    return provider


PaymentProviderDep = Annotated[PaymentProvider, Depends(get_payment_provider)]


def check_payout_admin(principal: Principal) -> str:
    """The org of a venue org's admin with a confirmed address, who alone sets up payouts
    (the API's route and the dashboard's page); 403 otherwise."""
    if principal.org_kind != "venue" or principal.role != "admin" or principal.org_id is None:
        raise NotAVenueAdmin("payouts are set up by an admin of a venue org")
    require_verified_email(principal)
    return principal.org_id
