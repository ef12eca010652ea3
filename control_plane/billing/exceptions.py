"""Errors of the billing domain.

    Invalid (422)
    └── InvalidPeriod        a period whose end is not after its start, not on whole hours,
                             or not over yet
    Conflict (409)
    ├── PeriodOverlaps       it overlaps a closed period differently, or lies before one
    └── InvoiceState         the invoice cannot move that way from where it is
    NotFound (404)
    └── InvoiceNotFound      no such invoice, or not the caller's
"""

from __future__ import annotations

from control_plane.errors import Conflict, Invalid, NotFound


class InvalidPeriod(Invalid):
    code = "invalid_period"


class PeriodOverlaps(Conflict):
    code = "period_overlaps"


class InvoiceState(Conflict):
    code = "invoice_state"


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"
