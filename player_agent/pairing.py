"""First boot: ask for a pairing code, show it full screen, poll until someone claims it, keep
the credentials (0600) and go on — no restart.

A code still valid from before a restart is shown again rather than replaced (the technician
may already be typing it). An expired code is replaced by a new one. The credentials come once:
if they were lost between the server's answer and our disk, the claim is spent and the unit asks
for a new code, which is the only safe way out.

A unit asks anonymously, within the server's per-address limit; one started by an operator's
tool (`adsbin simulate`) may ask with that operator's sign-in instead, which the server counts
per person, so a fleet behind one address pairs at once.
"""

from __future__ import annotations

import base64
import logging
import threading
from datetime import timedelta

from player_agent import cards
from player_agent.api import ApiError, DeviceApi, Offline
from player_agent.clock import Clock
from player_agent.programme import Programme
from player_agent.state import StateDir
from shared.agent import AgentCredentials
from shared.device import Display, PairingRequest, PairingTicket

MIN_CODE_LIFE_S = 30  # a saved code this close to expiry is replaced, not shown
RATE_LIMIT_DEFAULT_S = 30.0

log = logging.getLogger(__name__)


class Pairing:
    """The pairing flow of an unpaired unit."""

    def __init__(self, *, api: DeviceApi, state: StateDir, programme: Programme, clock: Clock,
                 display: Display, agent_version: str, retry_min_s: float,
                 retry_max_s: float, operator_token: str | None = None) -> None:
        self.api = api
        self.state = state
        self.programme = programme
        self.clock = clock
        self.display = display
        self.agent_version = agent_version
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.operator_token = operator_token  # None once the server refused it
        self.ticket: PairingTicket | None = None

    def _request(self) -> PairingTicket:
        key = self.state.device_key()
        public = base64.b64encode(key.public_bytes_raw())
        request = PairingRequest(fingerprint=self.state.fingerprint(), public_key=public.decode(),
                                 display=self.display, agent_version=self.agent_version)
        try:
            ticket = self.api.request_pairing(request, operator_token=self.operator_token)
        except ApiError as exc:
            if self.operator_token is None or exc.status not in (401, 403):
                raise
            # an expired sign-in must not keep the unit from pairing: ask as a unit does
            log.warning("pairing on behalf of the operator was refused (%s); asking alone", exc)
            self.operator_token = None
            ticket = self.api.request_pairing(request)
        self.state.save_pairing(ticket, self.api.server_url)
        log.info("pairing code %s (expires %s)", ticket.code, ticket.expires_at.isoformat())
        return ticket

    def _saved(self) -> PairingTicket | None:
        saved = self.state.pairing()
        if saved is None:
            return None
        ticket, server_url = saved
        fresh = ticket.expires_at - self.clock.now() > timedelta(seconds=MIN_CODE_LIFE_S)
        return ticket if fresh and server_url == self.api.server_url else None

    def _show(self, ticket: PairingTicket | None, problem: str | None = None) -> None:
        size = self.programme.screen_size
        if ticket is not None:
            card = cards.pairing_card(self.programme.cards_dir, size, code=ticket.code,
                                      server_url=self.api.server_url)
        else:
            card = cards.builtin_card(self.programme.cards_dir, size,
                                      message=problem or "asking for a pairing code")
        self.programme.set_card(card)

    def run(self, stop: threading.Event) -> AgentCredentials | None:
        """Pair; the credentials, or None if stopped first."""
        self.ticket = self._saved()
        failures = 0
        while not stop.is_set():
            wait_s = self.retry_min_s
            try:
                if self.ticket is None or self.ticket.expires_at <= self.clock.now():
                    self.ticket = self._request()
                self._show(self.ticket)
                status = self.api.poll_pairing(self.ticket.pairing_id)
                failures = 0
                if status.status == "claimed" and status.device_token and status.mqtt \
                        and status.device_id and status.screen_id:
                    credentials = AgentCredentials(
                        server_url=self.api.server_url, device_id=status.device_id,
                        screen_id=status.screen_id, device_token=status.device_token,
                        mqtt=status.mqtt)
                    self.state.save_credentials(credentials)
                    self.programme.set_card(None)
                    log.info("paired: device %s on screen %s", credentials.device_id,
                             credentials.screen_id)
                    return credentials
                if status.status != "pending":  # expired, or claimed but credentials lost
                    self.ticket = None
                    continue
                wait_s = float(status.poll_after_s or self.retry_min_s)
            except Offline as exc:
                failures += 1
                wait_s = min(self.retry_max_s, self.retry_min_s * 2 ** (failures - 1))
                self._show(self.ticket, f"cannot reach {self.api.server_url}: check the network")
                log.info("pairing: %s", exc)
            except ApiError as exc:
                failures += 1
                if exc.status == 429:
                    wait_s = RATE_LIMIT_DEFAULT_S
                elif exc.status in (404, 410):
                    self.ticket = None  # the server forgot this pairing: ask again
                else:
                    wait_s = min(self.retry_max_s, self.retry_min_s * 2 ** (failures - 1))
                log.warning("pairing: %s", exc)
            stop.wait(wait_s)
        return None
