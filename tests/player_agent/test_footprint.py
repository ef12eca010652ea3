"""What a paired, playing display unit holds in memory: `python -m player_agent`, as the systemd
unit runs it, imports no command-line framework, no Pillow (until it draws a card), no HTTP stack
but the standard library's, nothing of the control plane, and none of the optional extras its
libraries would pull in.
A module that creeps back into the daemon's import graph fails here; bench/bench_agent.py
measures what keeping them out saves."""

from __future__ import annotations

import json
import subprocess
import sys

from tests import media_samples
from tests.player_agent.local import offline_unit

# typer/click/rich/pygments: CLI frameworks; PIL: only to draw a card; dns: paho's DNS SRV
# lookups; httpx to aiohttp: HTTP stacks besides http.client; vlc: not with the null renderer;
# cryptography: the agent signs with PyNaCl; the rest: the control plane's
KEPT_OUT = {"typer", "click", "rich", "pygments", "PIL", "dns", "httpx", "httpcore", "h11",
            "anyio", "httpx2", "httpcore2", "requests", "urllib3", "aiohttp", "vlc",
            "cryptography", "control_plane", "sqlalchemy", "fastapi", "starlette", "uvicorn",
            "jinja2", "email_validator", "boto3", "botocore", "huey", "redis"}

# The daemon's own entry point, stopped (SIGTERM, as systemd stops it) once the status file says
# it has played for two seconds; then what it imported, one top-level package per name.
DAEMON = """
import json, os, signal, sys, threading, time
from pathlib import Path

status = Path(sys.argv[1]) / "status.json"

def stop_once_playing():
    deadline = time.monotonic() + 60  # a loaded machine starts it slowly
    while time.monotonic() < deadline:
        try:
            report = json.loads(status.read_text())
        except (OSError, ValueError):
            report = {}
        if (report.get("playback") or {}).get("plays", 0) >= 2:
            break
        time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_once_playing, daemon=True).start()
sys.argv = ["player_agent", "--server", "http://127.0.0.1:9", "--state-dir", sys.argv[1],
            "--renderer", "null"]
from player_agent import daemon

try:
    daemon.main()
except SystemExit:
    pass
print(json.dumps({"modules": sorted({m.split(".")[0] for m, v in sys.modules.items() if v}),
                  "status": json.loads(status.read_text())}))
"""


def test_a_playing_unit_loads_no_cli_framework_no_pillow_and_one_http_stack(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state = offline_unit(tmp_path / "agent", [(media_samples.png(tmp_path / "a"), 1),
                                              (media_samples.png(tmp_path / "b", (320, 180)), 1)])
    done = subprocess.run([sys.executable, "-c", DAEMON, str(state)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    status, modules = report["status"], set(report["modules"])
    assert status["state"] == "paired" and status["playback"]["plays"] >= 2, status
    assert status["now_playing"]["kind"] == "campaign"  # its schedule, not a card
    # the unit did what a unit does: played and journaled, tried its server and its broker
    assert "unreachable" in status["sync"]["last_error"] and status["sync"]["polls"] >= 1
    assert {"player_agent", "http", "paho", "sqlite3", "nacl"} <= modules
    assert modules & KEPT_OUT == set()
