"""The technicians' CLI against a live control plane: login, venues, screens, claim, diagnose.

Every command runs as a technician would run it (CliRunner, a wide terminal, the login in a
temporary file) against the real app on loopback, so what is asserted is what they would read.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from control_plane.devices.models import Pairing
from shared.agent import AgentConfig, write_private_json
from shared.device import MqttCredentials
from tests.helpers import PASSWORD, bearer
from tests.live import free_port
from tests.provisioning.conftest import write_credentials

CHECKS = ["control_plane", "broker", "clock", "disk", "display", "vlc", "download"]


def sign_in(cli, server, owner):
    r = cli("login", "--server", server.url, "--email", owner.email, "--password", PASSWORD)
    assert r.exit_code == 0, r.output


def line_with(text, needle):
    return next(line for line in text.splitlines() if needle in line)


def test_login_keeps_a_private_token_and_says_who_and_where(server, cli):
    owner, _, _ = server.venue_screens()
    r = cli("login", "--server", server.url + "/", "--email", owner.email,
            "--password", PASSWORD)
    assert r.exit_code == 0, r.output
    assert f"Signed in to {server.url} as Test User <{owner.email}>" in r.stdout
    assert "acting in venue org (venue) as admin" in r.stdout
    assert stat.S_IMODE(cli.login_file.stat().st_mode) == 0o600
    saved = json.loads(cli.login_file.read_text())
    assert saved["server_url"] == server.url and saved["email"] == owner.email
    assert server.http.get("/v1/me", headers=bearer(saved["access_token"])).status_code == 200


def test_login_asks_for_the_password_when_not_given(server, cli):
    owner, _, _ = server.venue_screens()
    r = cli("login", "--server", server.url, "--email", owner.email, input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert "Password:" in r.output and PASSWORD not in r.output


def test_wrong_password_keeps_nothing(server, cli):
    owner, _, _ = server.venue_screens()
    r = cli("login", "--server", server.url, "--email", owner.email,
            "--password", "not the password")
    assert r.exit_code == 1
    assert "error: the email or the password is wrong" in r.stderr
    assert not cli.login_file.exists()


def test_unreachable_server_and_missing_login_say_what_to_do(cli):
    url = f"http://127.0.0.1:{free_port()}"
    r = cli("login", "--server", url, "--email", "t@example.com", "--password", "x")
    assert r.exit_code == 1
    assert f"cannot reach {url}" in r.stderr and "check the URL and the network" in r.stderr
    r = cli("login", "--server", "ads.example.com", "--email", "t@example.com", "--password", "x")
    assert r.exit_code == 2 and "https://ads.example.com" in r.output
    r = cli("venues")
    assert r.exit_code == 1
    assert "you are not signed in" in r.stderr and "adsbin provision login" in r.stderr


def test_a_refused_token_asks_to_sign_in_again(server, cli):
    cli.login_file.parent.mkdir()
    cli.login_file.write_text(json.dumps({"server_url": server.url, "email": "t@example.com",
                                          "access_token": "not-a-jwt"}))
    r = cli("screens")
    assert r.exit_code == 1
    assert "no longer accepts your sign-in" in r.stderr and "adsbin provision login" in r.stderr
    cli.login_file.write_text(json.dumps({
        "server_url": server.url, "email": "t@example.com", "access_token": "x",
        "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}))
    r = cli("venues")
    assert r.exit_code == 1 and "has expired" in r.stderr


def test_venues_and_screens_as_tables_and_json(server, cli):
    owner, venue, (lobby, bar, door) = server.venue_screens("Lobby", "Bar", "Door")
    device = server.pair(owner, lobby["id"])
    r = server.http.post("/v1/device/heartbeat", headers=bearer(device.device_token),
                         json={"sent_at": datetime.now(UTC).isoformat(),
                               "agent_version": "0.1.0"})
    assert r.status_code == 200
    server.pair(owner, bar["id"])
    _, elsewhere, _ = server.venue_screens("Theirs")  # another org's
    sign_in(cli, server, owner)

    r = cli("venues")
    assert r.exit_code == 0, r.output
    assert venue["id"] in line_with(r.stdout, "Gym on Main St")
    r = cli("venues", "--json")
    assert [v["id"] for v in json.loads(r.stdout)] == [venue["id"]]

    r = cli("screens")
    assert r.exit_code == 0, r.output
    row = line_with(r.stdout, "Lobby")
    assert all(s in row for s in (lobby["id"], "Gym on Main St", "online", "1920×1080",
                                  "s ago", "0.1.0"))
    assert "offline" in line_with(r.stdout, "Bar")
    assert "unpaired" in line_with(r.stdout, "Door") and "never" in line_with(r.stdout, "Door")
    assert "Theirs" not in r.stdout

    r = cli("screens", "--venue", venue["id"], "--json")
    listed = json.loads(r.stdout)
    assert {s["name"]: s["status"] for s in listed} == {
        "Lobby": "online", "Bar": "offline", "Door": "unpaired"}
    assert {s["id"] for s in listed} == {lobby["id"], bar["id"], door["id"]}
    assert all(s["venue_id"] == venue["id"] and s["width_px"] == 1920 for s in listed)

    r = cli("screens", "--venue", elsewhere["id"])
    assert r.exit_code == 1 and "not found" in r.stderr


def test_claim_pairs_a_display_and_explains_every_refusal(server, cli):
    owner, _, (lobby, bar) = server.venue_screens("Lobby", "Bar")
    sign_in(cli, server, owner)

    r = cli("claim", "--code", "ABC-DEF", "--screen", lobby["id"])
    assert r.exit_code == 1
    assert "no display is showing code ABC-DEF (pairing_code_unknown)" in r.stderr
    assert "type it again" in r.stderr

    ticket = server.ask_code()
    r = cli("claim", "--code", f" {ticket['code'].lower()} ", "--screen", lobby["id"])
    assert r.exit_code == 0, r.output
    assert f"Paired screen Lobby ({lobby['id']}) with device" in r.stdout
    assert "display 1920×1080, agent 0.1.0" in r.stdout
    assert "warning" not in r.stderr  # the sizes agree
    polled = server.http.get(f"/v1/device/pairings/{ticket['pairing_id']}").json()
    assert polled["status"] == "claimed" and polled["screen_id"] == lobby["id"]

    r = cli("claim", "--code", ticket["code"], "--screen", bar["id"])
    assert r.exit_code == 1
    assert f"code {ticket['code']} was claimed already (pairing_code_used)" in r.stderr
    assert "restart its agent" in r.stderr

    fresh = server.ask_code()
    r = cli("claim", "--code", fresh["code"], "--screen", lobby["id"])
    assert r.exit_code == 1
    assert "paired with another display already (screen_already_paired)" in r.stderr
    assert f"adsbin provision unpair --screen {lobby['id']}" in r.stderr

    stale = server.ask_code()
    with server.app.state.sessionmaker() as session:
        session.execute(update(Pairing).where(Pairing.id == stale["pairing_id"])
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    r = cli("claim", "--code", stale["code"], "--screen", bar["id"])
    assert r.exit_code == 1
    assert "has expired (pairing_code_expired)" in r.stderr and "new code" in r.stderr

    r = cli("claim", "--code", fresh["code"], "--screen", bar["id"], "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["screen_id"] == bar["id"]

    r = cli("claim", "--code", server.ask_code()["code"], "--screen", "scr_nope")
    assert r.exit_code == 1 and "there is no screen scr_nope in your org" in r.stderr


def test_claim_help_names_the_options_it_takes():
    from typer.testing import CliRunner

    from provisioning.cli import app

    r = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, ["claim", "--help"])
    assert r.exit_code == 0
    assert "Pair the display showing the --code with the --screen" in r.stdout
    assert "CODE" not in r.stdout.replace("--code", "")  # no argument of that name


def test_claiming_a_screen_registered_at_another_size_warns(server, cli):
    owner, venue, _ = server.venue_screens()
    small = server.http.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json={"name": "Till", "width_px": 1280, "height_px": 720}).json()
    sign_in(cli, server, owner)
    r = cli("claim", "--code", server.ask_code()["code"], "--screen", small["id"])  # 1920×1080
    assert r.exit_code == 0, r.output  # paired all the same: the size is the owner's to fix
    assert ("warning: screen Till is registered as 1280×720 but its display reports "
            "1920×1080: ads are prepared for 1280×720 and will be scaled to fit") in r.stderr
    assert f"next: correct the screen's size to 1920×1080 (PATCH /v1/screens/{small['id']}" \
        in r.stderr
    other = server.http.post(f"/v1/venues/{venue['id']}/screens", headers=owner.headers,
                             json={"name": "Door", "width_px": 1080, "height_px": 1920}).json()
    r = cli("claim", "--code", server.ask_code()["code"], "--screen", other["id"], "--json")
    assert r.exit_code == 0 and "registered as 1080×1920" in r.stderr
    assert [w["code"] for w in json.loads(r.stdout)["warnings"]] == ["display_size_mismatch"]


def test_unpair_frees_the_screen_for_another_display(server, cli):
    owner, _, (lobby,) = server.venue_screens("Lobby")
    sign_in(cli, server, owner)
    r = cli("unpair", "--screen", lobby["id"], "--yes")
    assert r.exit_code == 1 and "has no paired display" in r.stderr
    assert cli("claim", "--code", server.ask_code()["code"], "--screen", lobby["id"]).exit_code == 0
    r = cli("unpair", "--screen", lobby["id"], "--yes")
    assert r.exit_code == 0 and "Unpaired screen" in r.stdout
    assert cli("claim", "--code", server.ask_code()["code"], "--screen", lobby["id"]).exit_code == 0


def test_claim_says_when_to_retry_after_too_many_guesses(server, cli):
    owner, _, (lobby,) = server.venue_screens("Lobby")
    sign_in(cli, server, owner)
    for i in range(10):
        assert "pairing_code_unknown" in cli("claim", "--code", f"AAA-{i:03d}",
                                             "--screen", lobby["id"]).stderr
    r = cli("claim", "--code", "AAA-999", "--screen", lobby["id"])
    assert r.exit_code == 1
    assert "too many pairing attempts (rate_limited)" in r.stderr and "wait" in r.stderr


def diagnose(cli, *args):
    r = cli("diagnose", "--json", *args)
    results = json.loads(r.stdout)
    assert all(set(item) == {"check", "status", "detail", "value"} for item in results)
    return r, {item["check"]: item for item in results}


def test_diagnose_a_paired_unit_then_break_it(broker_server, cli, tmp_path):
    owner, _, (screen,) = broker_server.venue_screens("Lobby")
    creds = broker_server.pair(owner, screen["id"])
    state, config = tmp_path / "state", tmp_path / "agent.json"
    write_credentials(state, creds)
    write_private_json(config, AgentConfig(server_url=broker_server.url, state_dir=state))

    r, checks = diagnose(cli, "--config", str(config))  # the state dir comes from the config
    assert list(checks) == CHECKS
    assert {name: checks[name]["status"] for name in ("control_plane", "broker", "clock", "vlc")
            } == dict.fromkeys(("control_plane", "broker", "clock", "vlc"), "pass"), checks
    assert checks["disk"]["status"] in ("pass", "warn") and checks["disk"]["value"] > 0
    assert checks["download"]["status"] in ("pass", "warn") and checks["download"]["value"] > 0
    assert checks["display"]["status"] in ("pass", "warn")  # headless in CI
    assert r.exit_code == 0, r.output

    r = cli("diagnose", "--config", str(config), "--skip", "vlc", "--skip", "download,display")
    assert r.exit_code == 0, r.output
    assert f"device {creds.device_id} on screen {screen['id']}" in r.stdout
    assert "pass" in line_with(r.stdout, "broker") and "│ vlc" not in r.stdout

    write_credentials(state, creds.model_copy(update={"mqtt": MqttCredentials(
        url=creds.mqtt.url, username=creds.mqtt.username, password="wrong")}))
    r, checks = diagnose(cli, "--config", str(config), "--skip", "vlc,download")
    assert r.exit_code == 1
    assert checks["broker"]["status"] == "fail" and "refused" in checks["broker"]["detail"]
    assert checks["control_plane"]["status"] == "pass"

    gone = f"http://127.0.0.1:{free_port()}"
    r, checks = diagnose(cli, "--state-dir", str(state), "--server", gone, "--skip", "vlc")
    assert r.exit_code == 1
    assert checks["control_plane"]["status"] == "fail"
    assert f"cannot reach {gone}" in checks["control_plane"]["detail"]
    assert "check the URL and the network" in checks["control_plane"]["detail"]


def test_diagnose_an_unpaired_unit_only_warns(server, cli, tmp_path):
    r, checks = diagnose(cli, "--state-dir", str(tmp_path), "--config", str(tmp_path / "none"),
                         "--server", server.url, "--skip", "vlc")
    assert checks["control_plane"]["status"] == "pass"
    assert checks["broker"]["status"] == checks["download"]["status"] == "warn"
    assert "not paired yet" in checks["broker"]["detail"]
    assert checks["clock"]["status"] == "pass" and "Date header" in checks["clock"]["detail"]
    assert r.exit_code == (1 if checks["disk"]["status"] == "fail" else 0)

    r = cli("diagnose", "--skip", "cpu")
    assert r.exit_code == 2 and "unknown check cpu" in r.output and "control_plane" in r.output


def test_the_cli_runs_as_a_module_and_under_adsbin():
    for argv in ([sys.executable, "-m", "provisioning", "--help"],
                 [str(Path(sys.executable).parent / "adsbin"), "provision", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        assert all(c in done.stdout for c in ("login", "venues", "screens", "claim", "enroll",
                                              "diagnose"))
