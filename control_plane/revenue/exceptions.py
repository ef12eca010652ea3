"""Errors of the revenue domain.

    Invalid (422)
    └── InvalidPolicy        a share or an effective time that cannot be a policy
    Conflict (409)
    ├── PolicyInClosedPeriod  a change that would reach into a closed billing period
    └── PayoutsNotEnabled     the venue org has not finished Stripe onboarding
    NotFound (404)
    └── StatementNotFound
"""

from __future__ import annotations

from control_plane.errors import Conflict, Invalid, NotFound


class InvalidPolicy(Invalid):
    code = "invalid_policy"


class PolicyInClosedPeriod(Conflict):
    code = "policy_in_closed_period"


class PayoutsNotEnabled(Conflict):
    code = "payouts_not_enabled"


class StatementNotFound(NotFound):
    code = "statement_not_found"
