"""Authorization in one place: who (org kind × role) may do what (action) to which resource.

Every router asks `authorize()` (directly or through `require()` in `dependencies.py`). Objects of
another tenant answer 404, never 403, so their existence does not leak; a known caller without the
right role in its own org gets 403. Later domains add their resources to `POLICY`; the tenancy test
matrix in `tests/control_plane/auth/test_policy.py` walks the whole table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from control_plane.errors import Forbidden, NotFound


class Action(enum.StrEnum):
    read = "read"
    create = "create"
    update = "update"
    delete = "delete"
    manage = "manage"  # approve, pair, run: acts beyond editing


class Resource(enum.StrEnum):
    org = "org"
    member = "member"
    api_key = "api_key"
    venue = "venue"
    screen = "screen"
    media = "media"
    campaign = "campaign"
    moderation = "moderation"
    report = "report"
    pop_export = "pop_export"
    invoice = "invoice"
    payout = "payout"
    revenue_policy = "revenue_policy"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user acting in one org, or an org's API key."""

    kind: str  # "user" or "api_key"
    user_id: str | None
    org_id: str | None
    org_kind: str | None
    role: str | None
    is_superadmin: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    # whether the user confirmed their address: until then they may sign in and look, not buy
    # or be paid (`require_verified_email`); an API key only reads
    email_verified: bool = True

    @property
    def is_api_key(self) -> bool:
        """Whether an API key (not a person) is calling."""
        return self.kind == "api_key"


R, A = Resource, Action
_ALL = frozenset(Action)
_READ = frozenset({A.read})
_EDIT = frozenset({A.read, A.create, A.update, A.delete})

# (org kind, resource) -> role -> allowed actions. Absent means nothing is allowed.
POLICY: dict[tuple[str, Resource], dict[str, frozenset[Action]]] = {}


def _grant(org_kinds: tuple[str, ...], resource: Resource, **roles: frozenset[Action]) -> None:
    for kind in org_kinds:
        POLICY[(kind, resource)] = dict(roles)


_ANY_ORG = ("advertiser", "venue", "platform")
_grant(_ANY_ORG, R.org, admin=frozenset({A.read, A.update}), member=_READ, technician=_READ)
_grant(_ANY_ORG, R.member, admin=_ALL, member=_READ, technician=_READ)
_grant(_ANY_ORG, R.api_key, admin=_ALL)
_grant(("advertiser", "venue"), R.media, admin=_EDIT, member=_EDIT)
_grant(("advertiser", "venue"), R.report, admin=_READ, member=_READ)
_grant(("venue",), R.venue, admin=_ALL, member=_EDIT, technician=_READ)
_grant(("venue",), R.screen, admin=_ALL, member=_EDIT, technician=frozenset({A.read, A.manage}))
_grant(("venue",), R.moderation, admin=_ALL, member=frozenset({A.read}))
_grant(("venue",), R.payout, admin=frozenset({A.read, A.manage}), member=_READ)
_grant(("venue",), R.revenue_policy, admin=_READ, member=_READ)
_grant(("advertiser",), R.campaign, admin=_ALL, member=_EDIT)
_grant(("advertiser",), R.invoice, admin=_READ, member=_READ)

# What an org's API key may read: analytics, nothing else, never a write.
API_KEY_READABLE = frozenset({R.report, R.pop_export, R.campaign})


def allowed(principal: Principal, resource: Resource, action: Action) -> bool:
    """Whether the principal may do `action` on `resource` of its own org (ownership aside)."""
    if principal.is_superadmin:
        return True
    if principal.is_api_key:
        return action is A.read and resource in API_KEY_READABLE and "read" in principal.scopes
    if principal.org_kind is None or principal.role is None:
        return False
    return action in POLICY.get((principal.org_kind, resource), {}).get(principal.role, frozenset())


def authorize(principal: Principal, resource: Resource, action: Action, *,
              owner_org_id: str | None = None) -> None:
    """Raise unless the principal may do `action` on `resource` (owned by `owner_org_id`).

    An object owned by another org is reported as not found, whatever the role.
    """
    if principal.is_superadmin:
        return
    if owner_org_id is not None and owner_org_id != principal.org_id:
        # the same body as for an id that does not exist: nothing tells the two apart
        raise NotFound(f"{resource.value.replace('_', ' ')} not found",
                       code=f"{resource.value}_not_found")
    if not allowed(principal, resource, action):
        raise Forbidden(f"your role may not {action.value} {resource.value.replace('_', ' ')}s",
                        details={"resource": resource.value, "action": action.value,
                                 "role": principal.role, "org_kind": principal.org_kind})
