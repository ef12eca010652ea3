"""The device key in the state dir: made once, kept as PKCS #8 PEM, the same file whether the
agent or `cryptography` wrote it (units paired before the agent signed with PyNaCl keep their key
and their pairing), and its signatures verify as the control plane checks them."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from player_agent.state import StateDir
from shared.pop import sign, signed_message, verify


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_a_key_an_earlier_agent_wrote_is_read_as_the_same_key(tmp_path):
    state = StateDir(tmp_path / "state").create()
    theirs = Ed25519PrivateKey.generate()
    state.key_file.write_bytes(theirs.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                    NoEncryption()))
    ours = state.device_key()
    assert ours.public_bytes_raw() == _raw_public(theirs)
    message = signed_message("b_1", "dev_1", [{"play_id": "p_1"}])
    assert ours.sign(message) == theirs.sign(message)  # Ed25519 is deterministic
    public = base64.b64encode(ours.public_bytes_raw()).decode()
    assert verify(public, message, sign(ours, message))
    assert not verify(public, message + b" ", sign(ours, message))


def test_a_new_key_is_made_once_kept_private_and_readable_by_cryptography(tmp_path):
    state = StateDir(tmp_path / "state").create()
    key = state.device_key()
    assert state.key_file.stat().st_mode & 0o777 == 0o600
    assert state.device_key().public_bytes_raw() == key.public_bytes_raw()  # not made again
    theirs = load_pem_private_key(state.key_file.read_bytes(), password=None)
    assert isinstance(theirs, Ed25519PrivateKey)
    assert _raw_public(theirs) == key.public_bytes_raw()
    assert state.key_file.read_bytes() == theirs.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                              NoEncryption())


def test_a_key_file_of_another_kind_says_what_to_do(tmp_path):
    state = StateDir(tmp_path / "state").create()
    other = ec.generate_private_key(ec.SECP256R1())
    for content in (other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
                    b"not a key at all\n"):
        state.key_file.write_bytes(content)
        with pytest.raises(ValueError, match="is not an Ed25519 key; remove it to make a new one"):
            state.device_key()
