"""`make run` ended by a signal stops what it started: `adsbin serve --demo`, sent SIGTERM (as
`make` passes it on) or SIGINT (Ctrl-C) while its demo's player agent is still pairing, ends
that agent too, instead of leaving it behind re-pairing against a dead server (issue 20)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live import free_port
from tests.player_agent.conftest import until

ADSBIN = str(Path(sys.executable).with_name("adsbin"))


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stopped_while_the_demo_agent_pairs_stops_the_agent(tmp_path: Path,
                                                                  signum: int) -> None:
    env = {**os.environ, "ADSBIN_DATA_DIR": str(tmp_path), "ADSBIN_PASSWORD_HASHING": "fast",
           "ADSBIN_MQTT_PORT": str(free_port())}
    env.pop("ADSBIN_DATABASE_URL", None)
    for step in ("migrate", "demo"):
        subprocess.run([ADSBIN, step], env=env, check=True, capture_output=True)
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([ADSBIN, "serve", "--demo", "--port", str(free_port()),
                                   "--log-level", "warning"], env=env, stdout=log, stderr=log)
    try:
        status = tmp_path / "agent" / "status.json"

        def agent_pid() -> int | None:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                current = json.loads(status.read_text())
            except (OSError, ValueError):
                return None
            return int(current["pid"]) if current.get("state") else None

        pid = until(agent_pid, 120, "the demo's agent to start")
        assert alive(pid)
        server.send_signal(signum)
        assert server.wait(timeout=60) is not None
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid), "the demo's player agent outlived the server"
    finally:
        if server.poll() is None:
            server.kill()
