"""The write phase of ingestion: store the plays that are new, bill them, roll them up.

It is serialized (`writer.py`: PostgreSQL's transaction-scoped advisory lock; on SQLite, a lock
file and its one writer), so what it reads is exact: plays already stored, plays already
counted in each hour, each campaign's spend so far. The unique play id decides what is new:
plays go in with INSERT … ON CONFLICT (play_id) DO NOTHING and the number that went in checked
against the number sent (SQLite), or with COPY, which a stored play id fails (PostgreSQL); when
some were stored already, the write is rolled back and done again with those counted as
duplicates, so nothing is ever counted, billed or rolled up twice. The rollups are
added to in the same transaction, so they always equal the sum of the stored plays. Serializing
also makes `seq` (the export cursor) follow commit order, so a reader never skips a play
committed late.

Spend accrues per campaign: each billable play adds its exact cost (thousandths of an impression
× CPM, in millionths of a cent); whole cents are charged as they complete and the remainder
carries to the next play; at the budget nothing more is charged. So a campaign's spend is its
exact cost rounded down to the cent, never above its budget, and every play's own spend (stored
on it) adds up to it exactly.

Everything here runs inside the serialized section, so it is kept short: the plays arrive as
ready rows (`ingest.py`), the usual batch needs no per-play work beyond billing, and the
statements go straight to the driver (plain numbers and strings; the plays with executemany on
SQLite, with COPY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from psycopg.errors import UniqueViolation
from sqlalchemy.engine import Dialect

from control_plane.db import utcnow
from control_plane.reporting.exceptions import IngestRaced
from control_plane.reporting.models import PopScreen
from control_plane.reporting.sums import TOTALS, Sums
from control_plane.scheduling.inputs import AudienceTarget
from control_plane.scheduling.playtime import PlayRules
from shared.pop import PopBatch, PopRejection

MICROS_PER_CENT = 1_000_000  # milli-impressions × CPM cents are millionths of a cent
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
ADVISORY_LOCK_KEY = 0x706F70  # "pop": one ingest writes at a time (PostgreSQL)
# target impressions are kept by the audience rollups and the campaign totals only (a play's
# target is a campaign's, so the screen, venue and creative rollups would only carry zeros)
TARGET = "target_impressions_milli"
TOTALS_COLUMNS = ("campaign_id", *TOTALS, TARGET, "carry_micros", "updated_at")
SCREEN_COLUMNS = ("screen_id", "batches", "received", "last_batch_at")
BATCH_COLUMNS = ("id", "batch_id", "device_id", "screen_id", "venue_org_id", "public_key",
                 "signature", "message_zlib", "records", "transport", "received_at")
ROLLUP_KEY = ("screen_id", "campaign_key", "creative_id")
ROLLUP_COLUMNS = (*ROLLUP_KEY, "venue_id", "venue_org_id", "advertiser_org_id", "currency",
                  *TOTALS)
VENUE_KEY = ("venue_id", "campaign_key", "creative_id")
VENUE_COLUMNS = (*VENUE_KEY, "venue_org_id", "advertiser_org_id", "currency", *TOTALS)
CAMPAIGN_KEY = ("campaign_key", "creative_id")
CAMPAIGN_COLUMNS = (*CAMPAIGN_KEY, "advertiser_org_id", "currency", *TOTALS)
AUDIENCE_KEY = ("screen_id", "campaign_key", "audience_key")
AUDIENCE_COLUMNS = (*AUDIENCE_KEY, "venue_id", "venue_org_id", "advertiser_org_id", "currency",
                    "billable_plays", "impressions_milli", TARGET)


class PlayRow(NamedTuple):
    """A play as it is stored (`pop_records`'s columns, in the order of the COPY / INSERT)."""

    play_id: str
    batch: str
    device_id: str
    screen_id: str
    campaign_id: str | None
    creative_id: str
    media_sha256: str
    started_ms: int
    ended_ms: int
    duration_ms: int
    expected_ms: int
    completed: bool
    clock_offset_ms: int
    billable: bool
    impressions_milli: int
    spend_cents: int  # 0 until the play is billed (`billed`)
    flag: str | None
    advertiser_org_id: str | None
    venue_org_id: str
    audience_profile_id: str | None  # the profile that counted its impressions, or None: the
    # screen's flat multiplier (`venues/audience.py`)

    def billed(self, spend_cents: int) -> PlayRow:
        """The row with its spend (faster than `_replace`: this runs in the write lock)."""
        return _new_row(PlayRow, (*self[:_SPEND], spend_cents, *self[_SPEND + 1:]))


PLAY_COLUMNS = PlayRow._fields
_SPEND = PLAY_COLUMNS.index("spend_cents")
_new_row = tuple.__new__


@dataclass(slots=True)
class Play:
    """A checked record, as the row it will be stored as, and what it adds to the rollups."""

    play_id: str
    row: PlayRow
    hour: int
    day: int
    key: str  # the campaign id, or HOUSE
    creative_id: str
    billable: bool
    impressions_milli: int
    duration_ms: int
    audience_key: str = ""  # "<profile id>:<daypart>" that counted it, "": the flat multiplier
    target_milli: int = 0  # of its impressions, those of its campaign's audience target


@dataclass(frozen=True, slots=True)
class Terms:
    """What billing and the rollups need of a campaign."""

    org_id: str
    currency: str
    budget_cents: int
    cpm_cents: int
    audience: AudienceTarget | None = None  # whom it targets; None: whoever watches


@dataclass
class _Account:
    """A campaign's spend so far, as read under the write lock."""

    budget_cents: int
    cpm_cents: int
    spend_cents: int
    carry_micros: int

    def charge(self, impressions_milli: int) -> int:
        """Whole cents a play adds (see the module's docstring)."""
        cents, carry = divmod(self.carry_micros + impressions_milli * self.cpm_cents,
                              MICROS_PER_CENT)
        room = max(0, self.budget_cents - self.spend_cents)
        if cents >= room:
            cents, carry = room, 0
        self.spend_cents += cents
        self.carry_micros = carry
        return cents


@dataclass
class Tally:
    """What a set of plays adds to the rollups, before billing adds the spend."""

    hourly: dict[tuple[int, str, str], Sums]
    daily: dict[tuple[int, str, str], Sums]
    totals: dict[str, Sums]
    per_hour: dict[tuple[int, str], int]  # plays per (hour, campaign key)
    # billable (plays, milli-impressions, target milli-impressions) per (hour or day,
    # campaign key, audience key)
    audience_hourly: dict[tuple[int, str, str], list[int]]
    audience_daily: dict[tuple[int, str, str], list[int]]
    targets: dict[str, int]  # target milli-impressions per campaign (absent: none)

    def copy(self) -> Tally:
        """A copy whose sums can be added to without changing these."""
        return Tally({k: v.copy() for k, v in self.hourly.items()},
                     {k: v.copy() for k, v in self.daily.items()},
                     {k: v.copy() for k, v in self.totals.items()}, dict(self.per_hour),
                     {k: list(v) for k, v in self.audience_hourly.items()},
                     {k: list(v) for k, v in self.audience_daily.items()}, dict(self.targets))


class Checked(Protocol):
    """A batch as ingestion checked it (`ingest.Batch`): what its write reads, and `carry`."""

    batch: PopBatch
    digest: str
    message_zlib: bytes
    device_id: str
    public_key: str
    screen_id: str
    venue_id: str
    venue_org_id: str
    campaigns: dict[str, Terms]
    rules: PlayRules
    plays: list[Play]
    tally: Tally
    carry: dict[str, int]  # each campaign's fraction of a cent, once billed
    spent_out: list[str]  # campaigns whose budget this batch spent, once billed


def tally(plays: Sequence[Play], campaigns: Mapping[str, object]) -> Tally:
    """Add plays up per hour, day and campaign (the spend is added when they are billed)."""
    hourly: dict[tuple[int, str, str], Sums] = {}
    daily: dict[tuple[int, str, str], Sums] = {}
    totals: dict[str, Sums] = {}
    per_hour: dict[tuple[int, str], int] = {}
    audience_hourly: dict[tuple[int, str, str], list[int]] = {}
    audience_daily: dict[tuple[int, str, str], list[int]] = {}
    targets: dict[str, int] = {}
    for p in plays:
        key, billable, ms, impressions = p.key, p.billable, p.duration_ms, p.impressions_milli
        h = hourly.get((p.hour, key, p.creative_id))
        if h is None:
            h = hourly[(p.hour, key, p.creative_id)] = Sums()
        d = daily.get((p.day, key, p.creative_id))
        if d is None:
            d = daily[(p.day, key, p.creative_id)] = Sums()
        h.plays += 1
        d.plays += 1
        if billable:
            h.billable_plays += 1
            d.billable_plays += 1
            h.impressions_milli += impressions
            d.impressions_milli += impressions
            target = p.target_milli
            for found, at in ((audience_hourly, p.hour), (audience_daily, p.day)):
                sums = found.get((at, key, p.audience_key))
                if sums is None:
                    found[(at, key, p.audience_key)] = [1, impressions, target]
                else:
                    sums[0] += 1
                    sums[1] += impressions
                    sums[2] += target
            if target:
                targets[key] = targets.get(key, 0) + target
        h.played_ms += ms
        d.played_ms += ms
        if key in campaigns:
            t = totals.get(key)
            if t is None:
                t = totals[key] = Sums()
            t.plays += 1
            t.billable_plays += billable
            t.played_ms += ms
            t.impressions_milli += impressions
        per_hour[(p.hour, key)] = per_hour.get((p.hour, key), 0) + 1
    return Tally(hourly, daily, totals, per_hour, audience_hourly, audience_daily, targets)


_STATEMENTS: dict[tuple[str, str, str], _Sql] = {}


def sql_for(dialect: Dialect) -> _Sql:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = _Sql(dialect)
    return found


class _Sql:
    """The statements of the write phase, in the driver's own dialect and parameter style."""

    def __init__(self, dialect: Dialect) -> None:
        self.postgres = dialect.name == "postgresql"
        mark = self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        when = PopScreen.__table__.c.last_batch_at.type
        self.when: Callable[[Any], Any] = \
            when.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)

        def values(columns: Sequence[str]) -> str:
            return f"({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"

        def adding(table: str, columns: Sequence[str]) -> str:
            return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)

        self.screen = (f"INSERT INTO pop_screens {values(SCREEN_COLUMNS)} ON CONFLICT "
                       f"(screen_id) DO UPDATE SET {adding('pop_screens', SCREEN_COLUMNS[1:3])}"
                       ", last_batch_at = excluded.last_batch_at")
        self.batch = (f"INSERT INTO pop_batches {values(BATCH_COLUMNS)} "
                      "ON CONFLICT (id) DO NOTHING")
        columns = ", ".join(PLAY_COLUMNS)
        if self.postgres:
            # COPY: the rows go as text in one stream, formatted by psycopg's C code, and
            # the server parses no SQL for them (a batch: 27 → 12 ms, 7.5 → 2.7 ms of
            # Python, against one JSON parameter; executemany is slower still). COPY has no
            # ON CONFLICT: a play stored already fails the unique play id, as a race does.
            self.plays = f"COPY pop_records ({columns}) FROM STDIN"
        else:
            self.plays = (f"INSERT INTO pop_records {values(PLAY_COLUMNS)} "
                          "ON CONFLICT DO NOTHING")
        self.rollup = {
            table: (f"INSERT INTO {table} {values((period, *columns))} ON CONFLICT "
                    f"({period}, {', '.join(key)}) DO UPDATE SET {adding(table, TOTALS)}")
            for table, period, key, columns in (
                ("pop_hourly", "hour", ROLLUP_KEY, ROLLUP_COLUMNS),
                ("pop_daily", "day", ROLLUP_KEY, ROLLUP_COLUMNS),
                ("pop_venue_hourly", "hour", VENUE_KEY, VENUE_COLUMNS),
                ("pop_venue_daily", "day", VENUE_KEY, VENUE_COLUMNS),
                ("pop_campaign_hourly", "hour", CAMPAIGN_KEY, CAMPAIGN_COLUMNS),
                ("pop_campaign_daily", "day", CAMPAIGN_KEY, CAMPAIGN_COLUMNS))}
        self.audience = {
            table: (f"INSERT INTO {table} {values((period, *AUDIENCE_COLUMNS))} ON CONFLICT "
                    f"({period}, {', '.join(AUDIENCE_KEY)}) DO UPDATE SET "
                    f"{adding(table, ('billable_plays', 'impressions_milli', TARGET))}")
            for table, period in (("pop_audience_hourly", "hour"), ("pop_audience_daily", "day"))}
        summed = adding("campaign_delivery", (*TOTALS, TARGET))
        self.totals = (f"INSERT INTO campaign_delivery {values(TOTALS_COLUMNS)} ON CONFLICT "
                       f"(campaign_id) DO UPDATE SET {summed}, "
                       "carry_micros = excluded.carry_micros, updated_at = excluded.updated_at")

    def insert_plays(self, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Insert play rows (PLAY_COLUMNS); `IngestRaced` when some were stored already."""
        if self.postgres:
            try:
                with cursor.copy(self.plays) as copy:
                    for row in rows:
                        copy.write_row(row)
            except UniqueViolation as exc:
                raise IngestRaced("some plays were stored already") from exc
            return
        cursor.executemany(self.plays, rows)
        if cursor.rowcount != len(rows):
            raise IngestRaced("some plays were stored already")

    def _in(self, n: int) -> str:
        return f"IN ({', '.join([self.mark] * n)})"

    # only placeholders are interpolated into these
    def stored(self, n: int) -> str:
        return f"SELECT play_id FROM pop_records WHERE play_id {self._in(n)}"  # noqa: S608

    def counted(self, n: int) -> str:
        return ("SELECT hour, campaign_key, SUM(plays) FROM pop_hourly "  # noqa: S608
                f"WHERE screen_id = {self.mark} AND hour {self._in(n)} "
                "GROUP BY hour, campaign_key")

    def accounts(self, n: int) -> str:
        return ("SELECT campaign_id, spend_cents, carry_micros "  # noqa: S608
                f"FROM campaign_delivery WHERE campaign_id {self._in(n)}")


def _rows(cursor: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return [tuple(row) for row in cursor.fetchall()]


def write_batch(sql: _Sql, cursor: Any, batch: Checked, transport: str, *,
                lookup: bool) -> tuple[int, int, list[PopRejection]]:
    """Write one batch in the open transaction, holding the write lock: (accepted,
    duplicates, rejected by the hourly limit). `lookup`: look up which plays are stored first;
    without it, `IngestRaced` when some were."""
    rules, campaigns = batch.rules, batch.campaigns
    # on SQLite, this first write takes the database's write lock
    cursor.execute(sql.screen, (batch.screen_id, 1, len(batch.batch.records),
                                sql.when(utcnow())))
    plays, counts = batch.plays, batch.tally.copy()  # billing adds the spend to it
    stored: set[str] = set()
    if lookup:
        ids = [p.play_id for p in plays]
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            stored.update(r[0] for r in _rows(cursor, sql.stored(len(chunk)), chunk))
        plays = [p for p in plays if p.play_id not in stored]
        counts = tally(plays, campaigns)
    hours = sorted({hour for hour, _ in counts.per_hour})
    counted = {(hour, key): int(n) for hour, key, n in _rows(
        cursor, sql.counted(len(hours)), [batch.screen_id, *hours])} if hours else {}
    rejected: list[PopRejection] = []
    if any(counted.get(hk, 0) + n > rules.max_plays_per_hour(hk[1] or None)
           for hk, n in counts.per_hour.items()):
        plays, rejected = _within_hourly_limits(plays, counted, rules)
        counts = tally(plays, campaigns)
    _bill(sql, cursor, batch, plays, counts)
    if plays:
        _store(sql, cursor, batch, plays, counts, transport)
    return len(plays), len(batch.plays) - len(plays) - len(rejected), rejected


def _within_hourly_limits(plays: Sequence[Play], counted: dict[tuple[int, str], int],
                          rules: PlayRules) -> tuple[list[Play], list[PopRejection]]:
    """The plays an hour of the loop could hold, in batch order; the rest rejected."""
    kept, rejected = [], []
    for p in plays:
        seen = counted.get((p.hour, p.key), 0) + 1
        if seen > rules.max_plays_per_hour(p.key or None):
            rejected.append(PopRejection(play_id=p.play_id, code="too_many_plays"))
        else:
            counted[(p.hour, p.key)] = seen
            kept.append(p)
    return kept, rejected


def _bill(sql: _Sql, cursor: Any, batch: Checked, plays: Sequence[Play], counts: Tally) -> None:
    """Charge each billable play, in batch order, to its campaign's account."""
    ids = sorted(counts.totals)
    if not ids:
        return
    found = {cid: (spend, carry) for cid, spend, carry in _rows(
        cursor, sql.accounts(len(ids)), ids)}
    accounts = {cid: _Account(batch.campaigns[cid].budget_cents, batch.campaigns[cid].cpm_cents,
                              *found.get(cid, (0, 0))) for cid in ids}
    open_before = {cid for cid, a in accounts.items() if a.spend_cents < a.budget_cents}
    for p in plays:
        if p.billable:
            spend = accounts[p.key].charge(p.impressions_milli)
            p.row = p.row.billed(spend)
            counts.hourly[(p.hour, p.key, p.creative_id)].spend_cents += spend
            counts.daily[(p.day, p.key, p.creative_id)].spend_cents += spend
            counts.totals[p.key].spend_cents += spend
    batch.carry = {cid: account.carry_micros for cid, account in accounts.items()}
    batch.spent_out = sorted(cid for cid in open_before
                             if accounts[cid].spend_cents >= accounts[cid].budget_cents)


def _store(sql: _Sql, cursor: Any, batch: Checked, plays: Sequence[Play], counts: Tally,
           transport: str) -> None:
    screen_id, venue_id, venue_org_id = batch.screen_id, batch.venue_id, batch.venue_org_id
    cursor.execute(sql.batch, (batch.digest, batch.batch.batch_id, batch.device_id, screen_id,
                               venue_org_id, batch.public_key, batch.batch.signature,
                               batch.message_zlib, len(batch.batch.records),
                               transport, sql.when(utcnow())))
    sql.insert_plays(cursor, [p.row for p in plays])  # stored already: looked up, again
    # one screen's batch: its per-screen groups are also its venue's and the fleet's share
    for period, groups in (("hourly", counts.hourly), ("daily", counts.daily)):
        screen_rows, venue_rows, fleet_rows = [], [], []
        for (at, key, creative_id), group in groups.items():
            sums = group.values()
            campaign = batch.campaigns.get(key)
            advertiser = campaign.org_id if campaign else None
            currency = campaign.currency if campaign else None
            screen_rows.append((at, screen_id, key, creative_id, venue_id, venue_org_id,
                                advertiser, currency, *sums))
            venue_rows.append((at, venue_id, key, creative_id, venue_org_id, advertiser,
                               currency, *sums))
            fleet_rows.append((at, key, creative_id, advertiser, currency, *sums))
        cursor.executemany(sql.rollup[f"pop_{period}"], screen_rows)
        cursor.executemany(sql.rollup[f"pop_venue_{period}"], venue_rows)
        cursor.executemany(sql.rollup[f"pop_campaign_{period}"], fleet_rows)
    for period, found in (("hourly", counts.audience_hourly), ("daily", counts.audience_daily)):
        if not found:
            continue
        rows = []
        for (at, key, audience_key), added in found.items():
            campaign = batch.campaigns.get(key)
            rows.append((at, screen_id, key, audience_key, venue_id, venue_org_id,
                         campaign.org_id if campaign else None,
                         campaign.currency if campaign else None, *added))
        cursor.executemany(sql.audience[f"pop_audience_{period}"], rows)
    if counts.totals:
        now = sql.when(utcnow())
        cursor.executemany(sql.totals, [(cid, *sums.values(), counts.targets.get(cid, 0),
                                         batch.carry.get(cid, 0), now)
                                        for cid, sums in counts.totals.items()])
