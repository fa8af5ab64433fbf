"""Wire formats of the backup data: chunk, pack, pack index, snapshot manifest.

Every object starts (or, for packs, ends) with a version byte; every decoder
raises ``CorruptData`` naming the object and what is wrong. Golden vectors live
in ``tests/golden/data``. All integers are little-endian.

chunk (inside a pack)::

    0x01 | seal(flag u8 | payload, aad = 0x01 | chunk_id)      flag 0 raw, 1 zstd

pack ``packs/<blake3 hex of the whole pack>``::

    b"VLPK" 0x01 | chunk... | seal(header, aad=b"vaultlink pack header v1") | header_len u32 | 0x01
    header = count u32 | (chunk_id[32] | offset u32 | length u32) * count

index ``index/<blake3 hex>``::

    0x01 | seal(zstd(body), aad = b"vaultlink index v1")
    body = npacks u32 | (pack_hash[32] | count u32 | (chunk_id[32] | offset u32 | length u32) * count) * n

manifest ``snapshots/<blake3 hex>``::

    0x01 | seal(zstd(json), aad = b"vaultlink manifest v1")     (json: see ``Manifest.to_json``)
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import blake3
import zstandard

from vaultlink.data.crypto import ID_SIZE, Keys
from vaultlink.errors import CorruptData, InvalidInput

VERSION = 1
_V = bytes([VERSION])
PACK_MAGIC = b"VLPK" + _V
PACK_TRAILER = struct.Struct("<IB")
AAD_PACK = b"vaultlink pack header v1"
AAD_INDEX = b"vaultlink index v1"
AAD_MANIFEST = b"vaultlink manifest v1"
ENTRY = struct.Struct("<32sII")
MAX_CHUNK = 16 * 1024 * 1024
# zstd level 2: on 1 MiB chunks of real data (Python sources, shared libraries, logs and documents) 28-42 % faster
# than level 3 for 1-5 % more stored bytes; the benchmark's repository stays no larger than restic's
# (bench/README-backup.md, 2026-12-05 evening); ``vaultlink agent backup --compression-level`` picks another
ZSTD_LEVEL = 2
_local = threading.local()


def content_name(prefix: str, data: bytes | bytearray | memoryview) -> str:
    """``prefix/<blake3 hex>`` — the content address of a stored object."""
    return f"{prefix}/{blake3.blake3(data).hexdigest()}"


def _compressor(level: int) -> zstandard.ZstdCompressor:
    comps: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "comps", None)
    if comps is None:
        comps = _local.comps = {}
    c = comps.get(level)
    if c is None:
        c = comps[level] = zstandard.ZstdCompressor(level=level)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "dec", None)
    if d is None:
        d = _local.dec = zstandard.ZstdDecompressor()
    return d


def check_level(level: int) -> None:
    """``InvalidInput`` unless ``level`` is a chunk compression level: 0 (stored uncompressed) or one of zstd's
    levels 1-19."""
    if not 0 <= level <= 19:
        raise InvalidInput(f"--compression-level must be 0 (none) to 19, not {level}; nothing was backed up.",
                           field="compression_level")


def compress(data: bytes | memoryview, level: int = ZSTD_LEVEL) -> bytes:
    return _compressor(level).compress(data)


def content_size(data: bytes | memoryview, what: str, limit: int = 1 << 30) -> int:
    """The size a zstd frame states it decompresses to, or ``CorruptData`` (none stated, over ``limit``)."""
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise CorruptData(f"{what}: zstd: {e}", object=what) from None
    if size < 0 or size > limit:
        raise CorruptData(f"{what}: implausible decompressed size {size}", object=what)
    return int(size)


def decompress(data: bytes | memoryview, what: str, limit: int = 1 << 30) -> bytes:
    content_size(data, what, limit)
    try:
        return _decompressor().decompress(data)
    except zstandard.ZstdError as e:
        raise CorruptData(f"{what}: zstd: {e}", object=what) from None


# --- chunk -----------------------------------------------------------------------------------------------
def encode_chunk(
    keys: Keys,
    chunk_id: bytes,
    data: bytes | memoryview,
    level: int | None = ZSTD_LEVEL,
    nonce: bytes | None = None,
) -> bytearray:
    """Compress (when it saves at least 1/32) and seal one chunk. ``level=None`` disables compression."""
    out = bytearray()
    with encode_chunk_into(keys, chunk_id, data, out, level, nonce) as view:
        n = len(view)
    del out[n:]
    return out


def encode_chunk_into(
    keys: Keys,
    chunk_id: bytes,
    data: bytes | memoryview,
    out: bytearray,
    level: int | None = ZSTD_LEVEL,
    nonce: bytes | None = None,
) -> memoryview:
    """:func:`encode_chunk` written into ``out`` (a buffer the caller keeps, grown as needed), returned as a
    view of the bytes written (release it before ``out`` is used again). The only new buffer of the chunk's
    size is the compressed one."""
    flag, payload = b"\x00", data
    if level is not None and len(data) >= 64:
        z = compress(data, level)
        if len(z) < len(data) - (len(data) >> 5):
            flag, payload = b"\x01", z
    return keys.seal_flagged_into(out, _V, flag, payload, _V + chunk_id, nonce)


def decode_chunk(keys: Keys, chunk_id: bytes, blob: bytes | memoryview, what: str = "chunk") -> bytes:
    """Open, decompress and verify a chunk: the recomputed keyed id must equal ``chunk_id``."""
    body = keys.open(_sealed_chunk(blob, what), _V + chunk_id, what)
    return bytes(_unpack_chunk(keys, chunk_id, body, what))  # a stored chunk: its slice of ``body``, one copy


def open_chunk(keys: Keys, chunk_id: bytes, blob: bytes | memoryview, what: str = "chunk") -> bytes | memoryview:
    """:func:`decode_chunk` without copying a stored (uncompressed) chunk's bytes out of its decrypted body:
    a view of them (a restore writes it and lets it go)."""
    body = keys.open_view(_sealed_chunk(blob, what), _V + chunk_id, what)
    return _unpack_chunk(keys, chunk_id, body, what)


def _sealed_chunk(blob: bytes | memoryview, what: str) -> memoryview:
    if len(blob) < 1 or blob[0] != VERSION:
        raise CorruptData(f"{what}: unsupported chunk version {blob[0] if len(blob) else None}", object=what)
    return memoryview(blob)[1:]


def _unpack_chunk(keys: Keys, chunk_id: bytes, body: bytes | memoryview, what: str) -> bytes | memoryview:
    """A decrypted chunk body's data (a slice of ``body`` if stored, else decompressed), its id verified."""
    if not body:
        raise CorruptData(f"{what}: empty chunk body", object=what)
    flag = body[0]
    data: bytes | memoryview
    if flag == 0:
        data = body[1:]
    elif flag == 1:
        data = decompress(memoryview(body)[1:], what, MAX_CHUNK)
    else:
        raise CorruptData(f"{what}: unknown compression flag {flag}", object=what)
    if keys.chunk_id(data) != chunk_id:
        raise CorruptData(f"{what}: content does not match its id", object=what)
    return data


