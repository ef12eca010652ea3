"""Domain events: recorded with the change or not at all, delivered to every subscriber at least
once, a failing subscriber retried alone, nothing lost when the process dies after the commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from control_plane import events
from control_plane.events import EventDelivery, OutboxEvent
from control_plane.jobs.models import Job
from control_plane.scheduling.models import ScheduleRequest
from tests.helpers import signup


class Happened(events.Event):
    kind = "test.happened"
    n: int


@pytest.fixture
def seen(monkeypatch):
    """Two subscribers of `Happened`: one that records, one that fails while `fail` says so."""
    got: dict[str, list[int]] = {"a": [], "b": []}
    fail = {"b": 0}

    def a(ctx, event):
        got["a"].append(event.n)

    def b(ctx, event):
        if fail["b"]:
            fail["b"] -= 1
            raise RuntimeError("b is down")
        got["b"].append(event.n)

    monkeypatch.setitem(events._subscribers, Happened.kind, {"a": a, "b": b})
    return got, fail


def _count(app, model, **where):
    with app.state.sessionmaker() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query)


def test_an_event_exists_exactly_when_its_change_does(app, seen):
    with app.state.sessionmaker() as session:
        events.record(session, Happened(n=1))
        session.rollback()
    assert _count(app, OutboxEvent) == 0
    assert _count(app, Job, kind=events.JOB_KIND) == 0
    with app.state.sessionmaker() as session:
        events.record(session, Happened(n=2))
        session.commit()
    assert _count(app, OutboxEvent, status="pending") == 1
    assert _count(app, Job, kind=events.JOB_KIND) == 1  # the commit queued its delivery
    with app.state.sessionmaker() as session:
        events.record(session, Happened(n=3))
        session.commit()
    assert _count(app, Job, kind=events.JOB_KIND) == 1  # one waiting delivery serves both

    events.deliver(app.state.jobs.context, {})
    got, _ = seen
    assert got == {"a": [2, 3], "b": [2, 3]}  # in the order they happened
    assert _count(app, OutboxEvent, status="delivered") == 2


def test_a_failing_subscriber_is_retried_alone(app, seen):
    got, fail = seen
    fail["b"] = 2
    with app.state.sessionmaker() as session:
        events.record(session, Happened(n=7))
        session.commit()
    for _ in range(2):
        with pytest.raises(events.DeliveryFailed):
            events.deliver(app.state.jobs.context, {})
    assert got == {"a": [7], "b": []}  # a had it once, however often b failed
    events.deliver(app.state.jobs.context, {})
    assert got == {"a": [7], "b": [7]}
    with app.state.sessionmaker() as session:
        row = session.scalars(select(OutboxEvent)).one()
        assert row.status == "delivered" and row.attempts == 2 and row.last_error is None
        assert set(session.scalars(select(EventDelivery.subscriber))) == {"a", "b"}


def test_a_subscriber_that_never_recovers_is_given_up_on(app, seen):
    got, fail = seen
    fail["b"] = 10**6
    with app.state.sessionmaker() as session:
        events.record(session, Happened(n=1))
        session.commit()
    for _ in range(events.MAX_ATTEMPTS - 1):
        with pytest.raises(events.DeliveryFailed):
            events.deliver(app.state.jobs.context, {})
    events.deliver(app.state.jobs.context, {})  # the last attempt settles it as failed
    with app.state.sessionmaker() as session:
        row = session.scalars(select(OutboxEvent)).one()
        assert row.status == "failed" and "b is down" in (row.last_error or "")
    assert got["a"] == [1]


def test_nothing_is_lost_when_the_process_dies_after_the_commit(app, seen):
    # a commit whose kick never happened (the process died in between): the row waits
    with app.state.sessionmaker() as session:
        session.add(OutboxEvent(kind=Happened.kind, payload={"n": 5}))
        session.commit()
    assert _count(app, Job, kind=events.JOB_KIND) == 0
    assert events.sweep(app.state.jobs) is True  # at start-up and every scheduler tick
    assert _count(app, Job, kind=events.JOB_KIND) == 1
    events.deliver(app.state.jobs.context, {})
    got, _ = seen
    assert got == {"a": [5], "b": [5]}
    assert events.sweep(app.state.jobs) is False


def test_a_delivery_another_worker_holds_is_left_to_it(app, seen):
    with app.state.sessionmaker() as session:
        session.add(OutboxEvent(kind=Happened.kind, payload={"n": 9},
                                claimed_until=datetime.now(UTC) + timedelta(minutes=1)))
        session.commit()
    events.deliver(app.state.jobs.context, {})
    got, _ = seen
    assert got == {"a": [], "b": []}
    with app.state.sessionmaker() as session:  # its holder died: the claim runs out
        row = session.scalars(select(OutboxEvent)).one()
        row.claimed_until = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    events.deliver(app.state.jobs.context, {})
    assert got == {"a": [9], "b": [9]}


def test_approving_a_campaign_asks_for_playlists_through_its_event(client, app):
    """The router no longer coordinates: the campaigns service records CampaignChanged and
    scheduling's subscriber asks for the rebuild."""
    advertiser = signup(client, "advertiser")
    now = datetime.now(UTC)
    r = client.post("/v1/campaigns", headers=advertiser.headers, json={
        "name": "c", "category": "1133", "start_at": (now - timedelta(hours=1)).isoformat(),
        "end_at": (now + timedelta(days=3)).isoformat(), "budget_cents": 1000,
        "cpm_cents": 100, "currency": "EUR"})
    assert r.status_code == 201
    campaign_id = r.json()["id"]
    with app.state.sessionmaker() as session:
        recorded = [e.payload for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.kind == events.CampaignChanged.kind))]
    assert recorded == [{"campaign_id": campaign_id, "org_id": advertiser.org_id,
                         "change": "created", "state": "draft"}]
    events.deliver(app.state.jobs.context, {})
    assert _count(app, ScheduleRequest) == 0  # a new draft changes no playlist
    r = client.patch(f"/v1/campaigns/{campaign_id}", headers=advertiser.headers,
                     json={"name": "renamed"})
    assert r.status_code == 200
    assert _count(app, ScheduleRequest) == 0  # nothing until the event is delivered
    events.deliver(app.state.jobs.context, {})
    assert _count(app, ScheduleRequest, screen_id="*") == 1
