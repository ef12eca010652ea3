"""`adsbin provision enroll`: the agent's config and its systemd unit, written into tmp paths.

systemctl is never run here (`--no-systemctl`); systemd-analyze (the bootstrap installs systemd)
reads the unit as systemd would and must find nothing to complain about.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from provisioning.enroll import render_unit
from shared.agent import AgentConfig


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


def test_enroll_writes_a_private_config_and_the_unit(cli, tmp_path):
    r = enroll(cli, tmp_path, "--no-systemctl")
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
    assert "User=" not in text and "PrivateTmp" not in text and "PrivateDevices" not in text
    assert state.is_dir()
    assert "sudo systemctl daemon-reload" in r.stdout
    assert "sudo systemctl enable --now adsbin-agent.service" in r.stdout

    again = enroll(cli, tmp_path, "--no-systemctl", "--renderer", "null")
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
    assert enroll(cli, tmp_path, "--no-systemctl", "--display", ":0").exit_code == 0
    _, unit, _ = paths(tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if unit.name in line]
    assert done.returncode == 0 and not complaints, complaints
