"""The control plane restarted during a media upload: `adsbin serve` as its own process, the
upload coming in slowly through a proxy, the server killed with -9 halfway. After the restart
the upload is absent (no media, no object, no spooled half), never half there, and the same
upload sent again is taken whole and processed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.helpers import PASSWORD, bearer
from tests.live import free_port
from tests.player_agent.conftest import Proxy, until

ADSBIN = str(Path(sys.executable).with_name("adsbin"))

pytestmark = pytest.mark.long


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([ADSBIN, "serve", "--port", str(port), "--log-level", "warning"],
                                env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()[-2000:]
            return False

    until(up, 60, "adsbin serve answering")
    return proc


def stored_files(data_dir: Path) -> list[Path]:
    """Everything the local object store holds, its own temporary files included."""
    store = data_dir / "objects"
    return [p for p in store.rglob("*") if p.is_file()] if store.exists() else []


def test_a_restart_during_an_upload_leaves_it_whole_or_absent_and_a_retry_succeeds(tmp_path):
    data_dir = tmp_path / "var"
    env = {**os.environ, "ADSBIN_DATA_DIR": str(data_dir), "ADSBIN_PASSWORD_HASHING": "fast",
           "ADSBIN_MQTT_PORT": str(free_port())}
    env.pop("ADSBIN_DATABASE_URL", None)
    subprocess.run([ADSBIN, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = serve(env, port, tmp_path / "serve.log")
    proxy = Proxy(port)
    try:
        http = httpx.Client(base_url=proxy.url, timeout=60)
        r = http.post("/v1/auth/signup", json={
            "email": "adv@example.com", "password": PASSWORD, "name": "Adv",
            "org_name": "Adv org", "org_kind": "advertiser"})
        assert r.status_code == 201, r.text
        headers = bearer(r.json()["access_token"])
        picture = tmp_path / "big.png"
        Image.frombytes("RGB", (1200, 1000), os.urandom(1200 * 1000 * 3)).save(picture)
        sha = hashlib.sha256(picture.read_bytes()).hexdigest()
        before = set(stored_files(data_dir))

        proxy.rate_bytes_s = 100_000  # a slow uplink: ~36 s for the 3.6 MB
        failed: list[BaseException] = []

        def upload() -> None:
            try:
                with picture.open("rb") as f:
                    http.post("/v1/media", headers=headers, files={"file": ("big.png", f)})
            except Exception as exc:  # the test says which below
                failed.append(exc)
            else:
                failed.append(AssertionError("the upload was answered"))

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        spool = data_dir / "tmp"
        threading.Event().wait(3)  # about a tenth of it sent
        assert sender.is_alive()
        os.kill(proc.pid, signal.SIGKILL)  # the control plane dies mid-upload
        proc.wait(timeout=10)
        proxy.cut()  # its connections go with it (the proxy would keep the client's half open)
        sender.join(timeout=30)
        assert not sender.is_alive() and len(failed) == 1, failed
        assert isinstance(failed[0], httpx.TransportError), failed  # the upload was cut
        proxy.rate_bytes_s = None
        proxy.restore()

        proc = serve(env, port, tmp_path / "serve.log")
        # absent: no media for it, nothing of it stored, no half-spooled copy left
        listed = http.get("/v1/media", headers=headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == []
        assert set(stored_files(data_dir)) == before
        assert not [p for p in spool.rglob("*") if p.is_file()] if spool.exists() else True

        # and the same upload again goes in whole
        with picture.open("rb") as f:
            r = http.post("/v1/media", headers=headers, files={"file": ("big.png", f)})
        assert r.status_code == 201, r.text
        media = r.json()
        assert media["sha256"] == sha
        until(lambda: http.get(f"/v1/media/{media['id']}", headers=headers).json()["status"]
              == "ready", 60, "the media processed")
        original = data_dir / "objects" / "media" / sha / "original"
        assert hashlib.sha256(original.read_bytes()).hexdigest() == sha  # whole
    finally:
        proxy.cut()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