# --- pack ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackEntry:
    """One chunk inside a pack: its id and byte range."""

    chunk_id: bytes
    offset: int
    length: int


def _encode_entries(entries: Iterable[PackEntry]) -> bytes:
    items = list(entries)
    return struct.pack("<I", len(items)) + b"".join(ENTRY.pack(e.chunk_id, e.offset, e.length) for e in items)


def _decode_entries(buf: memoryview, pos: int, what: str) -> tuple[list[PackEntry], int]:
    if pos + 4 > len(buf):
        raise CorruptData(f"{what}: truncated entry count", object=what)
    (count,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    end = pos + count * ENTRY.size
    if end > len(buf):
        raise CorruptData(f"{what}: {count} entries announced, data truncated", object=what)
    out = [PackEntry(*ENTRY.unpack_from(buf, pos + i * ENTRY.size)) for i in range(count)]
    return out, end


def encode_pack_tail(keys: Keys, entries: list[PackEntry], nonce: bytes | None = None) -> bytes:
    """The sealed header plus trailer, appended after the chunks."""
    sealed = keys.seal(_encode_entries(entries), AAD_PACK, nonce)
    return sealed + PACK_TRAILER.pack(len(sealed), VERSION)


def encode_pack(keys: Keys, chunks: list[tuple[bytes, bytes]], nonce: bytes | None = None) -> bytes:
    """A whole pack from ``(chunk_id, encoded chunk)`` pairs (for tests and tools)."""
    parts = [PACK_MAGIC]
    entries = []
    pos = len(PACK_MAGIC)
    for cid, blob in chunks:
        entries.append(PackEntry(cid, pos, len(blob)))
        parts.append(blob)
        pos += len(blob)
    parts.append(encode_pack_tail(keys, entries, nonce))
    return b"".join(parts)


def pack_header_length(trailer: bytes, pack_size: int, what: str) -> int:
    """Length of the sealed header, from the last 5 bytes of a pack."""
    if len(trailer) != PACK_TRAILER.size:
        raise CorruptData(f"{what}: truncated trailer", object=what)
    hlen, version = PACK_TRAILER.unpack(trailer)
    if version != VERSION:
        raise CorruptData(f"{what}: unsupported pack version {version}", object=what)
    if hlen + PACK_TRAILER.size + len(PACK_MAGIC) > pack_size:
        raise CorruptData(f"{what}: header length {hlen} exceeds the pack", object=what)
    return int(hlen)


def decode_pack_header(keys: Keys, sealed: bytes, data_end: int, what: str) -> list[PackEntry]:
    """Entries from a sealed header; every range must lie within ``[5, data_end)``."""
    entries, _end = _decode_entries(memoryview(keys.open(sealed, AAD_PACK, what)), 0, what)
    for e in entries:
        if len(e.chunk_id) != ID_SIZE or e.offset < len(PACK_MAGIC) or e.offset + e.length > data_end:
            raise CorruptData(f"{what}: chunk range {e.offset}+{e.length} outside the pack", object=what)
    return entries


def decode_pack(keys: Keys, data: bytes, what: str = "pack") -> list[PackEntry]:
    """Check the magic and trailer of a whole pack and return its entries."""
    if data[: len(PACK_MAGIC)] != PACK_MAGIC:
        raise CorruptData(f"{what}: bad magic or unsupported version", object=what)
    hlen = pack_header_length(data[-PACK_TRAILER.size :], len(data), what)
    start = len(data) - PACK_TRAILER.size - hlen
    return decode_pack_header(keys, data[start : start + hlen], start, what)


# --- index -----------------------------------------------------------------------------------------------
def encode_index(keys: Keys, packs: Mapping[str, Sequence[PackEntry] | bytes], nonce: bytes | None = None) -> bytes:
    """Seal the entries of several packs (keys are names ``packs/<hex>``; entries as ``PackEntry``s, or
    already ``ENTRY``-packed bytes)."""
    parts = [struct.pack("<I", len(packs))]
    for name in sorted(packs):
        parts.append(bytes.fromhex(name.rpartition("/")[2]))
        entries = packs[name]
        if isinstance(entries, bytes):
            parts += [struct.pack("<I", len(entries) // ENTRY.size), entries]
        else:
            parts.append(_encode_entries(entries))
    return _V + keys.seal(compress(b"".join(parts)), AAD_INDEX, nonce)


def decode_index(keys: Keys, data: bytes, what: str = "index") -> dict[str, list[PackEntry]]:
    return {name: [PackEntry(*t) for t in ENTRY.iter_unpack(raw)] for name, raw in index_entries(keys, data, what)}


def index_entries(keys: Keys, data: bytes, what: str = "index") -> list[tuple[str, bytes]]:
    """An index file's packs and each one's entries, ``ENTRY``-packed (no object per entry)."""
    if len(data) < 1 or data[0] != VERSION:
        raise CorruptData(f"{what}: unsupported index version", object=what)
    body = memoryview(decompress(keys.open(memoryview(data)[1:], AAD_INDEX, what), what))
    if len(body) < 4:
        raise CorruptData(f"{what}: truncated", object=what)
    (npacks,) = struct.unpack_from("<I", body, 0)
    pos = 4
    out: dict[str, bytes] = {}
    for _ in range(npacks):
        if pos + 36 > len(body):
            raise CorruptData(f"{what}: truncated pack name", object=what)
        name = "packs/" + bytes(body[pos : pos + 32]).hex()
        (count,) = struct.unpack_from("<I", body, pos + 32)
        pos += 36
        if pos + count * ENTRY.size > len(body):
            raise CorruptData(f"{what}: {count} entries announced, data truncated", object=what)
        out[name] = bytes(body[pos : pos + count * ENTRY.size])  # a repeated pack: the last wins, as before
        pos += count * ENTRY.size
    if pos != len(body):
        raise CorruptData(f"{what}: {len(body) - pos} trailing bytes", object=what)
    return list(out.items())
