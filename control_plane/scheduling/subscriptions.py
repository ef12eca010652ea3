"""What scheduling does when other domains change things: ask for new playlists.

Each change may add or remove plays, so each asks for a rebuild of the screens it touches (all
of them for a campaign: even pacing spreads it over the fleet). Asking twice costs one build,
so delivering an event again is harmless.
"""

from __future__ import annotations

from control_plane import events
from control_plane.jobs.queue import JobContext
from control_plane.scheduling import rollout
from control_plane.scheduling import service as scheduling_service
from control_plane.venues import service as venues_service

# A draft's edits, a submission or a rejection change nothing that plays.
_PLAYS_CHANGE = frozenset({"updated", "creative_added", "approved", "paused", "resumed",
                           "budget_spent"})


def _rebuild(ctx: JobContext, screen_ids: list[str] | None) -> None:
    assert ctx.queue is not None
    with ctx.sessionmaker() as session:
        scheduling_service.request_rebuild(session=session, queue=ctx.queue,
                                           screen_ids=screen_ids)


@events.subscribe(events.CampaignChanged)
def campaign_changed(ctx: JobContext, event: events.CampaignChanged) -> None:
    """Every screen's playlist, when what the campaign plays may have changed."""
    if event.change in _PLAYS_CHANGE:
        _rebuild(ctx, None)


@events.subscribe(events.ScreensChanged)
def screens_changed(ctx: JobContext, event: events.ScreensChanged) -> None:
    """The playlists of the screens that changed (a removed one needs none, and its kept
    plan goes)."""
    if event.change not in ("screen_deleted", "venue_deleted"):
        _rebuild(ctx, event.screen_ids)
        return
    with ctx.sessionmaker() as session:
        rollout.forget(session=session, screen_ids=list(event.screen_ids))
        session.commit()


@events.subscribe(events.ModerationDecided)
def moderation_decided(ctx: JobContext, event: events.ModerationDecided) -> None:
    """The playlists of the venue's screens."""
    with ctx.sessionmaker() as session:
        screen_ids = [s.id for s in venues_service.list_screens(session=session,
                                                                venue_id=event.venue_id)]
    _rebuild(ctx, screen_ids)


@events.subscribe(events.ScreenBack)
def screen_back(ctx: JobContext, event: events.ScreenBack) -> None:
    """The playlist of a screen that was dormant: it plays again, with its share of budgets."""
    _rebuild(ctx, [event.screen_id])
