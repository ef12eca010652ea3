"""The MQTT broker's accounts: who may log in, and which topics each account may read or write.

A device reads only its own screen's `playlist` and `commands` and writes only its own `status`,
`heartbeat`, `acks` and `pop`; the service account (the control plane) reads and writes all of
`adsbin/v1/#`; nobody else does anything; anonymous logins are refused. `AccountRules.allowed`
answers the same rules in Python, for an EMQX-style HTTP auth hook (`ExternalBroker`).

`EmbeddedBroker` runs Mosquitto as a child process and enforces the rules with its
dynamic-security plugin (one role per device naming its screen's six topics literally, a service
role, everything else denied), changed by JSON commands that an internal admin client publishes
on `$CONTROL/dynamic-security/v1` and saved by the plugin in the data dir. Checked on Mosquitto
2.0.11 against a password file + ACL file reloaded with SIGHUP: both refuse a removed device's
next login, but `deleteClient` also kicks its live session at once (MQTT v5 reason 0x98) without
touching anyone else, while each SIGHUP re-reads the whole configuration and re-checks every
connected client, a cost per change that grows with the fleet, and our file writes would race
the broker's reads. The admin gets a fresh random password at each start, written (hashed) into
the plugin's state while the broker is down, so no admin secret is kept.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import pwd
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from control_plane.devices.accounts import (
    ADMIN_USERNAME,
    SERVICE_FILTER,
    SHARED_SERVICE_FILTER,
    AccountRules,
    _Account,
)
from control_plane.devices.exceptions import BrokerUnavailable
from shared import topics

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05
PORT_CLASH_GRACE_S = 0.5
ADMIN_KEEPALIVE_S = 30
# Mosquitto 2.0 sweeps for expired keepalives only when more than 5 s have passed since the last
# sweep, so a silent client's will comes up to this much (and its whole-second clock's 1 s)
# later than 1.5 × its keepalive; a closed connection sends the will at once.
KEEPALIVE_SWEEP_S = 6.0

DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
SERVICE_ROLE = "adsbin-service"
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 8192

log = logging.getLogger(__name__)
MAX_QUEUED = 100_000  # QoS 1 messages the broker holds per client beyond those in flight


def _acls(kinds: tuple[str, ...], *names: str) -> list[dict[str, Any]]:
    return [{"acltype": kind, "topic": name, "allow": True} for name in names for kind in kinds]


def _device_role(username: str) -> str:
    return f"adsbin-device-{username}"


def _device_acls(screen_id: str) -> list[dict[str, Any]]:
    def mine(leaves: tuple[str, ...]) -> list[str]:
        return [topics.screen_topic(screen_id, leaf) for leaf in leaves]
    return (_acls(("publishClientSend",), *mine(topics.DEVICE_TO_SERVER))
            + _acls(("publishClientReceive", "subscribeLiteral"), *mine(topics.SERVER_TO_DEVICE)))


def _delete_device(username: str) -> list[dict[str, Any]]:
    return [{"command": "deleteClient", "username": username},
            {"command": "deleteRole", "rolename": _device_role(username)}]


_ALL = ("publishClientSend", "publishClientReceive", "subscribePattern")
_FIXED_ROLES = [{"rolename": "adsbin-admin", "acls": _acls(_ALL, "$CONTROL/dynamic-security/#")},
                {"rolename": SERVICE_ROLE, "acls": _acls(_ALL, SERVICE_FILTER)
                 # Mosquitto checks a shared subscription against its whole `$share/…` filter
                 + _acls(("subscribePattern",), SHARED_SERVICE_FILTER)}]
_DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False,
                   "subscribe": False, "unsubscribe": True}


class DynsecAccounts(AccountRules):
    """Accounts kept in a Mosquitto's dynamic-security plugin, changed by its admin client."""

    def __init__(self, *, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port
        self._admin: mqtt.Client | None = None
        self._admin_username = self._admin_client_id = ADMIN_USERNAME
        self._admin_password = ""
        self._ready = threading.Event()
        self._refused: str | None = None
        self._lock = threading.RLock()  # one account change, one command batch, at a time
        self._waiting_for: str | None = None
        self._answer: list[dict[str, Any]] = []
        self._answered = threading.Event()

    @property
    def url(self) -> str:
        """Where clients connect: `mqtt://host:port`."""
        return f"mqtt://{self.host}:{self.port}"

    def set_device(self, *, username: str, password: str, screen_id: str) -> None:
        """Create or replace a device account (a replaced one is disconnected at once)."""
        with self._lock:
            if not self._changes(username, password, screen_id):
                return
            role = _device_role(username)
            self._run(*_delete_device(username) if self._may_exist(username) else [],
                      {"command": "createRole", "rolename": role, "acls": _device_acls(screen_id)},
                      {"command": "createClient", "username": username, "password": password,
                       "roles": [{"rolename": role}]})
            self._accounts[username] = _Account.new(password, screen_id)

    def remove_device(self, *, username: str) -> None:
        """Delete a device account; a connected client of it is disconnected at once."""
        with self._lock:
            self._check_device(username)
            self._run(*_delete_device(username))  # harmless for a name the broker never had
            self._accounts.pop(username, None)

    def set_service(self, *, username: str, password: str) -> None:
        """Create or replace a service account, which reaches everything under adsbin/v1/."""
        with self._lock:
            if not self._changes(username, password, None):
                return
            self._run({"command": "deleteClient", "username": username},
                      {"command": "createClient", "username": username, "password": password,
                       "roles": [{"rolename": SERVICE_ROLE}]})
            self._accounts[username] = _Account.new(password, None)

    def _may_exist(self, username: str) -> bool:
        """Whether the broker may hold an account of this name already."""
        return username in self._accounts

    def _admin_client(self) -> mqtt.Client:
        """The logged-in admin client, or `BrokerUnavailable`."""
        if self._admin is None:
            raise BrokerUnavailable("the embedded broker is not running")
        return self._admin

    def _run(self, *commands: dict[str, Any], tolerate: tuple[str, ...] = ("not found",)) -> None:
        """Send one batch of dynamic-security commands; raise if one failed (not 'not found')."""
        with self._lock:
            admin = self._admin_client()
            tag = secrets.token_hex(8)
            self._answered.clear()
            self._waiting_for = tag
            batch = [{**command, "correlationData": tag} for command in commands]
            admin.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=1)
            if not self._answered.wait(COMMAND_TIMEOUT_S):
                raise BrokerUnavailable(f"the broker did not answer within {COMMAND_TIMEOUT_S} s")
            answer, self._waiting_for = self._answer, None
        # Errors name the command and the reason only: a password never reaches a message.
        failed = [f"{r.get('command')}: {r['error']}" for r in answer
                  if r.get("error") and not any(t in str(r["error"]) for t in tolerate)]
        if failed:
            raise BrokerUnavailable("the broker refused an account change: " + "; ".join(failed))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            answer = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable answer on %s", msg.topic)
            return
        if answer and answer[0].get("correlationData") == self._waiting_for:
            self._answer = answer
            self._answered.set()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:  # not our broker, or not our password: retrying will not help
            self._refused = str(reason)
            client.disconnect()
        else:  # after a reconnect too: answers come only to a subscription
            client.subscribe(CONTROL_TOPIC + "/response", qos=1)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      reasons: list[ReasonCode], _props: Any) -> None:
        if not any(r.is_failure for r in reasons):
            self._ready.set()

    def _connect_admin(self, check: Callable[[], None]) -> None:
        """Log the admin client in and subscribe to the answers; `check` raises when waiting
        is pointless (the broker died, the time is up)."""
        self._ready.clear()
        self._refused = None
        admin = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._admin_client_id,
                            protocol=mqtt.MQTTv5)
        admin.username_pw_set(self._admin_username, self._admin_password)
        admin.on_connect, admin.on_subscribe = self._on_connect, self._on_subscribe
        admin.on_message = self._on_message
        self._admin = admin
        while True:  # until the listener is up
            check()
            try:
                admin.connect(self.host, self.port, keepalive=ADMIN_KEEPALIVE_S)
                break
            except OSError:
                time.sleep(POLL_INTERVAL_S)
        admin.loop_start()
        while not self._ready.wait(POLL_INTERVAL_S):
            check()
            if self._refused:
                self._on_refused()

    def _on_refused(self) -> None:
        raise BrokerUnavailable(f"{self.url} refused our admin login ({self._refused})")

    def _disconnect_admin(self) -> None:
        if self._admin is not None:
            self._admin.disconnect()
            self._admin.loop_stop()
            self._admin = None


