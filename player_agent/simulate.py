"""`adsbin simulate --screens N`: a fleet of N display units against a control plane.

Each unit is the real agent (`Agent`: sync, cache, journal, signed proof of play, MQTT,
heartbeats, commands) with the null renderer, all in this one process, each with its own state
dir under `--state-dir`. A venue owner's account (the demo's by default) gets a venue called
"Simulated fleet" with screens `sim-001`, `sim-002`, ...; every unit's pairing code is claimed for
its screen through the public API, as a technician would. The units ask for their codes with that
owner's sign-in, so a fleet on one address is not held to the per-address limit on anonymous
pairing requests (which is there for units nobody vouches for). A second run finds the venue,
the screens and the pairings kept in the state dirs, and carries on where the last one stopped.

The fleet is for load and for watching the whole loop at scale: what it reports is the agents'
own counters, counted as the server counts: "plays" are the plays sent as proof of play (ads
and house content), so they meet "accepted" once the backlog is sent; the built-in cards, which
are never reported, are counted apart.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from player_agent.agent import Agent
from player_agent.settings import AgentSettings
from player_agent.state import StateDirBusy

VENUE_NAME = "Simulated fleet"
VENUE = {"name": VENUE_NAME, "address": "Loopback", "lat": 48.8566, "lon": 2.3522,
         "timezone": "Europe/Paris", "venue_type_id": 1,
         "opening_hours": {d: [["00:00", "24:00"]] for d in
                           ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
PAIR_TIMEOUT_S = 60.0
HOUSE_FILE = "simulated-fleet-house.png"
HOUSE_READY_S = 120.0

class SimulationError(RuntimeError):
    """The fleet could not be set up; the message says what to do."""


def screen_name(k: int) -> str:
    """The name of the k-th simulated screen (from 1)."""
    return f"sim-{k:03d}"


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise SimulationError(f"{r.request.method} {r.request.url.path}: {r.status_code} "
                              f"{r.text[:300]}")
    return r.json() if r.content else None


def sign_in(http: httpx.Client, email: str, password: str) -> str:
    """The venue owner's access token."""
    r = http.post("/v1/auth/token", json={"email": email, "password": password})
    if r.status_code != 200:
        raise SimulationError(f"cannot sign in as {email} ({r.status_code}): pass the venue "
                              "owner's --email and --password, or run `make run` for the demo")
    return str(r.json()["access_token"])


def ensure_screens(http: httpx.Client, owner: dict[str, str], count: int) -> list[dict[str, Any]]:
    """The fleet venue's screens sim-001 … sim-<count>, made where missing."""
    venues = _ok(http.get("/v1/venues", headers=owner))["items"]
    venue = next((v for v in venues if v["name"] == VENUE_NAME), None)
    if venue is None:
        venue = _ok(http.post("/v1/venues", headers=owner, json=VENUE))
    found = {s["name"]: s for s in
             _ok(http.get(f"/v1/venues/{venue['id']}/screens", headers=owner))["items"]}
    screens = []
    for k in range(1, count + 1):
        screen = found.get(screen_name(k))
        if screen is None:
            screen = _ok(http.post(f"/v1/venues/{venue['id']}/screens", headers=owner, json={
                "name": screen_name(k), "width_px": 1920, "height_px": 1080}))
        screens.append(screen)
    return screens


def ensure_house_content(http: httpx.Client, owner: dict[str, str]) -> str:
    """Give the fleet venue house content of its own where it has none: an image the owner
    uploads, played (and reported as proof of play, counted for nothing) in every slot no
    campaign fills, so that a fleet reports plays with no campaign bought for it. Its media id."""
    venue = next(v for v in _ok(http.get("/v1/venues", headers=owner))["items"]
                 if v["name"] == VENUE_NAME)
    if venue["house_media_ids"]:
        return str(venue["house_media_ids"][0])
    media = _ok(http.post("/v1/media", headers=owner,
                          files={"file": (HOUSE_FILE, house_image(), "image/png")}))
    deadline = time.monotonic() + HOUSE_READY_S
    while media["status"] != "ready":
        if media["status"] == "failed" or time.monotonic() > deadline:
            raise SimulationError(f"the fleet's house image is {media['status']} after "
                                  f"{HOUSE_READY_S:g} s: is the control plane's worker running?")
        time.sleep(0.5)
        media = _ok(http.get(f"/v1/media/{media['id']}", headers=owner))
    _ok(http.patch(f"/v1/venues/{venue['id']}", headers=owner,
                   json={"house_media_ids": [media["id"]]}))
    return str(media["id"])


