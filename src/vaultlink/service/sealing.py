"""Secrets the service must read back (AWS secret access keys, later the CA's private key), sealed at rest
with AES-256-GCM under the deployment's sealing key (``Service.sealing_key``: the config's
``sealing_key``, else ``<data dir>/sealing.key`` made at first start; ``bootstrap.sealing_key``).

Each sealed value is bound to what it belongs to (``aad``: the record kind and id), so a sealed secret
copied onto another record does not open there.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vaultlink.errors import ServiceUnavailable

VERSION = "v1"
KEY_BYTES = 32


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(12)
    blob = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    return f"{VERSION}:{base64.b64encode(blob).decode('ascii')}"


def unseal(key: bytes, sealed: str, aad: bytes) -> bytes:
    """The plaintext; ``ServiceUnavailable`` when this server's sealing key is not the one that sealed it."""
    version, _, text = sealed.partition(":")
    try:
        if version != VERSION:
            raise ValueError(version)
        blob = base64.b64decode(text, validate=True)
        return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
    except (ValueError, InvalidTag) as exc:
        raise ServiceUnavailable(
            "a sealed secret does not open with this server's sealing key: every server of a deployment needs "
            "the same `sealing_key` in its config (or the same <data dir>/sealing.key)."
        ) from exc
