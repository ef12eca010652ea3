"""`adsbin provision enroll`: the agent's config and its systemd unit, written into tmp paths.

systemctl is never run here (`--no-systemctl`); systemd-analyze (the bootstrap installs systemd)
reads the unit as systemd would and must find nothing to complain about. The tests that write
name the user running them (`--user`), so no `adsbin` user is made on the machine; the one that
shows enroll making the agent's user makes one of a name of its own and removes it.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning import enroll as enrolling
from provisioning.enroll import render_unit
from shared.agent import AgentConfig

ME = pwd.getpwuid(os.geteuid()).pw_name


def paths(tmp_path):
    return (tmp_path / "etc" / "agent.json", tmp_path / "units" / "adsbin-agent.service",
            tmp_path / "state")


def enroll(cli, tmp_path, *extra):
    config, unit, state = paths(tmp_path)
    return cli("enroll", "--server", "https://ads.example.com/", "--state-dir", str(state),
               "--config", str(config), "--unit-path", str(unit), *extra)


def test_dry_run_prints_the_config_and_the_unit_and_writes_nothing(cli, tmp_path):
    r = enroll(cli, tmp_path, "--renderer", "null", "--dry-run")
    assert r.exit_code == 0, r.output
    config, unit, state = paths(tmp_path)
    assert f"ExecStart={sys.executable} -m player_agent --config {config}" in r.stdout
    assert '"server_url": "https://ads.example.com"' in r.stdout
    assert '"renderer": "null"' in r.stdout and f'"state_dir": "{state}"' in r.stdout
    assert "Restart=always" in r.stdout and "systemctl enable --now adsbin-agent" in r.stdout
    assert "nothing was written" in r.stdout
    assert not config.exists() and not unit.exists() and not state.exists()


def test_the_agent_runs_as_a_user_of_its_own_by_default(cli, tmp_path):
    r = enroll(cli, tmp_path, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "User=adsbin" in r.stdout.splitlines()
    _, _, state = paths(tmp_path)
    if not enrolling.user_exists("adsbin"):  # says how it will be made
        assert (f"# first: useradd --system --user-group --home-dir {state} --no-create-home "
                "--shell /usr/sbin/nologin") in r.stdout
    r = enroll(cli, tmp_path, "--dry-run", "--user", "root")  # still possible, when asked
    assert "User=root" in r.stdout.splitlines()


ROOT_AND_USERADD = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd"),
                                      reason="making a user takes root and useradd")


@pytest.fixture
def agent_user(monkeypatch):
    """A dedicated user name of this test's own (not the machine's adsbin), removed after."""
    name = f"adsbin-t{secrets.token_hex(4)}"
    monkeypatch.setattr(enrolling, "AGENT_USER", name)
    yield name
    if enrolling.user_exists(name):
        subprocess.run(["userdel", name], capture_output=True, check=False)


@ROOT_AND_USERADD
def test_the_agents_user_is_a_system_user_in_the_display_groups(agent_user, tmp_path):
    enrolling.make_agent_user(agent_user, home=tmp_path / "state")
    entry = pwd.getpwnam(agent_user)
    assert entry.pw_shell == "/usr/sbin/nologin" and entry.pw_dir == str(tmp_path / "state")
    assert entry.pw_uid < 1000  # a system user
    groups = {g.gr_name for g in grp.getgrall() if agent_user in g.gr_mem}
    assert groups == set(enrolling.device_groups())  # the GPU, framebuffer, sound card


@ROOT_AND_USERADD
def test_enroll_as_root_makes_the_agents_user(cli, tmp_path, agent_user):
    blocked = enrolling.out_of_reach(agent_user)
    r = enroll(cli, tmp_path, "--no-systemctl")
    config, unit, state = paths(tmp_path)
    if blocked is not None:
        # this Python is where a new user could not run it (a venv made from a Python under
        # /root, as on some build machines): enroll says so and makes and writes nothing
        assert r.exit_code == 1 and f"{agent_user} cannot get at {blocked}" in r.stderr
        assert "install ADSBIN where other users can read it" in r.stderr
        assert not enrolling.user_exists(agent_user)
        assert not config.exists() and not unit.exists()
        return
    assert r.exit_code == 0, r.output
    assert f"made the system user {agent_user} to run the agent" in r.stdout
    assert f"the agent runs as {agent_user}" in r.stdout
    assert f"User={agent_user}" in unit.read_text().splitlines()
    uid = pwd.getpwnam(agent_user).pw_uid
    for path in (config, state):  # it can read its 0600 config and write its state
        assert path.stat().st_uid == uid
    again = enroll(cli, tmp_path, "--no-systemctl")
    assert again.exit_code == 0 and "made the system user" not in again.stdout


@pytest.mark.skipif(not enrolling.user_exists("nobody") or not Path("/usr/bin/python3").exists(),
                    reason="needs the nobody user and a system python3")
def test_a_python_the_agents_user_cannot_get_at_is_named(tmp_path):
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    python.chmod(0o755)
    (tmp_path / "venv").chmod(0o700)  # as /root is, where pyenv keeps its pythons
    blocked = enrolling.out_of_reach("nobody", python=str(python),
                                     prefixes=(str(tmp_path / "venv"),))
    assert blocked is not None and blocked in python.parents
    assert not blocked.stat().st_mode & stat.S_IXOTH
    assert enrolling.out_of_reach("nobody", python="/usr/bin/python3", prefixes=("/usr",)) is None


def test_without_root_enroll_says_how_to_make_the_agents_user(cli, tmp_path, monkeypatch,
                                                              agent_user):
    monkeypatch.setattr(enrolling.os, "geteuid", lambda: 1000)  # as a technician's account
    r = enroll(cli, tmp_path, "--no-systemctl")
    assert r.exit_code == 1
    assert f"there is no user '{agent_user}' to run the agent as" in r.stderr
    assert "run enroll with sudo" in r.stderr and "sudo useradd --system" in r.stderr
    config, unit, _ = paths(tmp_path)
    assert not config.exists() and not unit.exists()  # nothing half done


def test_enroll_writes_a_private_config_and_the_unit(cli, tmp_path):
    r = enroll(cli, tmp_path, "--no-systemctl", "--user", ME)
    assert r.exit_code == 0, r.output
    config, unit, state = paths(tmp_path)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert AgentConfig.model_validate_json(config.read_text()) == AgentConfig(
        server_url="https://ads.example.com", state_dir=state, renderer="vlc")
    text = unit.read_text()
    for line in (f"ExecStart={sys.executable} -m player_agent --config {config}",
                 "Restart=always", "RestartSec=5", "After=network-online.target",
                 "Type=notify", "NotifyAccess=main", "WatchdogSec=60",
                 "Wants=network-online.target", f"ReadWritePaths=-{state}",
                 "WantedBy=multi-user.target"):
        assert line in text.splitlines(), line
    assert f"User={ME}" in text.splitlines()
    assert "PrivateTmp" not in text and "PrivateDevices" not in text
    assert state.is_dir()
    assert "sudo systemctl daemon-reload" in r.stdout
    assert "sudo systemctl enable --now adsbin-agent.service" in r.stdout

    again = enroll(cli, tmp_path, "--no-systemctl", "--renderer", "null", "--user", ME)
    assert again.exit_code == 0 and "replacing the previous config" in again.stdout
    assert AgentConfig.model_validate_json(config.read_text()).renderer == "null"


def test_enroll_refuses_what_cannot_work(cli, tmp_path):
    r = enroll(cli, tmp_path, "--no-systemctl", "--user", "no-such-user-here")
    assert r.exit_code == 1 and "there is no user 'no-such-user-here'" in r.stderr
    r = cli("enroll", "--server", "ads.example.com", "--dry-run")
    assert r.exit_code == 2 and "https://ads.example.com" in r.output


def test_the_unit_for_a_kiosk_user_on_a_display():
    unit = render_unit(config_path=Path("/etc/adsbin/agent.json"),
                       state_dir=Path("/var/lib/adsbin-agent"), python="/opt/ad sbin/bin/python",
                       user="kiosk", display=":0").splitlines()
    assert 'ExecStart="/opt/ad sbin/bin/python" -m player_agent --config ' \
           "/etc/adsbin/agent.json" in unit
    assert {"User=kiosk", "Environment=DISPLAY=:0", "StateDirectory=adsbin-agent",
            "StateDirectoryMode=0700", "NoNewPrivileges=yes", "ProtectSystem=full"} <= set(unit)
    # what would take the display, the GPU or the sound card away from VLC
    assert not [line for line in unit if line.split("=")[0] in (
        "PrivateTmp", "ProtectHome", "PrivateDevices", "ProtectClock", "DeviceAllow",
        "MemoryDenyWriteExecute")]


def test_systemd_reads_the_unit_without_complaint(cli, tmp_path):
    assert enroll(cli, tmp_path, "--no-systemctl", "--display", ":0", "--user", ME
                  ).exit_code == 0
    _, unit, _ = paths(tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if unit.name in line]
    assert done.returncode == 0 and not complaints, complaints
