"""Errors of the revenue domain.

    Invalid (422)
    └── InvalidPolicy        a share or an effective time that cannot be a policy
    Conflict (409)
    ├── PolicyInClosedPeriod  a change that would reach into a closed billing period
    └── PayoutsNotEnabled     the venue org has not finished Stripe onboarding
    NotFound (404)
    ├── StatementNotFound
    └── CycleNotClosed       no closed billing cycle of exactly that period (a payout run)
    Forbidden (403)
    └── NotAVenueAdmin       onboarding is for the admins of a venue org
"""

from __future__ import annotations

from control_plane.errors import Conflict, Forbidden, Invalid, NotFound


class InvalidPolicy(Invalid):
    code = "invalid_policy"


class PolicyInClosedPeriod(Conflict):
    code = "policy_in_closed_period"


class PayoutsNotEnabled(Conflict):
    code = "payouts_not_enabled"


class StatementNotFound(NotFound):
    code = "statement_not_found"


class CycleNotClosed(NotFound):
    code = "cycle_not_closed"


class NotAVenueAdmin(Forbidden):
    code = "venue_admin_only"
