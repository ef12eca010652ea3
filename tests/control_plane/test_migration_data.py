"""Migrations keep data: a venue made before moderation and house content existed gets the
defaults (auto, none), on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from control_plane import migrate
from control_plane.db import make_engine


def test_existing_venues_get_defaults(empty_db_url):
    migrate.upgrade(empty_db_url, "20261126_schedule")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO orgs (id, name, kind, created_at, updated_at) "
                              "VALUES ('org_1', 'o', 'venue', :t, :t)"), {"t": "2026-01-01"})
            conn.execute(text(
                "INSERT INTO venues (id, org_id, name, address, lat, lon, timezone, "
                "venue_type_id, opening_hours, blocked_categories, created_at, updated_at) "
                "VALUES ('ven_1', 'org_1', 'v', '', 0, 0, 'UTC', 1, '{}', '[]', :t, :t)"),
                {"t": "2026-01-01"})
        migrate.upgrade(empty_db_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT moderation, house_media_ids FROM venues")).one()
        assert row[0] == "auto" and row[1] in ([], "[]")
    finally:
        engine.dispose()
