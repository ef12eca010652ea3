"""What `make run` shows a new user: the demo accounts set up a venue, a screen, an approved
campaign and a real player agent paired to the screen, through the public API — and it plays."""

from __future__ import annotations

import json

import httpx
import pytest

from control_plane import demo_run
from control_plane.app import create_app
from control_plane.demo import seed_demo
from tests.helpers import with_settings
from tests.live import free_port, serve_app
from tests.player_agent.conftest import until


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_demo_plays_its_campaign_on_a_paired_agent_and_is_idempotent(settings, tmp_path):
    port = free_port()
    app = create_app(with_settings(settings, run_worker=True, run_broker=True,
                                   mqtt_port=free_port(), public_url=f"http://127.0.0.1:{port}"))
    with app.state.sessionmaker() as session:
        seed_demo(session=session)
    said: list[str] = []
    with serve_app(app, port) as url:
        agent = demo_run.run(url, settings.data_dir, demo_run.Processes(), say=said.append)
        try:
            status = settings.data_dir / "agent" / "status.json"
            playing = until(lambda: status.exists() and (json.loads(status.read_text())
                            .get("now_playing") or {}).get("kind") == "campaign", 90,
                            "the demo campaign on the demo screen")
            assert playing and "paired with code" in said[0]
        finally:
            agent.terminate()
            assert agent.wait(timeout=30) == 0
        again = demo_run.run(url, settings.data_dir, demo_run.Processes(), say=said.append)
        try:
            assert "already paired" in said[1]  # a second make run finds everything in place
            busy = demo_run.start_agent(url, settings.data_dir / "agent", tmp_path / "2nd.log")
            try:
                assert busy.wait(timeout=60) == 1  # one agent per state dir
            finally:
                busy.kill()
            assert "another agent is running" in (tmp_path / "2nd.log").read_text()
        finally:
            again.terminate()
            assert again.wait(timeout=30) == 0
        token = httpx.post(f"{url}/v1/auth/token", json={
            "email": "venue@demo.example.com", "password": "adsbin-demo"}).json()["access_token"]
        venues = httpx.get(f"{url}/v1/venues", headers={"Authorization": f"Bearer {token}"})
        assert [v["name"] for v in venues.json()["items"]] == ["Demo Bar"]
        # labelled as what they are (issue 14 #13): a bar, and an ad for coffee
        assert venues.json()["items"][0]["venue_type_id"] == 804  # OpenOOH entertainment.bars
        token = httpx.post(f"{url}/v1/auth/token", json={
            "email": "advertiser@demo.example.com", "password": "adsbin-demo"}).json()[
                "access_token"]
        campaigns = httpx.get(f"{url}/v1/campaigns",
                              headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert [c["category"] for c in campaigns] == ["1133"]  # IAB Coffee and Tea
