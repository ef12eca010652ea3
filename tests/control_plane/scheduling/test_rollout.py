"""A build rolls out only what changed and keeps each screen's plan: an unchanged playlist is
neither stored nor read again, a change to one venue sends only its screens', the timeline reads
the kept plan (one row, no build) unless a change waits for its rebuild, a playlist the store lost
is published again, and a deleted screen's plan goes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control_plane import events
from control_plane.scheduling import rollout
from control_plane.scheduling import service as scheduling_service
from control_plane.scheduling.publication import playlist_key
from tests.control_plane.devices.test_pairing import ask_code
from tests.control_plane.scheduling.test_robustness import _approved, _rebuild, _venue_with_screen
from tests.helpers import bearer, error_code, signup


class Counted:
    """Counts the object store's writes and reads of playlists."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store) -> None:
        self.puts: list[str] = []
        self.gets: list[str] = []
        put, get = store.put, store.get

        def counted_put(key, data, **kw):
            if key.startswith("playlists/"):
                self.puts.append(key)
            return put(key, data, **kw)

        def counted_get(key, **kw):
            if key.startswith("playlists/"):
                self.gets.append(key)
            return get(key, **kw)

        monkeypatch.setattr(store, "put", counted_put)
        monkeypatch.setattr(store, "get", counted_get)

    def clear(self) -> None:
        self.puts.clear()
        self.gets.clear()


@pytest.fixture
def fleet(client):
    owner = signup(client, "venue")
    screens = [_venue_with_screen(client, owner, name=f"Gym {k}") for k in range(3)]
    return owner, screens


def test_a_build_that_changes_nothing_stores_and_reads_nothing(app, client, fleet, monkeypatch):
    _, screens = fleet
    store = Counted(monkeypatch, app.state.jobs.context.object_store)
    _rebuild(app)
    assert sorted(store.puts) == sorted(playlist_key(s["id"]) for s in screens)
    store.clear()
    _rebuild(app)
    assert store.puts == [] and store.gets == []  # versions come from the kept plans


def test_a_change_to_one_venue_sends_only_its_screens_playlist(app, client, fleet, monkeypatch):
    owner, screens = fleet
    _rebuild(app)
    store = Counted(monkeypatch, app.state.jobs.context.object_store)
    r = client.patch(f"/v1/venues/{screens[1]['venue_id']}", headers=owner.headers,
                     json={"opening_hours": {"mon": [["08:00", "12:00"]]}})
    assert r.status_code == 200, r.text
    _rebuild(app)  # every screen asked for: the others' playlists come out the same
    assert store.puts == [playlist_key(screens[1]["id"])]


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


def test_a_playlist_the_store_lost_is_published_again(app, client, fleet, monkeypatch):
    owner, screens = fleet
    screen = screens[0]
    ticket = ask_code(client)
    client.post(f"/v1/screens/{screen['id']}/pair", headers=owner.headers,
                json={"code": ticket["code"]})
    device = bearer(client.get(f"/v1/device/pairings/{ticket['pairing_id']}")
                    .json()["device_token"])
    _rebuild(app)
    store = app.state.jobs.context.object_store
    store.delete(playlist_key(screen["id"]))  # a restored backup, a wiped bucket
    r = client.get("/v1/device/playlist", headers=device)
    assert r.status_code == 404 and error_code(r) == "no_playlist"
    counted = Counted(monkeypatch, store)
    scheduling_service.rebuild(app.state.jobs.context, {})  # the rebuild the miss asked for
    assert counted.puts == [playlist_key(screen["id"])]
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
        assert rollout.is_kept(session=session, screen_id=screens[1]["id"])
