"""The API's answers as the technicians' CLI reads them (API.md): typed where the CLI looks.

Each model keeps the fields it does not name (`extra="allow"`), so `--json` output passes on
everything the server said, while the tables rely only on the typed fields.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict

from shared.device import Wire


class Resource(Wire):
    """An API object: the fields the CLI reads are typed, the others are kept for `--json`."""

    model_config = ConfigDict(extra="allow")


class Token(Resource):
    """The answer of POST /v1/auth/token."""

    access_token: str
    expires_in: int


class Org(Resource):
    """An organisation, as /v1/me lists them."""

    id: str
    name: str
    kind: str


class Membership(Resource):
    """A user's role in one org."""

    org: Org
    role: str


class User(Resource):
    """The signed-in user."""

    id: str
    email: str | None = None
    name: str = ""
    is_superadmin: bool = False


class Me(Resource):
    """GET /v1/me: who the token speaks for, and in which org."""

    user: User
    org_id: str | None = None
    role: str | None = None
    memberships: list[Membership] = []

    @property
    def org(self) -> Org | None:
        """The org the token acts in."""
        return next((m.org for m in self.memberships if m.org.id == self.org_id), None)


class Venue(Resource):
    """A venue of the caller's org."""

    id: str
    name: str
    address: str = ""
    timezone: str = ""


class Screen(Resource):
    """A screen with its device's state."""

    id: str
    venue_id: str
    name: str
    width_px: int
    height_px: int
    status: str = "unpaired"
    last_seen_at: datetime | None = None
    agent_version: str | None = None


class Claim(Resource):
    """POST /v1/screens/{id}/pair: the device now bound to the screen."""

    screen_id: str
    device_id: str
    display: dict[str, int] = {}
    agent_version: str = ""
