"""The demo data set of `adsbin demo` and `make run`: idempotent, safe to run again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from control_plane.orgs import service as orgs_service
from control_plane.orgs.models import OrgKind, Role

DEMO_PASSWORD = "adsbin-demo"  # noqa: S105 - a published demo login, not a secret


@dataclass(frozen=True)
class DemoLogin:
    """One demo account: who it is and how to sign in."""

    email: str
    password: str
    what: str


DEMO_ORGS = [
    ("Demo Advertiser Co.", OrgKind.advertiser, [
        ("advertiser@demo.example.com", "Ada Advertiser", Role.admin,
         "advertiser admin: creatives, campaigns, delivery and spend"),
    ]),
    ("Demo Venues Ltd.", OrgKind.venue, [
        ("venue@demo.example.com", "Victor Venue", Role.admin,
         "venue owner: venues, screens, moderation, delivery"),
        ("tech@demo.example.com", "Tess Technician", Role.technician,
         "field technician: pairs screens"),
    ]),
]
SUPERADMIN = DemoLogin("admin@demo.example.com", DEMO_PASSWORD,
                       "super-admin: approvals, everything")


def seed_demo(*, session: Session) -> list[DemoLogin]:
    """Create the demo orgs and users if they are missing; the logins to print."""
    logins = [SUPERADMIN]
    if orgs_service.get_user_by_email(session=session, email=SUPERADMIN.email) is None:
        orgs_service.ensure_superuser(session=session, email=SUPERADMIN.email,
                                      password=SUPERADMIN.password, name="Sam Super-admin")
    for org_name, kind, people in DEMO_ORGS:
        first_email = people[0][0]
        existing = orgs_service.get_user_by_email(session=session, email=first_email)
        if existing is None:
            org = orgs_service.create_org(session=session, name=org_name, kind=kind)
            for email, name, role, _ in people:
                user = orgs_service.create_user(session=session, email=email, name=name,
                                                password=DEMO_PASSWORD, email_verified=True)
                orgs_service.add_membership(session=session, org_id=org.id, user_id=user.id,
                                            role=role)
            session.commit()
        logins += [DemoLogin(email, DEMO_PASSWORD, what) for email, _, _, what in people]
    return logins
