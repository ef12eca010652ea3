"""What the player agent keeps on disk, shared with the technicians' CLI that writes or reads it.

`AgentConfig` is written by `adsbin provision enroll` (and read by the agent alongside its
`ADSBIN_AGENT_*` variables); `AgentCredentials` is written by the agent once it is paired, in its
state dir with mode 0600, and read by `adsbin provision diagnose`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.device import MqttCredentials, Wire

CONFIG_FILE = Path("/etc/adsbin/agent.json")
DEFAULT_STATE_DIR = Path("/var/lib/adsbin-agent")
CREDENTIALS_FILE = "credentials.json"


class AgentConfig(Wire):
    """How an agent is set up on its display unit."""

    server_url: str = Field(description="The control plane's public URL")
    state_dir: Path = DEFAULT_STATE_DIR
    renderer: Literal["vlc", "null"] = "vlc"
    cache_quota_bytes: int = Field(8 * 1024**3, ge=0)


class AgentCredentials(Wire):
    """What pairing gave the device."""

    server_url: str
    device_id: str
    screen_id: str
    device_token: str
    mqtt: MqttCredentials


def write_private_json(path: Path, model: Wire) -> None:
    """Write a model as JSON readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(model.model_dump_json(indent=2))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_credentials(state_dir: Path) -> AgentCredentials | None:
    """The agent's credentials, or None while it is unpaired."""
    path = state_dir / CREDENTIALS_FILE
    try:
        return AgentCredentials.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
