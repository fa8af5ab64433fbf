"""Keys, chunk ids, authenticated encryption and the key file.

- Chunk ids are keyed BLAKE3 (32 bytes) of the plaintext, keyed with the
  vault's *id key*: the service sees ids but cannot test guesses of content.
- Objects are sealed with AES-256-GCM under the *data key*, a random 96-bit
  nonce per object, and associated data binding the ciphertext to its role
  (for chunks: the chunk id, so a chunk cannot be swapped for another).
- The key file holds the random master keys wrapped by a key derived from the
  passphrase (scrypt). The passphrase never leaves the client.

Key file (version 1)::

    b"VLKEY" | 0x01 | log2(n) u8 | r u8 | p u8 | salt[16] | nonce[12] | seal(payload)
    payload = data_key[32] | id_key[32] | chunker_seed u64-le
    associated data = everything before the sealed payload
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from vaultlink.errors import CorruptData, PassphraseTooShort, WrongPassphrase

NONCE_SIZE = 12
TAG_SIZE = 16
ID_SIZE = 32
MIN_PASSPHRASE = 16
STREAM_SEAL = 64 * 1024  # payloads from this size are sealed in two parts (no joined copy); smaller ones joined
KEYFILE_MAGIC = b"VLKEY"
KEYFILE_VERSION = 1
DEFAULT_SCRYPT_LOG_N = 15  # n = 32768, r = 8: 32 MiB and ~0.1 s per unlock
_KEYFILE_HEAD = struct.Struct("<5sBBBB16s12s")
_PAYLOAD = struct.Struct("<32s32sQ")


@dataclass(frozen=True, repr=False)
class Keys:
    """The vault's master keys. ``repr`` never shows key material."""

    data_key: bytes
    id_key: bytes
    chunker_seed: int

    def __post_init__(self) -> None:
        if len(self.data_key) != 32 or len(self.id_key) != 32:
            raise ValueError("data_key and id_key must be 32 bytes")
        object.__setattr__(self, "_aead", AESGCM(self.data_key))

    def __repr__(self) -> str:
        return "Keys(<hidden>)"

    @classmethod
    def generate(cls) -> Keys:
        """Fresh random keys (and a random chunker seed, hiding chunk boundaries)."""
        seed = int.from_bytes(os.urandom(8), "little") or 1
        return cls(os.urandom(32), os.urandom(32), seed)

    def chunk_id(self, data: bytes | memoryview) -> bytes:
        """Keyed BLAKE3 of ``data`` (32 bytes). Releases the GIL on large inputs."""
        return blake3.blake3(data, key=self.id_key).digest()

    def seal(self, plaintext: bytes | memoryview, aad: bytes, nonce: bytes | None = None) -> bytes:
        """``nonce | ciphertext | tag``. ``nonce`` is random unless given (golden vectors only)."""
        n = nonce if nonce is not None else os.urandom(NONCE_SIZE)
        aead: AESGCM = self._aead  # type: ignore[attr-defined]
        return n + aead.encrypt(n, plaintext, aad)

    def sealer(self, prefix: bytes, aad: bytes, nonce: bytes | None = None) -> Sealer:
        """``prefix | seal(plaintext)`` made as the plaintext comes, a piece at a time (``Sealer``)."""
        return Sealer(self.data_key, prefix, aad, nonce if nonce is not None else os.urandom(NONCE_SIZE))

    def seal_flagged_into(self, out: bytearray, prefix: bytes, flag: bytes, payload: bytes | memoryview,
                          aad: bytes, nonce: bytes | None = None) -> memoryview:
        """``prefix | seal(flag + payload)`` written into ``out`` (grown when too short, never shrunk: a buffer a
        thread keeps for every chunk it seals) and returned as a view of the bytes written: the joined
        plaintext is never made, and neither is a buffer for the sealed bytes (two buffers of a chunk's size
        fewer per chunk, which a backup's heap otherwise fragments into)."""
        n = nonce if nonce is not None else os.urandom(NONCE_SIZE)
        head = len(prefix) + NONCE_SIZE
        end = head + len(flag) + len(payload)
        if len(out) < end + TAG_SIZE + 15:  # update_into wants a block's slack past its output
            out.extend(bytes(end + TAG_SIZE + 15 - len(out)))
        view = memoryview(out)
        try:
            view[:head] = prefix + n
            if len(payload) < STREAM_SEAL:  # one call: the GCM object's set-up would cost more than the copy
                aead: AESGCM = self._aead  # type: ignore[attr-defined]
                aead.encrypt_into(n, flag + bytes(payload), aad, view[head:end + TAG_SIZE])
            else:
                enc = Cipher(algorithms.AES(self.data_key), modes.GCM(n)).encryptor()
                enc.authenticate_additional_data(aad)
                enc.update_into(flag, view[head:])
                enc.update_into(payload, view[head + len(flag):])
                enc.finalize()
                view[end:end + TAG_SIZE] = enc.tag
            return view[:end + TAG_SIZE]
        finally:
            view.release()

    def open_view(self, sealed: bytes | memoryview, aad: bytes, what: str) -> memoryview:
        """:meth:`open` decrypting into a buffer of its own, returned as a view (a caller slicing it copies
        nothing)."""
        mv = _sealed_view(sealed, what)
        out = bytearray(len(mv) - NONCE_SIZE - TAG_SIZE)
        aead: AESGCM = self._aead  # type: ignore[attr-defined]
        try:
            aead.decrypt_into(bytes(mv[:NONCE_SIZE]), mv[NONCE_SIZE:], aad, out)
        except InvalidTag:
            raise CorruptData(
                f"{what}: authentication failed (data altered or wrong key)", object=what
            ) from None
        return memoryview(out)

    def open(self, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
        """Inverse of :meth:`seal`; ``CorruptData`` naming ``what`` if it was altered."""
        mv = _sealed_view(sealed, what)
        aead: AESGCM = self._aead  # type: ignore[attr-defined]
        try:
            return aead.decrypt(bytes(mv[:NONCE_SIZE]), mv[NONCE_SIZE:], aad)
        except InvalidTag:
            raise CorruptData(
                f"{what}: authentication failed (data altered or wrong key)", object=what
            ) from None


class Sealer:
    """``prefix | nonce | ciphertext | tag`` (what ``prefix + Keys.seal`` gives) grown in one buffer as the plaintext
    comes: a snapshot of a million files (tens of megabytes) is never held twice, compressed and sealed."""

    def __init__(self, key: bytes, prefix: bytes, aad: bytes, nonce: bytes) -> None:
        self._out = bytearray(prefix + nonce)
        self._enc = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        self._enc.authenticate_additional_data(aad)

    def update(self, plaintext: bytes) -> None:
        self._out += self._enc.update(plaintext)

    def finish(self) -> bytearray:
        self._out += self._enc.finalize()
        self._out += self._enc.tag
        return self._out


def _sealed_view(sealed: bytes | memoryview, what: str) -> memoryview:
    if len(sealed) < NONCE_SIZE + TAG_SIZE:
        raise CorruptData(f"{what}: sealed data too short ({len(sealed)} bytes)", object=what)
    return memoryview(sealed)


def check_passphrase(passphrase: str | None) -> str:
    """``passphrase`` itself, or ``PassphraseTooShort`` for none or one under 16 characters."""
    if not passphrase or len(passphrase) < MIN_PASSPHRASE:
        raise PassphraseTooShort(
            f"the encryption passphrase has {len(passphrase or '')} characters; it needs at least {MIN_PASSPHRASE}. "
            "Keep it safe: without it nobody (not even the service) can restore your data."
        )
    return passphrase


def _derive(passphrase: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def create_key_file(
    passphrase: str,
    keys: Keys | None = None,
    *,
    log_n: int = DEFAULT_SCRYPT_LOG_N,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> tuple[bytes, Keys]:
    """Wrap ``keys`` (fresh ones if ``None``) under ``passphrase``; returns (key file bytes, keys)."""
    check_passphrase(passphrase)
    if not 10 <= log_n <= 22:
        raise ValueError("scrypt log_n must be within [10, 22]")
    keys = keys or Keys.generate()
    salt = salt if salt is not None else os.urandom(16)
    nonce = nonce if nonce is not None else os.urandom(NONCE_SIZE)
    r, p = 8, 1
    head = _KEYFILE_HEAD.pack(KEYFILE_MAGIC, KEYFILE_VERSION, log_n, r, p, salt, nonce)
    wrap = AESGCM(_derive(passphrase, salt, log_n, r, p))
    payload = _PAYLOAD.pack(keys.data_key, keys.id_key, keys.chunker_seed)
    return head + wrap.encrypt(nonce, payload, head), keys


def open_key_file(data: bytes, passphrase: str, name: str = "key file") -> Keys:
    """Unwrap the keys; ``WrongPassphrase`` if the passphrase does not match, ``CorruptData`` if damaged."""
    check_passphrase(passphrase)
    expected = _KEYFILE_HEAD.size + _PAYLOAD.size + TAG_SIZE
    if len(data) < _KEYFILE_HEAD.size:
        raise CorruptData(f"{name}: truncated ({len(data)} bytes)", object=name)
    magic, version, log_n, r, p, salt, nonce = _KEYFILE_HEAD.unpack_from(data)
    if magic != KEYFILE_MAGIC:
        raise CorruptData(f"{name}: not a vaultlink key file (bad magic)", object=name)
    if version != KEYFILE_VERSION:
        raise CorruptData(f"{name}: unsupported key file version {version}", object=name)
    if len(data) != expected:
        raise CorruptData(f"{name}: wrong length {len(data)}, expected {expected}", object=name)
    if not (10 <= log_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise CorruptData(f"{name}: implausible scrypt parameters", object=name)
    head = data[: _KEYFILE_HEAD.size]
    try:
        payload = AESGCM(_derive(passphrase, salt, log_n, r, p)).decrypt(
            nonce, data[_KEYFILE_HEAD.size :], head
        )
    except InvalidTag:
        raise WrongPassphrase() from None
    data_key, id_key, seed = _PAYLOAD.unpack(payload)
    return Keys(data_key, id_key, seed)


def change_passphrase(data: bytes, old: str, new: str, *, log_n: int = DEFAULT_SCRYPT_LOG_N) -> bytes:
    """Re-wrap the same master keys under a new passphrase (data stays readable)."""
    keys = open_key_file(data, old)
    return create_key_file(new, keys, log_n=log_n)[0]