class EmbeddedBroker(DynsecAccounts):
    """Mosquitto as a child process, its configuration and accounts under `<data_dir>/broker/`."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int,
                 mosquitto: str = "/usr/sbin/mosquitto", plugin: str = DYNSEC_PLUGIN) -> None:
        super().__init__(host=host, port=port)
        self.dir = data_dir.resolve() / "broker"
        self.mosquitto, self.plugin = mosquitto, plugin
        self.state_file = self.dir / "dynamic-security.json"
        self.log_file = self.dir / "mosquitto.log"
        self._out_file = self.dir / "mosquitto.out"  # what it says before its log file is open
        self._pid_file = self.dir / "mosquitto.pid"  # ours, so a crashed run's can be ended
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Write the configuration, spawn Mosquitto, return once our admin client is logged in."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self.stop()  # a broker that died on its own leaves its admin client behind
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._admin_password = secrets.token_urlsafe(32)
        self._end_stale()
        self._prepare_state()
        (self.dir / "mosquitto.conf").write_text(self._config())
        with self._out_file.open("ab") as out:
            proc = self._proc = subprocess.Popen(  # noqa: S603 - our binary, generated config
                [self.mosquitto, "-c", str(self.dir / "mosquitto.conf")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self._pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        try:
            self._connect_admin(lambda: self._check_alive(proc, deadline))
        except BaseException:
            self.stop()
            raise

    def _end_stale(self) -> None:
        """End the Mosquitto a crashed run of ours left behind on this data dir (a `kill -9` of
        `adsbin serve` orphans its broker, which keeps the port and the plugin's state: the next
        start would fail). Only a process running our binary on our config file is touched."""
        try:
            pid = int(self._pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.dir / "mosquitto.conf").encode() not in cmdline or pid == os.getpid():
            return
        log.warning("ending the broker a crashed run left behind (pid %d)", pid)
        for signum, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            deadline = time.monotonic() + wait_s
            while _running(pid) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL_S)
            if not _running(pid):
                break
        self._pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        """Log the admin client out and end Mosquitto (terminate, then kill if it lingers)."""
        self._disconnect_admin()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("mosquitto did not stop within %s s; killing it", STOP_TIMEOUT_S)
            proc.kill()
            proc.wait()
        self._pid_file.unlink(missing_ok=True)

    def _on_refused(self) -> None:
        proc = self._proc  # perhaps another broker holds the port and ours is exiting
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(PORT_CLASH_GRACE_S)
            self._check_alive(proc, float("inf"))
        raise BrokerUnavailable(f"{self.url} refused our admin ({self._refused}):\n"
                                + self._tail())

    def _check_alive(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        if proc.poll() is not None:
            raise BrokerUnavailable(f"mosquitto exited with status {proc.returncode}:\n"
                                    + self._tail())
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"mosquitto on {self.url} was not ready in time:\n"
                                    + self._tail())

    def _tail(self) -> str:
        lines: list[str] = []
        for path in (self._out_file, self.log_file):
            if path.exists():
                with path.open("rb") as f:
                    f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                    lines += f.read().decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines)

    def _config(self) -> str:
        if "\n" in f"{self.dir}{self.plugin}{self.host}":
            raise ValueError("a newline cannot appear in the broker's paths or host")
        # As root, Mosquitto would switch to the `mosquitto` user, who cannot read our data dir.
        user = pwd.getpwuid(os.geteuid()).pw_name
        return (
            "# written by adsbin at every start; edits are overwritten\n"
            f"per_listener_settings false\nallow_anonymous false\nuser {user}\n"
            f"listener {self.port} {self.host}\n"
            f"persistence true\npersistence_location {self.dir}\n"
            # the bridge's one subscription takes every screen's heartbeats and proof of play:
            # past Mosquitto's default of 1,000 waiting for it, the broker drops the rest
            f"max_queued_messages {MAX_QUEUED}\n"
            f"log_dest file {self.log_file}\nlog_timestamp_format %Y-%m-%dT%H:%M:%S\n"
            f"plugin {self.plugin}\nplugin_opt_config_file {self.state_file}\n"
        )

    def _prepare_state(self) -> None:
        """Put our admin, fixed roles and default-deny into the plugin's state; load accounts."""
        state: dict[str, Any] = {"clients": [], "groups": [], "roles": []}
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        fixed = {r["rolename"] for r in _FIXED_ROLES}
        roles = [r for r in state.get("roles", []) if r["rolename"] not in fixed]
        clients = [c for c in state.get("clients", []) if c["username"] != ADMIN_USERNAME]
        self._accounts = {c["username"]: a for c in clients if (a := _load_account(c, roles))}
        admin = _Account.new(self._admin_password, None)
        clients.append({"username": ADMIN_USERNAME, "roles": [{"rolename": "adsbin-admin"}],
                        "password": base64.b64encode(admin.digest).decode(),
                        "salt": base64.b64encode(admin.salt).decode(),
                        "iterations": admin.iterations})
        state.update(defaultACLAccess=_DEFAULT_ACCESS, clients=clients, roles=roles + _FIXED_ROLES)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie, ended and not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _load_account(client: dict[str, Any], roles: list[dict[str, Any]]) -> _Account | None:
    """One of our accounts in the plugin's state; a device's screen is in its role's ACLs."""
    names = {r["rolename"] for r in client.get("roles", [])}
    screen_ids = {parsed[0] for role in roles if role["rolename"] in names
                  for acl in role.get("acls", []) if (parsed := topics.parse(acl["topic"]))}
    if SERVICE_ROLE in names:
        screen_id = None
    elif len(screen_ids) == 1:
        screen_id = screen_ids.pop()
    else:  # not an account we made: the broker may know it, our rules do not
        return None
    return _Account(base64.b64decode(client["salt"]), base64.b64decode(client["password"]),
                    int(client["iterations"]), screen_id)


