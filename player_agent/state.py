"""The agent's state dir: its key, its credentials, the pending pairing, the last playlist, the
media cache, the proof-of-play journal and a status file for `adsbin agent status`.

Secrets (the private key, the credentials) are written 0600 and atomically; so is everything
else, so a power cut never leaves half a file that the next start would trip over.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nacl.signing import SigningKey
from pydantic import ValidationError

from shared.agent import CREDENTIALS_FILE, AgentCredentials, read_credentials, write_private_json
from shared.device import PairingTicket
from shared.playlist import Playlist

STATUS_STALE_S = 30.0  # a status file older than this means the agent is not running
# PKCS #8 of an Ed25519 private key is this DER prefix and the 32-byte seed (RFC 8410, 7), the
# form `cryptography` writes as PEM ("PRIVATE KEY"): keys made by earlier agents read as they are
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


class StateDirBusy(RuntimeError):
    """Another agent holds this state dir."""


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file and rename, so a reader sees the old
    file or the new one whole; `durable`: fsync first, so a power cut keeps the new one (not
    for what is rewritten all the time and read only while the agent runs: an fsync a second
    wears an SD card)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    os.replace(tmp, path)


class DeviceKey:
    """The device's Ed25519 key, with PyNaCl (libsodium): the agent only signs, and
    `cryptography` would cost it 8 MB of its memory for that (bench_agent.py)."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes, path: Path) -> DeviceKey:
        """The key of a PKCS #8 PEM file; ValueError if it holds anything else."""
        lines = pem.decode("ascii", "replace").strip().splitlines()
        der = b""
        if len(lines) > 2 and lines[0] == "-----BEGIN PRIVATE KEY-----" and lines[-1] == (
                "-----END PRIVATE KEY-----"):
            try:
                der = base64.b64decode("".join(lines[1:-1]), validate=True)
            except binascii.Error:
                der = b""
        if len(der) != len(PKCS8_ED25519_PREFIX) + 32 or not der.startswith(PKCS8_ED25519_PREFIX):
            raise ValueError(f"{path} is not an Ed25519 key; remove it to make a new one (the "
                             "unit must then be paired again)")
        return cls(SigningKey(der[len(PKCS8_ED25519_PREFIX):]))

    def to_pem(self) -> bytes:
        """PKCS #8 PEM, unencrypted (what `cryptography` writes for the same key)."""
        der = base64.b64encode(PKCS8_ED25519_PREFIX + bytes(self._key)).decode()
        return f"-----BEGIN PRIVATE KEY-----\n{der}\n-----END PRIVATE KEY-----\n".encode()

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte signature of `data`."""
        return self._key.sign(data).signature

    def public_bytes_raw(self) -> bytes:
        """The 32 bytes of the public key (what pairing sends)."""
        return bytes(self._key.verify_key)


@dataclass(frozen=True)
class StateDir:
    """Where each piece of the agent's state lives."""

    root: Path

    @property
    def key_file(self) -> Path:
        return self.root / "device_key.pem"

    @property
    def credentials_file(self) -> Path:
        return self.root / CREDENTIALS_FILE

    @property
    def pairing_file(self) -> Path:
        return self.root / "pairing.json"

    @property
    def playlist_file(self) -> Path:
        return self.root / "playlist.json"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "agent.lock"

    @property
    def journal_file(self) -> Path:
        return self.root / "journal.db"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def cards_dir(self) -> Path:
        return self.root / "cards"

    def create(self) -> StateDir:
        """Make the dir (0700) if it is missing."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    def used(self) -> bool:
        """Whether an agent has ever run on this dir (it leaves its lock, key or status)."""
        marks = (self.lock_file, self.status_file, self.key_file,
                 self.credentials_file, self.pairing_file, self.journal_file)
        return any(path.exists() for path in marks)

    def lock(self) -> IO[bytes]:
        """Hold the dir for this process (released when it exits, even by kill -9): two
        agents on one state dir would share a journal and kick each other off the broker."""
        handle = self.lock_file.open("a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateDirBusy(f"another agent is running on {self.root}; stop it first "
                               "(or give this one its own --state-dir)") from None
        return handle

    # --- the device key -------------------------------------------------------------------

    def device_key(self) -> DeviceKey:
        """The device's Ed25519 key, made once and kept 0600."""
        try:
            return DeviceKey.from_pem(self.key_file.read_bytes(), self.key_file)
        except FileNotFoundError:
            key = DeviceKey(SigningKey.generate())
            write_atomic(self.key_file, key.to_pem())
            return key

    def fingerprint(self) -> str:
        """A stable hash of this unit's identity: its machine id, else an id kept here."""
        try:
            machine = Path("/etc/machine-id").read_text().strip()
        except OSError:
            machine = ""
        if not machine:
            id_file = self.root / "unit_id"
            try:
                machine = id_file.read_text().strip()
            except FileNotFoundError:
                machine = uuid.uuid4().hex
                write_atomic(id_file, machine.encode())
        return hashlib.sha256(f"{machine}:{socket.gethostname()}".encode()).hexdigest()

    # --- credentials and pairing -----------------------------------------------------------

    def credentials(self) -> AgentCredentials | None:
        """What pairing gave this unit, or None while unpaired (or the file is unreadable)."""
        try:
            return read_credentials(self.root)
        except (ValidationError, ValueError, OSError):
            return None

    def save_credentials(self, credentials: AgentCredentials) -> None:
        """Keep the credentials (0600); the pending pairing is done with."""
        write_private_json(self.credentials_file, credentials)
        self.pairing_file.unlink(missing_ok=True)

    def forget_credentials(self) -> None:
        """Drop revoked credentials: the unit goes back to showing a pairing code."""
        self.credentials_file.unlink(missing_ok=True)

    def pairing(self) -> tuple[PairingTicket, str] | None:
        """The pending pairing (its ticket and the server it came from), if any."""
        try:
            raw = json.loads(self.pairing_file.read_text())
            return PairingTicket.model_validate(raw["ticket"]), str(raw["server_url"])
        except (OSError, ValueError, KeyError, ValidationError):
            return None

    def save_pairing(self, ticket: PairingTicket, server_url: str) -> None:
        """Remember the code being shown, so a restart shows the same one while it lasts."""
        body = {"ticket": ticket.model_dump(mode="json"), "server_url": server_url}
        write_atomic(self.pairing_file, json.dumps(body).encode())

    # --- the last good playlist ------------------------------------------------------------

    def playlist(self) -> Playlist | None:
        """The playlist the agent last adopted (to play on at once after a restart)."""
        try:
            return Playlist.model_validate_json(self.playlist_file.read_bytes())
        except (OSError, ValidationError):
            return None

    def save_playlist(self, playlist: Playlist) -> None:
        """Keep the adopted playlist."""
        write_atomic(self.playlist_file, playlist.model_dump_json(by_alias=True).encode(),
                     mode=0o644)

    # --- status for `adsbin agent status` --------------------------------------------------

    def write_status(self, status: dict[str, Any]) -> None:
        """Publish the agent's state for `adsbin agent status` (stamped with time and pid)."""
        body = {**status, "updated_at": time.time(), "pid": os.getpid()}
        write_atomic(self.status_file, json.dumps(body, default=str).encode(), mode=0o644,
                     durable=False)

    def read_status(self) -> dict[str, Any] | None:
        """The last status the agent wrote, with `running` telling whether it is still fresh."""
        try:
            status: dict[str, Any] = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return None
        fresh = time.time() - float(status.get("updated_at", 0)) < STATUS_STALE_S
        status["running"] = fresh and _alive(int(status.get("pid", 0)))
        return status


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_play_id() -> str:
    """A fresh play id (UUID4): the idempotency key of a proof-of-play record."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
