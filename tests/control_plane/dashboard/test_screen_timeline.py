"""The screen's timeline page: campaigns by their names (what plays and what may not), and the
period chosen by the user (the next 6, 24 or 48 hours, or from/to), with what is wrong with a
period said next to its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.control_plane.dashboard.test_venue_owner import _venue_org
from tests.control_plane.moderation.test_moderation import approved_campaign, ready_media
from tests.helpers import signup

pytestmark = pytest.mark.usefixtures("clean_db")


def _rows(html: str) -> int:
    return html.count("<tr>") - 1  # the head's row aside


def test_the_timeline_names_campaigns_and_shows_the_period_chosen(client: TestClient,
                                                                   app: Any) -> None:
    _, browser, _, screen = _venue_org(client, app, blocked_categories=["1003"])
    advertiser = signup(client, "advertiser")
    playing, _ = approved_campaign(app, advertiser.org_id,
                                   ready_media(app, advertiser.org_id, "a"), name="Summer shoes")
    blocked, _ = approved_campaign(app, advertiser.org_id,
                                   ready_media(app, advertiser.org_id, "b"), name="Beer fest",
                                   category="1003")
    path = f"/screens/{screen['id']}/timeline"

    day = browser.get(path)
    assert day.status_code == 200 and "The next 24 hours (times UTC)" in day.text
    assert "Summer shoes: 10 s ×" in day.text and playing not in day.text
    assert "<dt>Beer fest</dt>" in day.text and blocked not in day.text
    assert '<option value="24" selected>' in day.text
    assert 'for="f-from"' in day.text and 'for="f-to"' in day.text  # labelled fields

    six = browser.get(path, params={"hours": "6"})
    assert six.status_code == 200 and "The next 6 hours" in six.text
    assert '<option value="6" selected>' in six.text
    two = browser.get(path, params={"hours": "48"})
    assert "The next 48 hours" in two.text
    assert _rows(six.text) <= _rows(day.text) <= _rows(two.text)
    assert _rows(six.text) < _rows(two.text)
    assert "planned 48 hours ahead" not in two.text

    start = (datetime.now(UTC) + timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    frm, to = f"{start:%Y-%m-%dT%H:%M}", f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}"
    chosen = browser.get(path, params={"from": frm, "to": to})
    assert chosen.status_code == 200
    assert f"{start:%Y-%m-%d %H:%M} UTC to {start + timedelta(hours=2):%Y-%m-%d %H:%M} UTC" \
        in chosen.text
    assert f'value="{frm}"' in chosen.text and "Summer shoes" in chosen.text
    first = chosen.text.split("<tbody>", 1)[1].split("</td>", 1)[0]
    assert f"{start:%Y-%m-%d}" in first  # windows of the period, not of now
    beyond = f"{start + timedelta(days=3):%Y-%m-%dT%H:%M}"
    later = browser.get(path, params={"from": frm, "to": beyond})
    assert later.status_code == 200 and "planned 48 hours ahead" in later.text


@pytest.mark.parametrize(("query", "field", "says"), [
    ({"from": "tomorrow", "to": "2030-01-01T10:00"}, "from", "is no time"),
    ({"from": "2030-01-01T10:00"}, "to", "Give the to time too"),
    ({"from": "2030-01-01T10:00", "to": "2030-01-01T09:00"}, "to", "after the start"),
    ({"from": "2030-01-01T10:00", "to": "2030-01-09T10:00"}, "to", "7 days at most"),
])
def test_a_bad_period_is_said_next_to_its_field(client: TestClient, app: Any,
                                                query: dict[str, str], field: str,
                                                says: str) -> None:
    _, browser, _, screen = _venue_org(client, app)
    answer = browser.get(f"/screens/{screen['id']}/timeline", params=query)
    assert answer.status_code == 422
    error = answer.text.split(f'id="e-{field}"', 1)[1].split("</p>", 1)[0]
    assert says in error
    assert "The next 24 hours" in answer.text  # and the default period is shown meanwhile
    fragment = browser.get(f"/screens/{screen['id']}/timeline", params=query,
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and f'id="e-{field}"' in fragment.text
