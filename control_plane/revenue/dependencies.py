"""Revenue's app-wide object as a typed dependency: the payment provider `create_app` chose
(billing's own is above revenue, so revenue reads it here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from control_plane.payments.base import PaymentProvider


async def get_payment_provider(request: Request) -> PaymentProvider:
    """The app's payment provider (Stripe, or offline without a key)."""
    provider: PaymentProvider = request.app.state.payments
    return provider


PaymentProviderDep = Annotated[PaymentProvider, Depends(get_payment_provider)]
