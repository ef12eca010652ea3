"""Fuzzing per role: schemathesis generates requests for every operation of our own OpenAPI
document, and each role sends them with its own valid credential: the admin of an advertiser
org, a venue org's admin, its technician, a super-admin, the advertiser's API key, a paired
device's token (the `/v1/device/*` operations) and nobody at all. Positive cases name the
role's real objects (its org, the campaign, venue, screen, media, command, invoice... of
`fuzz/world.py`) so that they reach past the lookups, or a second tenant's (which must be
answered as documented too); negative cases are invalid on purpose.

Each answer must pass schemathesis' checks: not a server error, a status the operation
documents, and a body its schema allows (the errors' body of API.md on every 4xx). The short
version (a few examples per operation and role, derandomized so that it is steady) runs in
`make test`; the long one (many examples, random ids too) in `make test-long`.
(Driven through hypothesis directly: schemathesis' pytest plugin does not load under pytest 9.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from tests.control_plane.fuzz.engine import Budget, Outcome, fuzz
from tests.control_plane.fuzz.world import ROLES, World, make_world

SHORT = Budget(positive=2, rival=1, negative=1)
LONG = Budget(positive=60, rival=10, negative=30, random_ids=True)

# what each role must have been answered with a success at least once (its world's objects
# were reached, not only refused), and how many operations answered it so at least
REACHED = {
    "advertiser": ({"GET /v1/campaigns/{campaign_id}", "GET /v1/media/{media_id}",
                    "GET /v1/invoices/{invoice_id}", "GET /v1/reports/delivery"}, 40),
    "venue_owner": ({"GET /v1/venues/{venue_id}", "GET /v1/screens/{screen_id}",
                     "GET /v1/screens/{screen_id}/commands/{command_id}",
                     "GET /v1/moderation/queue"}, 40),
    "technician": ({"GET /v1/screens/{screen_id}", "POST /v1/screens/{screen_id}/commands"},
                   15),
    "superadmin": ({"GET /v1/campaigns/{campaign_id}", "GET /v1/billing/reconciliation",
                    "GET /v1/screens/{screen_id}"}, 50),
    "api_key": ({"GET /v1/reports/delivery", "GET /v1/campaigns/{campaign_id}"}, 8),
    "device": ({"GET /v1/device/playlist", "GET /v1/device/commands", "GET /v1/device/time"},
               5),
    "anonymous": ({"GET /v1/device/pairings/{pairing_id}", "GET /healthz"}, 3),
}


@pytest.fixture(scope="module")
def world(db_url: str, tmp_path_factory: pytest.TempPathFactory,
          keys_dir: Path) -> Iterator[World]:
    with make_world(db_url, tmp_path_factory.mktemp("fuzz"), keys_dir) as w:
        yield w


@pytest.fixture(scope="module")
def schema(world: World):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_dict(world.app.openapi())


def _assert_answered_as_documented(role: str, outcome: Outcome) -> None:
    assert not outcome.failures, (f"{len(outcome.failures)} operations failed for {role}:\n"
                                  + "\n".join(outcome.failures))
    must, at_least = REACHED[role]
    reached = outcome.answered(200, 400)
    assert must <= reached, f"{role} never succeeded on {sorted(must - reached)}"
    assert len(reached) >= at_least, f"{role} succeeded on {len(reached)} operations only"


def test_the_document_has_every_operation(schema) -> None:  # type: ignore[no-untyped-def]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 100
    assert any(op.path.startswith("/v1/device/") for op in operations)
    assert set(REACHED) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_each_role_as_documented(world, schema, role) -> None:  # type: ignore[no-untyped-def]
    _assert_answered_as_documented(role, fuzz(world, schema, role, SHORT))


@pytest.mark.long
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_each_role_as_documented_long(world, schema, role) -> None:  # type: ignore[no-untyped-def]
    _assert_answered_as_documented(role, fuzz(world, schema, role, LONG))
