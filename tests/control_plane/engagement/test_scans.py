"""Scans are counted by UTC hour, exactly, even when they arrive together; unique scanners are
counted by a salted daily hash, and nothing that names the scanner is stored; HEAD requests and
link previews are redirected but not counted; a day's salt is gone once the day is over."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from control_plane.engagement import scans
from control_plane.engagement import service as engagement_service
from control_plane.engagement.models import (
    ScanDay,
    ScanHour,
    ScanSalt,
    ScanVisitorDay,
    ScanVisitorHour,
)
from control_plane.models import Base
from tests.control_plane.engagement.conftest import LANDING

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 " \
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1 ScanMarker-7f3a"


def _hours(app, link_id: str) -> dict[int, tuple[int, int]]:
    with app.state.sessionmaker() as session:
        return {h.hour: (h.scans, h.unique_scanners) for h in session.scalars(
            select(ScanHour).where(ScanHour.link_id == link_id))}


def _scan(app, link_id: str, *, at: datetime, client: str, agent: str = PHONE,
          method: str = "GET") -> bool:
    with app.state.sessionmaker() as session:
        link = engagement_service.active_link(session=session, code=_code(app, link_id))
        assert link is not None
        return engagement_service.record_scan(session=session, link=link, method=method,
                                              client=client, user_agent=agent, now=at)


def _code(app, link_id: str) -> str:
    from control_plane.engagement.models import TrackedLink
    with app.state.sessionmaker() as session:
        return session.get(TrackedLink, link_id).code  # type: ignore[union-attr]


def test_scans_are_counted_by_hour_with_unique_scanners(client, app, link):
    base = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for minute, who in ((1, "198.51.100.7"), (20, "198.51.100.7"), (59, "203.0.113.9")):
        assert _scan(app, link["id"], at=base + timedelta(minutes=minute), client=who)
    _scan(app, link["id"], at=base + timedelta(hours=1, minutes=5), client="198.51.100.7")
    hour = int(base.timestamp()) // 3600
    assert _hours(app, link["id"]) == {hour: (3, 2), hour + 1: (1, 1)}
    with app.state.sessionmaker() as session:
        days = session.scalars(select(ScanDay).where(ScanDay.link_id == link["id"])).all()
    assert [(d.day, d.unique_scanners) for d in days] == [(hour // 24, 2)]
    # the same address with another browser is another scanner
    _scan(app, link["id"], at=base + timedelta(hours=1, minutes=6), client="198.51.100.7",
          agent="Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile Safari/537.36")
    assert _hours(app, link["id"])[hour + 1] == (2, 2)


def test_scans_through_the_short_url_are_counted_and_name_nobody(client, app, link):
    for _ in range(3):
        r = client.get(f"/r/{link['code']}?utm_medium=qr", headers={"User-Agent": PHONE},
                       follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == LANDING
    now_hour = int(datetime.now(UTC).timestamp()) // 3600
    counted = _hours(app, link["id"])
    assert sum(s for s, _ in counted.values()) == 3
    assert set(counted) <= {now_hour, now_hour + 1}  # (a scan just after the hour turned)
    assert sum(u for _, u in counted.values()) in (1, 2)
    # every row of every table: neither the client's address nor its user agent is there
    address = "testclient"  # what the test client's requests come from
    with app.state.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                text = " ".join(str(v) for v in row)
                assert "ScanMarker-7f3a" not in text, table.name
                if table.name.startswith(("scan_", "tracked_")):
                    assert address not in text, table.name
    with app.state.sessionmaker() as session:
        visitors = session.scalars(select(ScanVisitorHour.visitor)).all()
    assert visitors and all(len(v) == 32 and int(v, 16) >= 0 for v in visitors)


def test_head_requests_and_link_previews_redirect_but_do_not_count(client, app, link):
    r = client.head(f"/r/{link['code']}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == LANDING
    for agent in ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
                  "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                  "Twitterbot/1.0", "WhatsApp/2.23.20.0", "TelegramBot (like TwitterBot)",
                  "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
                  "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www."
                  "linkedin.com)"):
        r = client.get(f"/r/{link['code']}", headers={"User-Agent": agent},
                       follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == LANDING, agent
    assert _hours(app, link["id"]) == {}
    assert client.get(f"/v1/campaigns/{link['campaign_id']}/tracked-link",
                      headers={}).status_code == 401


def test_concurrent_scans_are_all_counted(client, app, link):
    at = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    threads, per_thread = 8, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def scan_many(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                # half the scanners come back: (t, i) and (t, i + 1) share an address
                _scan(app, link["id"], at=at, client=f"192.0.2.{t}-{i // 2}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=scan_many, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    hour = int(at.timestamp()) // 3600
    assert _hours(app, link["id"]) == {hour: (threads * per_thread,
                                              threads * len(range(0, per_thread, 2)))}
    with app.state.sessionmaker() as session:
        assert session.scalar(select(ScanSalt.day)) == hour // 24  # one salt, made once


def test_a_days_salt_and_hashes_are_deleted_once_the_day_is_over(client, app, link):
    day1 = datetime(2026, 12, 3, 23, 50, tzinfo=UTC)
    _scan(app, link["id"], at=day1, client="198.51.100.7")
    with app.state.sessionmaker() as session:
        first_salt = session.scalar(select(ScanSalt.salt))
    _scan(app, link["id"], at=day1 + timedelta(minutes=20), client="198.51.100.7")
    with app.state.sessionmaker() as session:
        salts = session.execute(select(ScanSalt.day, ScanSalt.salt)).all()
        assert [d for d, _ in salts] == [int(day1.timestamp()) // 86400 + 1]
        assert salts[0][1] != first_salt
        assert {v.hour // 24 for v in session.scalars(select(ScanVisitorHour))} == \
            {salts[0][0]}
        assert {v.day for v in session.scalars(select(ScanVisitorDay))} == {salts[0][0]}
    # the counts stay, and the same person the next day counts as new (another key)
    counted = _hours(app, link["id"])
    assert sorted(counted.values()) == [(1, 1), (1, 1)]
    # the hourly job does it even on a day nobody scans
    with app.state.sessionmaker() as session:
        scans.forget_past_days(session=session, today=salts[0][0] + 1)
        session.commit()
        assert session.scalars(select(ScanSalt)).all() == []
        assert session.scalars(select(ScanVisitorHour)).all() == []


def test_preview_agents_are_told_apart_from_phones():
    assert scans.is_counted(method="GET", user_agent=PHONE)
    assert scans.is_counted(method="GET", user_agent="")
    assert not scans.is_counted(method="HEAD", user_agent=PHONE)
    assert not scans.is_counted(method="GET", user_agent="facebookexternalhit/1.1")
    assert not scans.is_counted(method="GET", user_agent="Slackbot 1.0")
