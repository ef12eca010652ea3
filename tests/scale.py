"""Real servers for the scale-mode tests: an external Mosquitto with the dynamic-security plugin,
set up the way its operator would (`mosquitto_ctrl dynsec init`), a round-robin TCP proxy in
front of several API processes, and `adsbin` commands as processes with their logs kept."""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from control_plane.devices.broker import DYNSEC_PLUGIN
from tests.live import free_port

ADMIN = "ops-admin"
ADMIN_PASSWORD = "ops-admin-secret"
START_TIMEOUT_S = 240.0  # five apps starting at once on a loaded 2-core machine are slow
ADSBIN = str(Path(sys.executable).parent / "adsbin")


@contextmanager
def external_mosquitto(folder: Path) -> Iterator[str]:
    """Mosquitto on a free port, anonymous logins refused, accounts and ACLs in the
    dynamic-security plugin whose only account is the operator's admin; yields its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "dynamic-security.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(state), ADMIN, ADMIN_PASSWORD],
                   check=True, capture_output=True)
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\nlistener {port} 127.0.0.1\n"
        # as root it would switch to the `mosquitto` user, who cannot read this folder
        f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
        f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {state}\n"
        "max_queued_messages 100000\n"  # as docs/scaling.md says
        f"log_dest file {folder / 'mosquitto.log'}\n")
    with (folder / "mosquitto.out").open("ab") as out:
        proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(folder / "mosquitto.conf")],
                                stdout=out, stderr=out)
    try:
        _wait_port(port, proc, "mosquitto")
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        _end(proc)


class RoundRobinProxy:
    """A TCP proxy that hands each new connection to the next of `ports` (a load balancer);
    a backend that refuses the connection is skipped, so a dead process costs no request
    that had not reached it yet."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self.connections = {p: 0 for p in ports}  # how many each backend got
        self._next = itertools.cycle(range(len(ports)))
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        for _ in self.ports:
            with self._lock:
                port = self.ports[next(self._next)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections[port] += 1
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            _pump(client, upstream)
            return
        client.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Processes:
    """`adsbin` commands started as processes with one environment, each logging to its own
    file in `logs`; every one is ended (SIGTERM, then SIGKILL) when the block ends."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[str, ...]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.running.values():
            _end(proc)

    def adsbin(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start `adsbin <args>` as `name` (its log: `<logs>/<name>.log`)."""
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([ADSBIN, *args],
                                    env={**self.env, **env}, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL)
        self.running[name] = proc
        self.commands[name] = args
        return proc

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start `name` again, with the command it had."""
        return self.adsbin(name, *self.commands[name])

    def run(self, *args: str) -> None:
        """Run `adsbin <args>` to its end; raise with its output if it failed."""
        done = subprocess.run([ADSBIN, *args], env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"adsbin {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def kill(self, name: str) -> None:
        """kill -9 the process `name` and wait for it."""
        proc = self.running.pop(name)
        proc.kill()
        proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_http(self, name: str, url: str) -> None:
        """Wait until `url` answers (the process `name` must stay alive meanwhile)."""
        proc = self.running[name]
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(url, timeout=2)
                return
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{self.log(name)[-3000:]}")\
                        from None
                time.sleep(0.1)


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