class ExternalMosquitto(DynsecAccounts):
    """A Mosquitto run elsewhere with the dynamic-security plugin, whose accounts we keep.

    Its operator makes the plugin's admin (`mosquitto_ctrl dynsec init FILE USER PASSWORD`) and
    hands us that login; we make the service role and login when they are missing, and each
    device's role and login at pairing. Several processes do this at once, so each logs its
    admin client in under an id of its own, and a device account is always deleted before it is
    made (another process may have made it)."""

    def __init__(self, url: str, *, admin_username: str, admin_password: str,
                 service_username: str | None = None, service_password: str | None = None
                 ) -> None:
        parsed = urlsplit(url)
        if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
            raise ValueError(f"not an mqtt://host:port URL: {url!r}")
        super().__init__(host=parsed.hostname, port=parsed.port or 1883)
        self._admin_username, self._admin_password = admin_username, admin_password
        self._admin_client_id = f"{admin_username}-{secrets.token_hex(4)}"
        self._service = (service_username, service_password) \
            if service_username and service_password else None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Log our admin client in; make the service role (and login) if they are missing."""
        with self._lock:
            if self._admin is not None:
                return
            deadline = time.monotonic() + timeout_s

            def late() -> None:
                if time.monotonic() > deadline:
                    self._disconnect_admin()
                    raise BrokerUnavailable(f"the broker at {self.url} did not let our admin in "
                                            f"within {timeout_s:g} s")
            try:
                self._connect_admin(late)
            except BaseException:
                self._disconnect_admin()
                raise
            commands: list[dict[str, Any]] = [_FIXED_ROLES[1] | {"command": "createRole"}]
            if self._service is not None:
                username, password = self._service
                commands.append({"command": "createClient", "username": username,
                                 "password": password, "roles": [{"rolename": SERVICE_ROLE}]})
            self._run(*commands, tolerate=("not found", "already exists"))

    def stop(self) -> None:
        """Log our admin client out."""
        with self._lock:
            self._disconnect_admin()

    def _admin_client(self) -> mqtt.Client:
        if self._admin is None:  # a worker that pairs nothing never logs in
            self.start()
        assert self._admin is not None
        return self._admin

    def _may_exist(self, username: str) -> bool:
        return True
