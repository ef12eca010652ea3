"""`adsbin admin verify-email`: an operator confirms an address without the emailed link."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from control_plane.db import make_engine, make_sessionmaker
from control_plane.orgs import service as orgs_service

ADSBIN = str(Path(sys.executable).parent / "adsbin")


def test_an_operator_confirms_an_address(clean_db, tmp_path):
    sessions = make_sessionmaker(make_engine(clean_db))
    with sessions() as session:
        orgs_service.create_user(session=session, email="someone@example.com", name="S",
                                 password=None, email_verified=False)
        session.commit()
    env = {**os.environ, "ADSBIN_DATA_DIR": str(tmp_path / "var"),
           "ADSBIN_DATABASE_URL": clean_db, "NO_COLOR": "1", "COLUMNS": "200"}
    runs = [subprocess.run([ADSBIN, "admin", "verify-email", email], env=env, text=True,
                           capture_output=True, timeout=120, check=False)
            for email in ("Someone@Example.com", "nobody@example.com")]
    assert runs[0].returncode == 0 and "confirmed someone@example.com" in runs[0].stdout
    assert runs[1].returncode == 1 and "no account has the address" in runs[1].stderr
    with sessions() as session:
        user = orgs_service.get_user_by_email(session=session, email="someone@example.com")
        assert user is not None and user.email_verified_at is not None
