"""A plain Mosquitto for the tests of `shared/`: a password file, an ACL file, no anonymous
logins, on a free port that survives restarts (so clients can find it again)."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
# alice reads and writes test/#; bob only writes test/bob; nothing else for anyone
ACL = "user alice\ntopic readwrite test/#\n\nuser bob\ntopic write test/bob\n"


class Mosquitto:
    """A Mosquitto child process that a test can stop and start again on the same port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log_file = root / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        passwd = root / "passwd"
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run([MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd),
                            user, password], check=True, capture_output=True)
        (root / "acl").write_text(ACL)
        user = pwd.getpwuid(os.geteuid()).pw_name  # as root it would switch to `mosquitto`
        (root / "mosquitto.conf").write_text(
            f"per_listener_settings false\nallow_anonymous false\nuser {user}\n"
            f"password_file {passwd}\nacl_file {root / 'acl'}\n"
            f"listener {self.port} 127.0.0.1\npersistence false\n"
            f"log_dest file {self.log_file}\nlog_type all\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start Mosquitto and wait until it listens."""
        self._proc = subprocess.Popen([MOSQUITTO, "-c", str(self.root / "mosquitto.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start:\n{self.log()}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """End Mosquitto (its clients lose their connections)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGCONT)  # a paused one would hold the SIGTERM
            proc.terminate()
            proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze Mosquitto (SIGSTOP): connections stay open, nothing is answered."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused Mosquitto run again."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def log(self) -> str:
        """What Mosquitto logged so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running Mosquitto of our own (skipped where it is not installed, except in CI)."""
    missing = [p for p in (MOSQUITTO, MOSQUITTO_PASSWD) if not Path(p).exists()]
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Mosquitto is required in CI; missing {missing}", pytrace=False)
        pytest.skip(f"Mosquitto is not installed ({missing})")
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