def house_image() -> bytes:
    """The fleet venue's house image, drawn here."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1920, 1080), (24, 40, 64))
    ImageDraw.Draw(image).text((80, 80), "ADSBIN simulated fleet", fill=(230, 230, 230))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Unit:
    """One simulated display unit: its screen, its agent and the thread running it."""

    screen: dict[str, Any]
    agent: Agent
    thread: threading.Thread
    claimed: str | None = None  # the code last claimed for it (its credentials may be on the way)

    def paired_here(self) -> bool:
        creds = self.agent.credentials
        return creds is not None and creds.screen_id == self.screen["id"]

    def code(self) -> str | None:
        """The pairing code the unit shows now, if any."""
        pairing = self.agent.pairing
        ticket = pairing.ticket if pairing else None
        return ticket.code if ticket else None


def start_units(screens: list[dict[str, Any]], settings: AgentSettings, *,
                operator_token: str | None = None) -> list[Unit]:
    """An agent per screen, each in `settings.state_dir / <screen name>`, running; each asks
    for its pairing code with `operator_token` (the venue owner's sign-in) when given."""
    units: list[Unit] = []
    for screen in screens:
        try:
            agent = Agent(settings.model_copy(update={
                "state_dir": settings.state_dir / screen["name"], "renderer": "null"}),
                operator_token=operator_token)
        except StateDirBusy as exc:
            stop_units(units)
            raise SimulationError(f"{exc}: is another `adsbin simulate` running on "
                                  f"{settings.state_dir}?") from exc
        thread = threading.Thread(target=agent.run, name=f"agent-{screen['name']}", daemon=True)
        thread.start()
        units.append(Unit(screen, agent, thread))
    return units


def pair_units(http: httpx.Client, owner: dict[str, str], units: list[Unit],
               timeout_s: float = PAIR_TIMEOUT_S) -> int:
    """Claim each unpaired unit's code for its screen (waiting for the code where the unit has
    none yet); how many were claimed now. A code already claimed is not claimed again."""
    paired = 0
    for unit in units:
        if unit.paired_here():
            continue
        deadline = time.monotonic() + timeout_s
        while (code := unit.code()) is None or code == unit.claimed:
            if unit.paired_here() or code is not None:
                break  # paired meanwhile, or claimed and its credentials on the way
            if time.monotonic() > deadline:
                raise SimulationError(f"{unit.screen['name']}: no pairing code after "
                                      f"{timeout_s:g} s; is the control plane answering?")
            time.sleep(0.1)
        else:
            claim(http, owner, unit, code)
            paired += 1
    return paired


def claim_ready(http: httpx.Client, owner: dict[str, str], units: list[Unit]) -> int:
    """Claim the codes the units show now, waiting for none; how many were claimed."""
    ready = [(unit, code) for unit in units if not unit.paired_here()
             and (code := unit.code()) is not None and code != unit.claimed]
    for unit, code in ready:
        claim(http, owner, unit, code)
    return len(ready)


def claim(http: httpx.Client, owner: dict[str, str], unit: Unit, code: str) -> None:
    """Claim `code` for the unit's screen. A screen still paired to a unit whose state dir is
    gone is unpaired first (its old token and broker login are revoked), the way a technician
    replaces a unit."""
    if unit.screen.get("status") not in (None, "unpaired"):
        _ok(http.delete(f"/v1/screens/{unit.screen['id']}/device", headers=owner))
        unit.screen["status"] = "unpaired"  # so that a second try does not unpair it again
    _ok(http.post(f"/v1/screens/{unit.screen['id']}/pair", headers=owner, json={"code": code}))
    unit.claimed = code


def summary(units: list[Unit]) -> dict[str, int]:
    """The fleet's counters, added up over its units."""
    out = {"units": len(units), "paired": 0, "playing": 0, "mqtt": 0, "plays": 0,
           "card_plays": 0, "accepted": 0, "rejected": 0, "backlog": 0, "dropped": 0}
    for unit in units:
        status = unit.agent.status()
        out["paired"] += status["state"] == "paired"
        out["playing"] += status["now_playing"] is not None
        out["mqtt"] += bool(status["mqtt_connected"])
        out["plays"] += status["playback"]["plays"]  # journaled: sent as proof of play
        out["card_plays"] += status["playback"]["unreported_plays"]
        out["accepted"] += (status["pop"] or {}).get("accepted", 0)
        out["rejected"] += (status["pop"] or {}).get("rejected", 0)
        out["backlog"] += status["journal"]["backlog"]
        out["dropped"] += status["journal"]["dropped"]
    return out


def stop_units(units: list[Unit]) -> None:
    """Stop every agent (each flushes its proof of play first; what the server did not
    acknowledge stays in its journal for the next run)."""
    for unit in units:
        unit.agent.stop()
    for unit in units:
        unit.thread.join(timeout=30)


def run(*, server_url: str, screens: int, settings: AgentSettings, email: str, password: str,
        seconds: float | None, every_s: float, stop: threading.Event,
        say: Callable[[str], None] = print) -> dict[str, int]:
    """Set the fleet up, run it until `seconds` pass or `stop` is set, and stop it; the
    fleet's last counters before stopping."""
    with httpx.Client(base_url=server_url, timeout=30) as http:
        try:
            token = sign_in(http, email, password)
            owner = {"Authorization": f"Bearer {token}"}
            found = ensure_screens(http, owner, screens)
        except httpx.TransportError as exc:
            raise SimulationError(f"cannot reach {server_url} ({exc}): start it with "
                                  "`make run` or `adsbin serve`") from exc
        say(f"{screens} screens in venue '{VENUE_NAME}'; starting {screens} agents "
            f"(null renderer) in {settings.state_dir}")
        units = start_units(found, settings, operator_token=token)
        try:
            paired = pair_units(http, owner, units)
            say(f"paired {paired} new unit(s); {screens - paired} kept their pairing")
            deadline = time.monotonic() + PAIR_TIMEOUT_S
            while not all(unit.agent.credentials for unit in units):
                if time.monotonic() > deadline or stop.wait(0.1):
                    raise SimulationError("not every unit took its pairing within "
                                          f"{PAIR_TIMEOUT_S:g} s; see the log")
            started = time.monotonic()
            counts = summary(units)
            while not stop.wait(every_s):
                counts = summary(units)
                say(f"{time.monotonic() - started:6.0f} s  paired {counts['paired']}/"
                    f"{counts['units']}  playing {counts['playing']}  mqtt {counts['mqtt']}  "
                    f"plays {counts['plays']}  accepted by the server {counts['accepted']}  "
                    + (f"rejected {counts['rejected']}  " if counts["rejected"] else "")
                    + f"backlog {counts['backlog']}  "
                    f"(built-in card plays, not reported: {counts['card_plays']})")
                if seconds is not None and time.monotonic() - started >= seconds:
                    break
        finally:
            say("stopping: each agent sends what its journal holds first")
            stop_units(units)
    return counts
