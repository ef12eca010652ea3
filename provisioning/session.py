"""Where the technician's login is kept between commands: one small JSON file, owner-only.

`adsbin provision login` writes the server URL and the access token to
`$XDG_CONFIG_HOME/adsbin/provision.json` (`~/.config/adsbin/provision.json` without XDG), or to
the file `ADSBIN_PROVISION_CONFIG` names; the other commands read it. The token is a bearer
credential, so the file is written atomically with mode 0600 (`shared.agent.write_private_json`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from shared.agent import write_private_json
from shared.device import Wire

ENV_OVERRIDE = "ADSBIN_PROVISION_CONFIG"
RELATIVE_PATH = Path("adsbin") / "provision.json"


class SessionError(Exception):
    """The saved login exists but cannot be used (unreadable, damaged)."""


class Login(Wire):
    """A technician's sign-in: which control plane, and the token to call it with."""

    server_url: str
    access_token: str
    email: str
    expires_at: datetime | None = None

    @property
    def expired(self) -> bool:
        """Whether the token's lifetime is over (the server would answer 401)."""
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)


def login_path(environ: Mapping[str, str] | None = None) -> Path:
    """The file that holds the login, following ADSBIN_PROVISION_CONFIG and XDG_CONFIG_HOME."""
    # This module is the CLI's one reader of these variables (STYLE.md rule 5's spirit): a
    # technician's laptop has no ADSBIN_* settings object, only a home directory.
    env = os.environ if environ is None else environ
    if env.get(ENV_OVERRIDE):
        return Path(env[ENV_OVERRIDE]).expanduser()
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / RELATIVE_PATH


def save(login: Login, path: Path | None = None) -> Path:
    """Store the login (mode 0600); returns where."""
    path = path or login_path()
    write_private_json(path, login)
    return path


def load(path: Path | None = None) -> Login | None:
    """The stored login, or None when nobody has signed in on this machine."""
    path = path or login_path()
    try:
        return Login.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise SessionError(f"the saved login in {path} is unreadable ({exc})") from exc
