"""A container's chunk index as the service hands it to an agent (``GET /chunks``), in binary.

An agent loads its container's whole index before a backup or a restore. As JSON the answer was base64 text in
one document (53 MB at a million chunks), encoded on the server's event loop and decoded again by the agent.
Asked with ``accept: INDEX_MEDIA``, the service answers a run of packs instead, built in the handler's thread::

    pack := u16 len(account) | account | u16 len(pack) | pack | u32 len(records) | records

names in ASCII, integers little-endian, ``records`` the pack's ``CHUNK_RECORD``s (40 bytes each: id, offset,
length). Pure: no I/O, imported by the agent and the service alike.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from vaultlink.ports import CHUNK_RECORD, PackRecords

INDEX_MEDIA = "application/vnd.vaultlink.chunk-index"
_HEAD = struct.Struct("<H")
_LEN = struct.Struct("<I")


def encode_index(packs: Iterable[PackRecords]) -> bytes:
    """The answer for ``packs`` (storage account, pack, records), in their order."""
    parts: list[bytes] = []
    for account, pack, records in packs:
        a, p = account.encode("ascii"), pack.encode("ascii")
        if len(a) > 0xFFFF or len(p) > 0xFFFF or len(records) % CHUNK_RECORD.size:
            raise ValueError(f"pack {pack!r} of {account!r} cannot be encoded")
        parts += (_HEAD.pack(len(a)), a, _HEAD.pack(len(p)), p, _LEN.pack(len(records)), records)
    return b"".join(parts)


def decode_index(data: bytes) -> Iterator[PackRecords]:
    """The packs of an answer in order; ``ValueError`` (saying where) for anything that is not one."""
    view, pos, end = memoryview(data), 0, len(data)
    while pos < end:
        account, pos = _name(view, pos, end)
        pack, pos = _name(view, pos, end)
        if pos + 4 > end:
            raise ValueError(f"the chunk index answer ends inside pack {pack!r}")
        (n,) = _LEN.unpack_from(view, pos)
        pos += 4
        if n % CHUNK_RECORD.size or pos + n > end:
            raise ValueError(f"pack {pack!r} of the chunk index answer has {n} bytes of records, not whole "
                             f"{CHUNK_RECORD.size}-byte records within the answer")
        yield account, pack, bytes(view[pos : pos + n])
        pos += n


def _name(view: memoryview, pos: int, end: int) -> tuple[str, int]:
    if pos + 2 > end:
        raise ValueError(f"the chunk index answer ends inside a name at byte {pos}")
    (n,) = _HEAD.unpack_from(view, pos)
    pos += 2
    if not n or pos + n > end:
        raise ValueError(f"a name of {n} bytes at byte {pos} does not fit the chunk index answer")
    try:
        return str(view[pos : pos + n], "ascii"), pos + n
    except UnicodeDecodeError:
        raise ValueError(f"the name at byte {pos} of the chunk index answer is not ASCII") from None
