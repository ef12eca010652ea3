"""Where the technician's login is kept: XDG, the override, 0600, and a damaged file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provisioning import session


def test_the_login_file_follows_xdg_and_the_override():
    home = Path.home()
    assert session.login_path({}) == home / ".config" / "adsbin" / "provision.json"
    assert session.login_path({"XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/adsbin/provision.json")
    # a relative XDG_CONFIG_HOME is invalid by the spec, so it is ignored
    assert session.login_path({"XDG_CONFIG_HOME": "rel"}).parent.parent == home / ".config"
    assert session.login_path({"XDG_CONFIG_HOME": "/xdg",
                               "ADSBIN_PROVISION_CONFIG": "/tmp/p.json"}) == Path("/tmp/p.json")


def test_a_saved_login_is_private_and_reads_back(tmp_path):
    login = session.Login(server_url="https://ads.example.com", access_token="t0k",
                          email="t@example.com")
    path = session.save(login, tmp_path / "adsbin" / "provision.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.load(path) == login
    assert session.load(tmp_path / "nobody-signed-in.json") is None
    path.write_text("{not json")
    with pytest.raises(session.SessionError, match="unreadable"):
        session.load(path)
