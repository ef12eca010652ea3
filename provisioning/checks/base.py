"""What every diagnose check shares: its result, and the unit it looks at.

A check is a plain function `Target -> CheckResult`: no printing, no exit codes, so tests run
them one by one and the CLI decides how to show them. `Target` is read once from the agent's
config and credentials files; a file that cannot be read becomes a note, not a crash, because
diagnose is what a technician runs when things are already wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.agent import (
    CREDENTIALS_FILE,
    DEFAULT_STATE_DIR,
    AgentConfig,
    AgentCredentials,
    read_credentials,
)


class Status(StrEnum):
    """How a check came out; only FAIL makes `diagnose` exit non-zero."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: a status, a sentence for the technician, and the measured value."""

    check: str
    status: Status
    detail: str
    value: float | int | str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form `diagnose --json` prints."""
        return {"check": self.check, "status": self.status.value, "detail": self.detail,
                "value": self.value}


@dataclass(frozen=True)
class Target:
    """The display unit under diagnosis: its server, state dir and pairing credentials."""

    server_url: str | None
    state_dir: Path
    credentials: AgentCredentials | None = None
    credentials_problem: str | None = None  # why credentials.json exists but cannot be used
    notes: tuple[str, ...] = ()


def _unreadable(path: Path, exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return (f"cannot read {path} (permission denied): it is the agent's own file, mode 0600 "
                "— run diagnose with sudo")
    return f"{path} is damaged ({type(exc).__name__}: {exc}) — restart the agent to pair again"


def load_target(*, config_path: Path, state_dir: Path | None = None,
                server_url: str | None = None) -> Target:
    """The target as the agent's files describe it; explicit arguments win over the files."""
    notes: list[str] = []
    config: AgentConfig | None = None
    try:
        config = AgentConfig.model_validate(json.loads(config_path.read_text()))
    except FileNotFoundError:
        notes.append(f"no agent config at {config_path} (not enrolled yet?)")
    except (OSError, ValueError) as exc:
        notes.append(_unreadable(config_path, exc))
    state_dir = state_dir or (config.state_dir if config else DEFAULT_STATE_DIR)
    credentials, problem = None, None
    try:
        credentials = read_credentials(state_dir)
    except (OSError, ValueError) as exc:
        problem = _unreadable(state_dir / CREDENTIALS_FILE, exc)
    server_url = (server_url or (credentials.server_url if credentials else None)
                  or (config.server_url if config else None))
    return Target(server_url=server_url.rstrip("/") if server_url else None, state_dir=state_dir,
                  credentials=credentials, credentials_problem=problem, notes=tuple(notes))
