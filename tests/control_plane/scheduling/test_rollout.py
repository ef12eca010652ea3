"""A build rolls out only what changed and keeps each screen's plan beside its playlist: an
unchanged playlist is neither written nor announced again, a change to one venue sends only its
screens', the timeline reads the kept plan (one row, no build) unless a change waits for its
rebuild, a plan kept without its playlist (before playlists moved into the database) is
published again at the device's first poll, and a deleted screen's plan and playlist go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from control_plane import events
from control_plane.scheduling import publication, rollout
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.models import ScreenPlanRow
from tests.control_plane.devices.test_pairing import ask_code
from tests.control_plane.scheduling.test_robustness import _approved, _rebuild, _venue_with_screen
from tests.helpers import bearer, error_code, signup


class Counted:
    """Counts the playlists a build writes (and so announces), by screen id."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.puts: list[str] = []
        body_of = publication.body_of

        def counted(playlist):
            self.puts.append(playlist.screen_id)
            return body_of(playlist)

        monkeypatch.setattr(publication, "body_of", counted)

    def clear(self) -> None:
        self.puts.clear()


@pytest.fixture
def fleet(client):
    owner = signup(client, "venue")
    screens = [_venue_with_screen(client, owner, name=f"Gym {k}") for k in range(3)]
    return owner, screens


def test_a_build_that_changes_nothing_writes_nothing(app, client, fleet, monkeypatch):
    _, screens = fleet
    written = Counted(monkeypatch)
    _rebuild(app)
    assert sorted(written.puts) == sorted(s["id"] for s in screens)
    written.clear()
    with app.state.sessionmaker() as session:
        before = {s["id"]: publication.read(session=session, screen_id=s["id"]) for s in screens}
    _rebuild(app)
    assert written.puts == []  # versions come from the kept plans
    with app.state.sessionmaker() as session:
        after = {s["id"]: publication.read(session=session, screen_id=s["id"]) for s in screens}
    assert after == before  # the same playlists, generated_at included


def test_a_change_to_one_venue_sends_only_its_screens_playlist(app, client, fleet, monkeypatch):
    owner, screens = fleet
    _rebuild(app)
    written = Counted(monkeypatch)
    r = client.patch(f"/v1/venues/{screens[1]['venue_id']}", headers=owner.headers,
                     json={"opening_hours": {"mon": [["08:00", "12:00"]]}})
    assert r.status_code == 200, r.text
    _rebuild(app)  # every screen asked for: the others' playlists come out the same
    assert written.puts == [screens[1]["id"]]


def test_the_timeline_reads_the_kept_plan_without_building(app, client, fleet, monkeypatch):
    owner, screens = fleet
    campaign_id = _approved(app, signup(client, "advertiser").org_id)
    before = datetime.now(UTC)
    _rebuild(app)

    def no_build(*args, **kwargs):
        raise AssertionError("the timeline built the fleet's schedule")

    monkeypatch.setattr(scheduling_service, "build", no_build)
    r = client.get(f"/v1/screens/{screens[0]['id']}/timeline", headers=owner.headers)
    assert r.status_code == 200, r.text
    timeline = r.json()
    assert datetime.fromisoformat(timeline["planned_at"]) >= before.replace(microsecond=0)
    assert any(i["campaign_id"] == campaign_id for w in timeline["windows"] for i in w["loop"])
    assert all(w["explain"] for w in timeline["windows"])


def test_a_change_waiting_for_its_rebuild_shows_at_once(app, client, fleet):
    owner, screens = fleet
    _rebuild(app)
    campaign_id = _approved(app, signup(client, "advertiser").org_id)
    with app.state.sessionmaker() as session:
        scheduling_service.request_rebuild(session=session, queue=app.state.jobs)
    r = client.get(f"/v1/screens/{screens[0]['id']}/timeline", headers=owner.headers)
    assert any(i["campaign_id"] == campaign_id for w in r.json()["windows"] for i in w["loop"])


def test_a_plan_kept_without_its_playlist_is_published_at_the_first_poll(app, client, fleet,
                                                                         monkeypatch):
    owner, screens = fleet
    screen = screens[0]
    ticket = ask_code(client)
    client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                json={"code": ticket["code"]})
    device = bearer(client.get(f"/v1/device/pairings/{ticket['pairing_id']}")
                    .json()["device_token"])
    _rebuild(app)
    with app.state.sessionmaker() as session:  # as rows kept before the upgrade are
        session.execute(update(ScreenPlanRow).where(ScreenPlanRow.screen_id == screen["id"])
                        .values(playlist_zlib=None))
        session.commit()
    r = client.get("/v1/device/playlist", headers=device)
    assert r.status_code == 404 and error_code(r) == "no_playlist"
    written = Counted(monkeypatch)
    scheduling_service.rebuild(app.state.jobs.context, {})  # the rebuild the miss asked for
    assert written.puts == [screen["id"]]
    assert client.get("/v1/device/playlist", headers=device).status_code == 200


def test_a_deleted_screen_loses_its_kept_plan(app, client, fleet):
    owner, screens = fleet
    _rebuild(app)
    with app.state.sessionmaker() as session:
        assert rollout.is_kept(session=session, screen_id=screens[2]["id"])
    assert client.delete(f"/v1/screens/{screens[2]['id']}",
                         headers=owner.headers).status_code == 204
    events.deliver(app.state.jobs.context, {})
    with app.state.sessionmaker() as session:
        assert not rollout.is_kept(session=session, screen_id=screens[2]["id"])
        assert publication.read(session=session, screen_id=screens[2]["id"]) is None
        assert rollout.is_kept(session=session, screen_id=screens[1]["id"])
