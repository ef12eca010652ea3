"""Rolling a build out: each screen's playlist stored and announced as soon as its plan is made,
and the plan kept for its timeline.

The build plans screens one after another (`engine.plan_each`); the first screens' playlists go
out while the last are still being planned. Storing and announcing run on a few threads, so a
slow write (a disk's fsync, an S3 PUT) holds up only its own screen, never the planning or the
others. A playlist whose version is the one the screen last got is neither stored nor announced
again: the versions are read from `screen_plans` in one query, not from each stored playlist
(a screen without a row, the first time, is compared with what the store holds, as before).

Every screen rolled out gets its plan written to `screen_plans`, explanations included, in
batches once the playlists are out: the timeline shows what the last build published and why,
from one row. A crash between the two costs only a second announcement of the same version.
"""

from __future__ import annotations

import json
import logging
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from control_plane.ports import MqttPublisher
from control_plane.scheduling import publication
from control_plane.scheduling.models import ScreenPlanRow
from control_plane.scheduling.plan import ScreenPlan, SlotItem, Window
from control_plane.storage.base import ObjectStore
from shared.playlist import Playlist

log = logging.getLogger(__name__)
# a few: enough that a slow write waits alone, few enough that they do not fight the planning
# for the interpreter (their work is mostly waiting on the disk, S3 or the broker)
THREADS = 4
BATCH = 500


class Rollout:
    """The playlists of one build on their way out, and their plans to keep."""

    def __init__(self, *, session: Session, store: ObjectStore, bridge: MqttPublisher | None,
                 public_url: str, built_at: datetime) -> None:
        self.store, self.bridge, self.public_url = store, bridge, public_url
        self.built_at = built_at
        self.known: dict[str, str] = {
            screen_id: version for screen_id, version in session.execute(
                select(ScreenPlanRow.screen_id, ScreenPlanRow.version))}
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="adsbin-publish")
        self._out: list[tuple[dict[str, Any], Future[bool] | None]] = []

    def add(self, plan: ScreenPlan, playlist: Playlist) -> None:
        """Send this screen's playlist on its way (unless the screen has it already)."""
        row = {"screen_id": playlist.screen_id, "version": playlist.version,
               "built_at": self.built_at,
               "plan_zlib": zlib.compress(packed(plan), 1)}
        known = self.known.get(playlist.screen_id)
        future: Future[bool] | None = None
        if known is None:  # first time: what the store holds says whether it is new
            future = self._pool.submit(publication.publish, self.store, self.bridge, playlist,
                                       public_url=self.public_url)
        elif known != playlist.version:
            future = self._pool.submit(self._put, playlist)
        self._out.append((row, future))

    def _put(self, playlist: Playlist) -> bool:
        publication.put(self.store, self.bridge, playlist, public_url=self.public_url)
        return True

    def finish(self, session: Session) -> tuple[int, list[str]]:
        """Wait for every playlist, keep the plans of those out, and commit; (how many
        changed, the screens whose playlist failed)."""
        changed, failed, kept = 0, [], []
        try:
            for row, future in self._out:
                if future is not None:
                    try:
                        changed += future.result()
                    except Exception:  # one screen's playlist must not keep the others'
                        log.exception("schedule: the playlist of screen %s was not published",
                                      row["screen_id"])
                        failed.append(row["screen_id"])
                        continue
                kept.append(row)
        finally:
            self._pool.shutdown(wait=True)
        for k in range(0, len(kept), BATCH):
            batch = kept[k:k + BATCH]
            session.execute(delete(ScreenPlanRow).where(
                ScreenPlanRow.screen_id.in_([r["screen_id"] for r in batch])))
            session.execute(insert(ScreenPlanRow), batch)
        session.commit()
        return changed, failed


PACKING = 1


def packed(plan: ScreenPlan) -> bytes:
    """The plan as compact JSON: each distinct item once, windows as [start, end (Unix
    seconds), item indices, explanations]; a few times cheaper to write than `plan.to_json`,
    which the build does for every screen."""
    items: dict[SlotItem, int] = {}
    windows = [[int(w.start.timestamp()), int(w.end.timestamp()),
                [items.setdefault(i, len(items)) for i in w.loop], w.explain]
               for w in plan.windows]
    return json.dumps({"packing": PACKING, "items": [
        [i.kind, i.campaign_id, i.creative_id, i.media_sha256, i.duration_s, i.slots]
        for i in items], "windows": windows,
                       "exclusions": plan.exclusions}, separators=(",", ":"),
                      ensure_ascii=False).encode()


def unpacked(screen_id: str, raw: bytes) -> ScreenPlan:
    """The plan `packed` wrote."""
    data = json.loads(raw)
    items = [SlotItem(*i) for i in data["items"]]
    return ScreenPlan(screen_id, tuple(
        Window(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC),
               tuple(items[k] for k in loop), tuple(explain))
        for start, end, loop, explain in data["windows"]),
        {k: tuple(v) for k, v in data["exclusions"].items()})


def last_plan(*, session: Session, screen_id: str) -> tuple[ScreenPlan, datetime] | None:
    """The screen's plan as the last build published it, and when it was built (None: no
    build has published it yet)."""
    row = session.get(ScreenPlanRow, screen_id)
    if row is None:
        return None
    return unpacked(row.screen_id, zlib.decompress(row.plan_zlib)), row.built_at


def published_versions(*, session: Session) -> list[tuple[str, str]]:
    """(screen id, version) of every playlist the builds published, as their kept plans say."""
    return [(str(s), str(v)) for s, v in session.execute(
        select(ScreenPlanRow.screen_id, ScreenPlanRow.version))]


def is_kept(*, session: Session, screen_id: str) -> bool:
    """Whether a build kept a plan for the screen."""
    return session.get(ScreenPlanRow, screen_id) is not None


def forget(*, session: Session, screen_ids: list[str]) -> bool:
    """Drop these screens' kept plans (deleted screens; a playlist the store lost, so that
    the next build publishes it again); whether there were any. The caller commits."""
    if not screen_ids:
        return False
    dropped = session.execute(delete(ScreenPlanRow).where(
        ScreenPlanRow.screen_id.in_(screen_ids))).rowcount  # type: ignore[attr-defined]
    return bool(dropped)
