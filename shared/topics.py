"""MQTT topic names of the device protocol, in one place for the control plane and the agent.

Every topic is `adsbin/v1/screens/<screen_id>/<leaf>`. The server publishes `playlist` (retained)
and `commands`; the device publishes `status` (retained `online`, last-will `offline`),
`heartbeat`, `acks` and `pop`. Screen ids are opaque, but one that holds a topic separator or a
wildcard could reach another screen's topics, so every builder refuses them.
"""

from __future__ import annotations

PREFIX = "adsbin/v1/screens"
SERVER_TO_DEVICE = ("playlist", "commands")
DEVICE_TO_SERVER = ("status", "heartbeat", "acks", "pop")
LEAVES = SERVER_TO_DEVICE + DEVICE_TO_SERVER

_FORBIDDEN = ("/", "+", "#", "\x00")


def check_screen_id(screen_id: str) -> str:
    """The screen id itself, or ValueError if it could escape its own topic level."""
    if not screen_id or any(ch in screen_id for ch in _FORBIDDEN):
        raise ValueError(f"not a usable screen id for an MQTT topic: {screen_id!r}")
    return screen_id


def screen_topic(screen_id: str, leaf: str) -> str:
    """The topic `leaf` of one screen."""
    if leaf not in LEAVES:
        raise ValueError(f"unknown topic leaf: {leaf!r}")
    return f"{PREFIX}/{check_screen_id(screen_id)}/{leaf}"


def any_screen(leaf: str) -> str:
    """The subscription filter for `leaf` of every screen (for the control plane's bridge)."""
    if leaf not in LEAVES:
        raise ValueError(f"unknown topic leaf: {leaf!r}")
    return f"{PREFIX}/+/{leaf}"


def playlist(screen_id: str) -> str:
    """Server → device, retained: the current playlist's version and URL."""
    return screen_topic(screen_id, "playlist")


def commands(screen_id: str) -> str:
    """Server → device, QoS 1: remote commands (resync, screenshot, reboot, …)."""
    return screen_topic(screen_id, "commands")


def status(screen_id: str) -> str:
    """Device → server, retained: `online`, or the last-will `offline`."""
    return screen_topic(screen_id, "status")


def heartbeat(screen_id: str) -> str:
    """Device → server: periodic health."""
    return screen_topic(screen_id, "heartbeat")


def acks(screen_id: str) -> str:
    """Device → server: acknowledgements of commands."""
    return screen_topic(screen_id, "acks")


def pop(screen_id: str) -> str:
    """Device → server: proof-of-play batches."""
    return screen_topic(screen_id, "pop")


def parse(topic: str) -> tuple[str, str] | None:
    """(screen_id, leaf) of one of our topics; None for anything else, wildcards included."""
    head, sep, rest = topic.partition(PREFIX + "/")
    if head or not sep:
        return None
    screen_id, sep, leaf = rest.partition("/")
    if not sep or leaf not in LEAVES:
        return None
    try:
        check_screen_id(screen_id)
    except ValueError:
        return None
    return screen_id, leaf
