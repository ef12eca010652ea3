"""The `adsbin` command line, run as a user would: migrate, demo, create-superuser, serve."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

ADSBIN = str(Path(sys.executable).parent / "adsbin")


@pytest.fixture
def env(tmp_path, empty_db_url):
    return {**os.environ, "ADSBIN_DATA_DIR": str(tmp_path / "var"),
            "ADSBIN_DATABASE_URL": empty_db_url, "ADSBIN_MQTT_PORT": str(free_port()),
            "NO_COLOR": "1", "COLUMNS": "200"}


def run(env, *args, input=None):
    return subprocess.run([ADSBIN, *args], env=env, capture_output=True, text=True,
                          input=input, timeout=120, check=False)


def migrated(env):
    """What `adsbin migrate` leaves (its own test runs it as a process): the data dir, and the
    database at the newest revision; done in this process, where the code is imported."""
    from control_plane import migrate

    Path(env["ADSBIN_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(env["ADSBIN_DATABASE_URL"])


def seeded(env):
    """What `adsbin demo` leaves (its own test runs it as a process), done in this process."""
    from control_plane.db import make_engine, make_sessionmaker
    from control_plane.demo import seed_demo

    engine = make_engine(env["ADSBIN_DATABASE_URL"])
    try:
        with make_sessionmaker(engine)() as session:
            seed_demo(session=session)
    finally:
        engine.dispose()


def test_commands_before_migrating_say_what_to_do(env):
    r = run(env, "demo")
    assert r.returncode == 1
    assert "adsbin migrate" in r.stderr


def test_migrate_demo_superuser_serve(env):
    r = run(env, "migrate")
    assert r.returncode == 0, r.stderr
    assert "database migrated" in r.stdout
    first = run(env, "demo")
    again = run(env, "demo")
    assert first.returncode == again.returncode == 0, first.stderr
    assert "venue@demo.example.com" in first.stdout and "adsbin-demo" in first.stdout
    assert first.stdout == again.stdout  # idempotent

    r = run(env, "admin", "create-superuser", "--email", "Boss@Example.com",
            "--password", "a long enough password")
    assert r.returncode == 0 and "created super-admin boss@example.com" in r.stdout
    r = run(env, "admin", "create-superuser", "--email", "boss@example.com",
            "--password", "short")
    assert r.returncode == 1 and "at least 10 characters" in r.stderr

    port = free_port()
    server = subprocess.Popen([ADSBIN, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # generous: the suite keeps every core busy
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = server.communicate()[0]
                raise AssertionError(f"server did not come up:\n{output[-3000:]}")
            time.sleep(0.2)
        for email, role in (("venue@demo.example.com", "admin"),
                            ("tech@demo.example.com", "technician")):
            r = httpx.post(f"{base}/v1/auth/token",
                           json={"email": email, "password": "adsbin-demo"})
            assert r.status_code == 200, r.text
            me = httpx.get(f"{base}/v1/me",
                           headers={"Authorization": f"Bearer {r.json()['access_token']}"})
            assert me.json()["role"] == role
        r = httpx.post(f"{base}/v1/auth/token",
                       json={"email": "boss@example.com", "password": "a long enough password"})
        token = r.json()["access_token"]
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["user"]["is_superadmin"] is True
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in output


def test_bootstrap_admin_from_the_environment(env):
    migrated(env)
    env = {**env, "ADSBIN_BOOTSTRAP_ADMIN_EMAIL": "ops@example.com",
           "ADSBIN_BOOTSTRAP_ADMIN_PASSWORD": "unattended-setup-pw"}
    from control_plane.app import create_app
    from control_plane.settings import Settings

    settings = Settings(data_dir=Path(env["ADSBIN_DATA_DIR"]),
                        database_url=env["ADSBIN_DATABASE_URL"],
                        bootstrap_admin_email=env["ADSBIN_BOOTSTRAP_ADMIN_EMAIL"],
                        bootstrap_admin_password=env["ADSBIN_BOOTSTRAP_ADMIN_PASSWORD"],
                        mqtt_port=int(env["ADSBIN_MQTT_PORT"]))
    from fastapi.testclient import TestClient

    for _ in range(2):  # the second start finds the admin and changes nothing
        with TestClient(create_app(settings)) as client:
            r = client.post("/v1/auth/token", json={"email": "ops@example.com",
                                                    "password": "unattended-setup-pw"})
            assert r.status_code == 200


def test_worker_process_consumes_jobs(env, tmp_path):
    """`adsbin worker` as its own process finishes media that an API without a worker took in."""
    from fastapi.testclient import TestClient

    from control_plane.app import create_app
    from control_plane.settings import Settings
    from tests import media_samples
    from tests.helpers import signup

    migrated(env)
    settings = Settings(data_dir=Path(env["ADSBIN_DATA_DIR"]),
                        database_url=env["ADSBIN_DATABASE_URL"], run_worker=False,
                        mqtt_port=int(env["ADSBIN_MQTT_PORT"]))
    with TestClient(create_app(settings)) as client:
        account = signup(client, "advertiser")
        with media_samples.png(tmp_path).open("rb") as f:
            media_id = client.post("/v1/media", headers=account.headers,
                                   files={"file": ("a.png", f)}).json()["id"]
        worker = subprocess.Popen([ADSBIN, "worker", "--workers", "1"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                body = client.get(f"/v1/media/{media_id}", headers=account.headers).json()
                if body["status"] != "processing":
                    break
                assert time.monotonic() < deadline, "the worker did not process the job"
                time.sleep(0.2)
        finally:
            worker.terminate()
            output, _ = worker.communicate(timeout=30)
    assert body["status"] == "ready" and len(body["renditions"]) == 4, body
    assert "ADSBIN worker" in output


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent does not)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_serve_demo_stops_its_agent_on_sigterm(env, tmp_path):
    """`make run` stopped by a service manager (SIGTERM) leaves no player agent behind."""
    migrated(env)
    seeded(env)
    port = free_port()
    server = subprocess.Popen([ADSBIN, "serve", "--port", str(port), "--demo"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    status = Path(env["ADSBIN_DATA_DIR"]) / "agent" / "status.json"
    try:
        deadline = time.monotonic() + 120
        while not (status.exists() and '"paired"' in status.read_text()):
            assert time.monotonic() < deadline and server.poll() is None, "no paired agent"
            time.sleep(0.2)
        agent_pid = json.loads(status.read_text())["pid"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    deadline = time.monotonic() + 30
    try:
        while alive(agent_pid):
            assert time.monotonic() < deadline, "the demo's agent outlived the server"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent_pid, signal.SIGKILL)  # never leave it behind, whatever happened
