"""Counting a scan without keeping who made it.

Each counted scan adds one to its link's UTC hour by a single upsert (`INSERT … ON CONFLICT DO
UPDATE SET scans = scans + 1`), which SQLite and PostgreSQL both apply atomically, so scans
arriving together are all counted. Whether the scanner is new in the hour (or the day) is told
by inserting an HMAC-SHA256 of the link, client address and user agent, keyed by the day's
random salt, into a table keyed by it (`ON CONFLICT DO NOTHING`: a row inserted is a new
scanner). Neither address nor user agent is stored. The salt of a UTC day is made by its
first scan and deleted, with that day's hashes, once the day is over (by the next scan or the
hourly job, whichever comes first): past hashes then cannot be tested against every IPv4
address. Only the counts remain.

HEAD requests and link previews (chat apps and social networks fetching a pasted link) are
redirected but not counted: nobody scanned anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from control_plane.engagement.models import (
    VISITOR_HEX,
    ScanDay,
    ScanHour,
    ScanSalt,
    ScanVisitorDay,
    ScanVisitorHour,
    TrackedLink,
)

HOUR_S, DAY_S = 3600, 86_400
# Link previews and crawlers that fetch a link when it is pasted or shared, not when a person
# scans it (matched case-insensitively anywhere in the user agent).
PREVIEW_AGENTS = re.compile("|".join((
    "slackbot", "slack-imgproxy", "facebookexternalhit", "facebookcatalog", "meta-externalagent",
    "twitterbot", "linkedinbot", "discordbot", "telegrambot", "whatsapp", "skypeuripreview",
    "microsoftpreview", "pinterestbot", "redditbot", "embedly", "iframely",
    "applebot", "googlebot", "bingbot", "duckduckbot", "yandexbot", "baiduspider",
    "google-pagerenderer", "bitlybot", "vkshare", "mastodon", "bluesky", "preview",
    "headlesschrome", "python-requests", "curl/", "wget/", r"\bbot\b", "crawler", "spider",
)), re.IGNORECASE)


def is_counted(*, method: str, user_agent: str) -> bool:
    """Whether a request to a short link counts as a scan (not a HEAD, not a preview bot)."""
    return method.upper() != "HEAD" and not PREVIEW_AGENTS.search(user_agent)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite_insert


def forget_past_days(*, session: Session, today: int) -> None:
    """Delete the salts and scanner hashes of days before `today` (counts stay)."""
    session.execute(delete(ScanSalt).where(ScanSalt.day < today))
    session.execute(delete(ScanVisitorDay).where(ScanVisitorDay.day < today))
    session.execute(delete(ScanVisitorHour).where(ScanVisitorHour.hour < today * 24))


def _salt(session: Session, day: int) -> bytes:
    """The day's salt, made (race-safe: the first insert wins) by the day's first scan."""
    found = session.scalar(select(ScanSalt.salt).where(ScanSalt.day == day))
    if found is not None:
        return bytes(found)
    session.execute(_insert(session)(ScanSalt).values(day=day, salt=secrets.token_bytes(32))
                    .on_conflict_do_nothing())
    forget_past_days(session=session, today=day)
    salt = session.scalar(select(ScanSalt.salt).where(ScanSalt.day == day))
    assert salt is not None
    return bytes(salt)


def visitor_hash(salt: bytes, link_id: str, client: str, user_agent: str) -> str:
    """The scanner's keyed hash: the same person on the same link in the same day gives the
    same value; the link is in it, so one person's scans of two links cannot be joined."""
    message = "\n".join((link_id, client, user_agent)).encode("utf-8", "replace")
    return hmac.new(salt, message, hashlib.sha256).hexdigest()[:VISITOR_HEX]


def _new(session: Session, table: type[ScanVisitorHour] | type[ScanVisitorDay],
         **key: object) -> int:
    """1 if this hash was not yet in `table` for its link and period (inserted now), else 0."""
    # told by the row RETURNING hands back (psycopg does not give a rowcount for it)
    inserted = session.execute(_insert(session)(table).values(**key).on_conflict_do_nothing()
                               .returning(table.visitor)).first()
    return 0 if inserted is None else 1


def record(*, session: Session, link: TrackedLink, client: str, user_agent: str,
           now: datetime) -> None:
    """Count one scan of `link` at `now` (committed)."""
    epoch_s = int(now.astimezone(UTC).timestamp())
    hour, day = epoch_s // HOUR_S, epoch_s // DAY_S
    visitor = visitor_hash(_salt(session, day), link.id, client, user_agent)
    new_in_hour = _new(session, ScanVisitorHour, hour=hour, link_id=link.id, visitor=visitor)
    new_in_day = _new(session, ScanVisitorDay, day=day, link_id=link.id, visitor=visitor)
    insert = _insert(session)
    statement = insert(ScanHour).values(link_id=link.id, hour=hour, scans=1,
                                        unique_scanners=new_in_hour)
    session.execute(statement.on_conflict_do_update(
        index_elements=[ScanHour.link_id, ScanHour.hour],
        set_={"scans": ScanHour.scans + 1,
              "unique_scanners": ScanHour.unique_scanners + new_in_hour}))
    if new_in_day:
        day_statement = insert(ScanDay).values(link_id=link.id, day=day, unique_scanners=1)
        session.execute(day_statement.on_conflict_do_update(
            index_elements=[ScanDay.link_id, ScanDay.day],
            set_={"unique_scanners": ScanDay.unique_scanners + 1}))
    session.commit()
