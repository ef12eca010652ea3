"""What the media pipeline does when screens change: make renditions for sizes new to them."""

from __future__ import annotations

from control_plane import events
from control_plane.jobs.queue import JobContext
from control_plane.media import service as media_service


@events.subscribe(events.ScreensChanged)
def screens_changed(ctx: JobContext, event: events.ScreensChanged) -> None:
    """Send the ready media lacking a rendition of each new display size back through
    processing (a second delivery may queue that again; processing makes the same files)."""
    if not event.display_sizes:
        return
    assert ctx.queue is not None
    with ctx.sessionmaker() as session:
        for size in event.display_sizes:
            media_service.request_renditions(session=session, queue=ctx.queue,
                                             size=(size[0], size[1]))
