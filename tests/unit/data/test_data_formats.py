"""Golden vectors and round trips for every format (regenerate: VAULTLINK_REGEN_GOLDEN=1 pytest this file)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data import formats as f
from vaultlink.data import manifest as mf
from vaultlink.data.crypto import Keys, create_key_file, open_key_file
from vaultlink.errors import CorruptData

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "data"
KEYS = Keys(bytes(range(32)), bytes(range(32, 64)), 42)
PASS = "golden vector passphrase"
TEXT = b"vaultlink golden vector " * 64
RAW = bytes(range(200))


def _ids() -> tuple[bytes, bytes]:
    return KEYS.chunk_id(TEXT), KEYS.chunk_id(RAW)


def _manifest() -> mf.Manifest:
    a, b = _ids()
    return mf.Manifest(
        time=1_700_000_000.5,
        hostname="host1",
        roots=["/srv/data"],
        parent=None,
        tags={"job": "nightly"},
        nodes=[
            mf.Node("data", "dir", 0o755, 1_700_000_000_000_000_000, inode=2),
            mf.Node(
                "data/a.txt",
                "file",
                0o644,
                1_700_000_000_000_000_001,
                size=len(TEXT) + len(RAW),
                chunks=[a, b],
                sizes=[len(TEXT), len(RAW)],
                inode=3,
                uid=1000,
                gid=1000,
            ),
            mf.Node("data/link", "symlink", 0o777, 1_700_000_000_000_000_002, target="a.txt", inode=4),
        ],
    )


def vectors() -> dict[str, bytes]:
    a, b = _ids()
    ca = f.encode_chunk(KEYS, a, TEXT, nonce=b"\x01" * 12)
    cb = f.encode_chunk(KEYS, b, RAW, nonce=b"\x02" * 12)
    pack = f.encode_pack(KEYS, [(a, ca), (b, cb)], nonce=b"\x03" * 12)
    entries = f.decode_pack(KEYS, pack)
    return {
        "keyfile.bin": create_key_file(PASS, KEYS, log_n=10, salt=b"s" * 16, nonce=b"\x04" * 12)[0],
        "chunk_zstd.bin": ca,
        "chunk_raw.bin": cb,
        "pack.bin": pack,
        "index.bin": f.encode_index(KEYS, {f.content_name("packs", pack): entries}, nonce=b"\x05" * 12),
        "manifest.bin": mf.encode_manifest(KEYS, _manifest(), nonce=b"\x06" * 12),
    }


if os.environ.get("VAULTLINK_REGEN_GOLDEN") == "1":  # pragma: no cover - maintenance
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for _name, _data in vectors().items():
        (GOLDEN / _name).write_bytes(_data)


@pytest.mark.parametrize("name", sorted(vectors()))
def test_encoders_reproduce_golden_bytes(name: str) -> None:
    assert vectors()[name] == (GOLDEN / name).read_bytes(), (
        f"{name} changed: a format change needs a new version"
    )


def test_golden_vectors_decode() -> None:
    a, b = _ids()
    g = {p.name: p.read_bytes() for p in GOLDEN.glob("*.bin")}
    k = open_key_file(g["keyfile.bin"], PASS)
    assert (k.data_key, k.id_key, k.chunker_seed) == (KEYS.data_key, KEYS.id_key, 42)
    assert f.decode_chunk(KEYS, a, g["chunk_zstd.bin"]) == TEXT
    assert len(g["chunk_zstd.bin"]) < len(TEXT) // 4  # compressed
    assert f.decode_chunk(KEYS, b, g["chunk_raw.bin"]) == RAW
    entries = f.decode_pack(KEYS, g["pack.bin"])
    assert [e.chunk_id for e in entries] == [a, b]
    pack_name = f.content_name("packs", g["pack.bin"])
    assert f.decode_index(KEYS, g["index.bin"]) == {pack_name: entries}
    assert mf.decode_manifest(KEYS, g["manifest.bin"]) == _manifest()


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 1]) + data[pos + 1 :]


BAD: list[tuple[str, Callable[[bytes], object]]] = [
    ("chunk_zstd.bin", lambda d: f.decode_chunk(KEYS, _ids()[0], d, "chunk X")),
    ("pack.bin", lambda d: f.decode_pack(KEYS, d, "packs/p1")),
    ("index.bin", lambda d: f.decode_index(KEYS, d, "index/i1")),
    ("manifest.bin", lambda d: mf.decode_manifest(KEYS, d, "snapshots/s1")),
]


@pytest.mark.parametrize("name,decode", BAD)
def test_damage_is_detected_and_named(name: str, decode: Callable[[bytes], object]) -> None:
    data = (GOLDEN / name).read_bytes()
    label = {"chunk_zstd.bin": "chunk X", "pack.bin": "packs/p1", "index.bin": "index/i1"}.get(
        name, "snapshots/s1"
    )
    # a pack's structure is its magic, header and trailer (chunks are verified when read)
    middle = len(data) - 30 if name == "pack.bin" else len(data) // 2
    for pos in (middle, len(data) - 7, 0):
        with pytest.raises(CorruptData, match=label):
            decode(_flip(data, pos))
    with pytest.raises(CorruptData):
        decode(data[: len(data) // 3])


def test_wrong_chunk_id_is_refused() -> None:
    _a, b = _ids()
    with pytest.raises(CorruptData):
        f.decode_chunk(KEYS, b, (GOLDEN / "chunk_zstd.bin").read_bytes())


def test_incompressible_chunks_are_stored_raw() -> None:
    data = os.urandom(100_000)
    blob = f.encode_chunk(KEYS, KEYS.chunk_id(data), data)
    assert len(blob) == 1 + 12 + 1 + len(data) + 16


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=50_000), st.sampled_from([None, 1, 3]))
def test_property_chunk_roundtrip(data: bytes, level: int | None) -> None:
    cid = KEYS.chunk_id(data)
    assert f.decode_chunk(KEYS, cid, f.encode_chunk(KEYS, cid, data, level)) == data


node_st = st.builds(
    mf.Node,
    path=st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
    type=st.just("dir"),
    mode=st.integers(0, 0o7777),
    mtime_ns=st.integers(-(2**62), 2**62),
    inode=st.integers(0, 2**63),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(node_st, max_size=20), st.text(max_size=20))
def test_property_manifest_roundtrip(nodes: list[mf.Node], host: str) -> None:
    m = mf.Manifest(time=1.5, hostname=host, roots=["/r"], nodes=nodes)
    assert mf.decode_manifest(KEYS, mf.encode_manifest(KEYS, m)) == m


@settings(max_examples=40, deadline=None)
@given(st.lists(node_st, max_size=20), st.text(max_size=20), st.one_of(st.none(), st.text(max_size=10)),
       st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
def test_property_manifest_json_is_written_in_pieces_exactly_as_one_dump(
    nodes: list[mf.Node], host: str, parent: str | None, tags: dict[str, str]
) -> None:
    """encode_manifest writes the JSON a node at a time (100k files never exist as one big dict and string):
    the stored text is byte for byte json.dumps of the whole, whatever the hostname, parent and tags hold."""
    import json

    from vaultlink.data.formats import AAD_MANIFEST, decompress

    m = mf.Manifest(time=1.5, hostname=host, roots=["r"], nodes=nodes, parent=parent, tags=tags)
    sealed = mf.encode_manifest(KEYS, m)
    text = decompress(KEYS.open(memoryview(sealed)[1:], AAD_MANIFEST, "m"), "m")
    assert text == json.dumps(m.to_json(), separators=(",", ":"), sort_keys=True).encode()


def test_a_large_manifest_round_trips_through_the_streamed_frame() -> None:
    nodes = [mf.Node(f"r/d{i // 100}/f{i}", "file", 0o644, i, 10, None, [bytes([i % 256]) * 32], [10], i)
             for i in range(5000)]
    m = mf.Manifest(time=2.0, hostname="h", roots=["r"], nodes=nodes)
    assert mf.decode_manifest(KEYS, mf.encode_manifest(KEYS, m)) == m


def _sealed_json(text: bytes) -> bytes:
    return f._V + KEYS.seal(f.compress(text), f.AAD_MANIFEST)


def test_manifest_decoding_node_by_node_takes_what_json_takes_and_refuses_the_rest() -> None:
    """decode_manifest reads the nodes array one element at a time (a restore of 100k files never holds
    100k dicts at once): any key order, whitespace and a repeated key decode as json.loads would, but for
    ``nodes`` (read as it comes, so it may come once); broken, truncated, trailing or nested-too-deep JSON is
    CorruptData, never a crash."""
    import json

    node = {"path": "r/a", "type": "file", "mode": 420, "mtime_ns": 5, "size": 3, "chunks": [["ab" * 32, 3]],
            "inode": 1, "uid": 0, "gid": 0}
    doc = {"version": f.VERSION, "time": 2.5, "hostname": "h", "roots": ["r"], "parent": None, "tags": {"k": "v"},
           "nodes": [node, dict(node, path="r/b")]}
    want = mf.decode_manifest(KEYS, _sealed_json(json.dumps(doc, sort_keys=True).encode()))
    spaced = json.dumps(dict(reversed(list(doc.items()))), indent=2).encode()  # other order, whitespace
    assert mf.decode_manifest(KEYS, _sealed_json(spaced)) == want
    assert [n.path for n in want.nodes] == ["r/a", "r/b"] and want.tags == {"k": "v"}
    twice = b'{"nodes": [], "version": %d, "roots": ["r"], "nodes": [%s]}' % (f.VERSION, json.dumps(node).encode())
    with pytest.raises(CorruptData, match="nodes twice"):
        mf.decode_manifest(KEYS, _sealed_json(twice))
    again = b'{"roots": [], "roots": ["r"], "nodes": [], "version": %d}' % f.VERSION
    assert mf.decode_manifest(KEYS, _sealed_json(again)).roots == ["r"]
    empty = b'{"nodes":[],"roots":[],"version":%d}' % f.VERSION
    assert mf.decode_manifest(KEYS, _sealed_json(empty)).nodes == []
    good = json.dumps(doc).encode()
    for broken in (good[:-1], good + b"x", good.replace(b'"nodes": [', b'"nodes": [1, '), b"[]", b"{}",
                   b'{"nodes": 5, "roots": [], "version": %d}' % f.VERSION,
                   b'{"nodes": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", b'{"nodes" [],}', b"\xff\xfe"):
        with pytest.raises(CorruptData):
            mf.decode_manifest(KEYS, _sealed_json(broken))


def test_seal_into_is_prefix_and_seal_with_the_same_nonce() -> None:
    data = memoryview(os.urandom(70_000))
    out = bytearray()
    with KEYS.seal_flagged_into(out, b"\x01", b"", data, b"aad", nonce=b"\x07" * 12) as view:
        sealed = bytes(view)
    assert isinstance(out, bytearray)
    assert bytes(sealed) == b"\x01" + KEYS.seal(data, b"aad", nonce=b"\x07" * 12)
    assert KEYS.open_view(memoryview(sealed)[1:], b"aad", "x") == data


def test_stored_chunk_opens_as_a_view_and_tampering_is_refused() -> None:
    data = os.urandom(300_000)  # incompressible: stored raw
    cid = KEYS.chunk_id(data)
    blob = f.encode_chunk(KEYS, cid, memoryview(data))
    out = f.open_chunk(KEYS, cid, blob)
    assert isinstance(out, memoryview) and out == data  # no copy out of the decrypted body
    assert isinstance(f.decode_chunk(KEYS, cid, blob), bytes)
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(CorruptData, match="authentication failed"):
        f.open_chunk(KEYS, cid, bad)
    with pytest.raises(CorruptData, match="too short"):
        KEYS.open_view(b"short", b"", "x")


def test_chunks_sealed_into_one_kept_buffer_equal_the_one_shot_form() -> None:
    """``encode_chunk_into`` seals a chunk in two parts (flag, payload) into a buffer kept from chunk to chunk:
    the bytes are those of sealing the joined body at once, whatever the buffer held before, on both sides of
    ``STREAM_SEAL`` and for compressed and stored chunks alike."""
    import random

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from vaultlink.data.crypto import STREAM_SEAL
    from vaultlink.data.formats import _V, compress, decode_chunk, encode_chunk_into

    rnd = random.Random(5)
    out = bytearray()
    for size in (STREAM_SEAL * 3, 100, STREAM_SEAL - 1, STREAM_SEAL, 5 << 20, 1, 70_000):
        for data in (rnd.randbytes(size), b"v" * size):
            cid, nonce = KEYS.chunk_id(data), rnd.randbytes(12)
            with encode_chunk_into(KEYS, cid, data, out, 3, nonce) as view:
                got = bytes(view)
            z = compress(data, 3) if size >= 64 else data
            body = b"\x01" + z if len(z) < size - (size >> 5) else b"\x00" + data
            assert got == _V + nonce + AESGCM(KEYS.data_key).encrypt(nonce, body, _V + cid)
            assert decode_chunk(KEYS, cid, got) == data
    assert len(out) >= (5 << 20)  # kept at the largest chunk sealed into it
