"""The manifest's node JSON is written directly (``node_json``), not through ``json.dumps`` of a dict per
node: it must be the very text ``json.dumps`` gives, for every node a snapshot can hold. The stored form is
written a node at a time (``ManifestWriter``) and read a piece of text at a time (``iter_manifest_nodes``):
any JSON ``json.loads`` reads, cut anywhere, gives the same snapshot."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data import manifest as manifest_mod
from vaultlink.data.crypto import Keys
from vaultlink.data.formats import _V, AAD_MANIFEST, ZSTD_LEVEL, _compressor, decompress
from vaultlink.data.manifest import (
    Manifest,
    ManifestWriter,
    Node,
    decode_manifest,
    encode_manifest,
    iter_manifest_nodes,
    node_json,
)
from vaultlink.errors import CorruptData

ints = st.integers(min_value=0, max_value=2**64)
paths = st.text(min_size=1, max_size=40)  # any unicode: quotes, backslashes, control characters, surrogates


@st.composite
def nodes(draw: st.DrawFn) -> Node:
    typ = draw(st.sampled_from(["file", "dir", "symlink"]))
    chunks: list[bytes] = []
    sizes: list[int] = []
    if typ == "file":
        k = draw(st.integers(min_value=0, max_value=4))
        chunks = [draw(st.binary(min_size=32, max_size=32)) for _ in range(k)]
        sizes = [draw(st.integers(min_value=1, max_value=2**23)) for _ in range(k)]
    target = draw(st.one_of(st.none(), paths)) if typ == "symlink" else None
    return Node(
        draw(paths), typ, draw(ints), draw(st.integers(min_value=-(2**63), max_value=2**63)), sum(sizes),
        target, chunks, sizes, draw(ints), draw(ints), draw(ints),
    )


@settings(max_examples=400, deadline=None)
@given(nodes())
def test_node_json_is_what_json_dumps_writes(n: Node) -> None:
    assert node_json(n) == json.dumps(n.to_json(), separators=(",", ":"), sort_keys=True)


KEYS = Keys.generate()


def _text(sealed: bytes) -> bytes:
    return decompress(KEYS.open(memoryview(sealed)[1:], AAD_MANIFEST, "m"), "m")


def _seal(text: bytes) -> bytes:
    return _V + KEYS.seal(_compressor(ZSTD_LEVEL).compress(text), AAD_MANIFEST)


@settings(max_examples=30, deadline=None)
@given(st.lists(nodes(), max_size=1200), st.integers(min_value=1, max_value=600))
def test_the_manifest_text_is_what_json_dumps_writes(ns: list[Node], spool: int) -> None:
    """Written a node at a time (a spool that goes to a file past ``spool`` bytes), the stored text is the
    one ``json.dumps`` of the whole snapshot gives."""
    m = Manifest(time=1.5, hostname="h\u00e9", roots=["/r"], nodes=ns, parent="p", tags={"k": "v"})
    w = ManifestWriter(spool_bytes=spool)
    for n in ns:
        w.add(n)
    text = _text(w.finish(KEYS, Manifest(1.5, "h\u00e9", ["/r"], [], "p", {"k": "v"})))
    assert text == json.dumps(m.to_json(), separators=(",", ":"), sort_keys=True).encode()
    assert text == _text(encode_manifest(KEYS, m))


@settings(max_examples=40, deadline=None)
@given(st.lists(nodes().filter(lambda n: n.type != "symlink" or n.target is not None), max_size=60),
       st.integers(min_value=1, max_value=97), st.booleans())
def test_read_a_piece_at_a_time_the_snapshot_is_the_same(ns: list[Node], piece: int, pretty: bool) -> None:
    """Any cut of the text (pieces of 1 byte and up, a number at a piece's end, UTF-8 split across pieces),
    any layout ``json.loads`` reads (spaces, newlines, keys in another order): the same nodes."""
    m = Manifest(time=1234.5, hostname="h\u00e9\u4e2d", roots=["/r"], nodes=ns, parent=None, tags={"k": "v"})
    if pretty:
        d = m.to_json()
        text = json.dumps({k: d[k] for k in reversed(d)}, indent=2, ensure_ascii=False).encode()
    else:
        text = json.dumps(m.to_json(), separators=(",", ":"), sort_keys=True).encode()
    sealed = _seal(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_mod, "_READ", piece)
        back = decode_manifest(KEYS, sealed)
        streamed = list(iter_manifest_nodes(KEYS, sealed))
    assert back == m
    assert streamed == ns


@pytest.mark.parametrize("text", [
    b'{"version":1,"roots":[],"time":1}',  # no nodes
    b'{"version":1,"roots":[],"nodes":5}',  # nodes not an array
    b'{"version":1,"roots":[],"nodes":[],"nodes":[]}',  # nodes twice
    b'{"version":1,"roots":[],"nodes":[]} x',  # more after the object
    b'{"version":1,"roots":[],"nodes":[{"path":"a","type":"dir","mode":1,"mtime_ns":1}',  # cut short
    b'{"version":1,"roots":[],"nodes":["\xff"]}',  # not UTF-8
])
def test_a_malformed_snapshot_is_refused_as_corrupt(text: bytes) -> None:
    with pytest.raises(CorruptData):
        decode_manifest(KEYS, _seal(text))
    with pytest.raises(CorruptData):
        list(iter_manifest_nodes(KEYS, _seal(text)))


@pytest.mark.parametrize("body", [b"", b"abc", b"not a zstd frame at all", b"\x28\xb5\x2f\xfd"])
def test_a_sealed_body_that_is_not_zstd_is_refused_as_corrupt(body: bytes) -> None:
    sealed = _V + KEYS.seal(body, AAD_MANIFEST)
    with pytest.raises(CorruptData):
        decode_manifest(KEYS, sealed)
    with pytest.raises(CorruptData):
        list(iter_manifest_nodes(KEYS, sealed))


def test_a_damaged_node_is_still_refused_as_corrupt() -> None:
    keys = Keys.generate()
    good = Node("r/f", "file", 0o644, 1, 5, None, [b"\x01" * 32], [5], 1, 0, 0)
    m = Manifest(time=1.0, hostname="h", roots=["/r"], nodes=[good])
    text = json.dumps(m.to_json(), separators=(",", ":"), sort_keys=True).encode().replace(b'"size":5', b'"size":6')
    sealed = _V + keys.seal(_compressor(ZSTD_LEVEL).compress(text), AAD_MANIFEST)
    with pytest.raises(CorruptData, match="add up to 5"):
        decode_manifest(keys, sealed)


TRICKY = ['a},{"b', 'a},{', '},{"', '{"x":1},{"', 'z\\', 'q"},{"path":"evil","type":"dir","mode":1,"mtime_ns":1}']


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=40), st.integers(min_value=40, max_value=4000))
def test_node_runs_decoded_at_once_are_the_nodes_read_one_by_one(names: list[str], piece: int) -> None:
    """Nodes are decoded a run at a time where ``},{"`` follows one: paths that hold those characters (or end
    in them), and nodes with arrays of objects, decode exactly as one value at a time does."""
    ns = [Node(f"r/{i}{s}", "dir", 0o755, i, inode=i) for i, s in enumerate(names)]
    m = Manifest(time=1.0, hostname="h", roots=["/r"], nodes=ns)
    d = m.to_json()
    d["nodes"][0]["extra"] = [{"k": "},{\""}, {"k": 2}]  # an unknown key is ignored: a run must not break on it
    text = json.dumps(d, separators=(",", ":"), sort_keys=True).encode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(manifest_mod, "_READ", piece)
        assert list(iter_manifest_nodes(KEYS, _seal(text))) == ns
        assert decode_manifest(KEYS, _seal(text)).nodes == ns


def test_a_snapshot_of_many_nodes_is_decoded_a_run_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous snapshot of a backup of 100k files is read in runs, not one ``raw_decode`` per node."""
    ns = [Node(f"r/d{i // 1000}/f{i}", "file", 0o644, i, 5, None, [bytes([i % 256]) * 32], [5], i, 0, 0)
          for i in range(5000)]
    sealed = encode_manifest(KEYS, Manifest(time=1.0, hostname="h", roots=["/r"], nodes=ns))
    calls = 0
    value = manifest_mod._Text.value

    def counted(self: manifest_mod._Text) -> object:
        nonlocal calls
        calls += 1
        return value(self)

    monkeypatch.setattr(manifest_mod._Text, "value", counted)
    assert list(iter_manifest_nodes(KEYS, sealed)) == ns
    assert calls < 100, f"{calls} values read one at a time for 5000 nodes"


def test_a_large_snapshot_is_finished_in_one_buffer_of_its_size() -> None:
    """The nodes' spool is a file past a megabyte, and ``finish`` compresses and seals a piece at a time into one
    buffer: no list of pieces, joined copy, sealed copy or prefixed copy beside it (at 100k files those were 18 MB
    at the end of every backup, with the 5 MB spool in memory all along)."""
    import os
    import tracemalloc

    keys = Keys.generate()
    w = ManifestWriter()
    tracemalloc.start()
    try:
        for i in range(40_000):
            w.add(Node(f"/d/{i // 1000:03d}/f{i:06d}", "file", 0o100644, 10**18 + i, 4096, None, [os.urandom(32)],
                       [4096], i, 0, 0))
        spooled, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sealed = w.finish(keys, Manifest(time=1.0, hostname="h", roots=["/d"], nodes=[]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sealed) > 1_500_000
    assert spooled < 1_300_000, f"{spooled} bytes held while nodes were added"
    held = peak - spooled  # besides the sealed form: a piece of text read and its compressed form
    assert held < 1.2 * len(sealed) + (2 << 20), f"finish held {held / len(sealed):.1f} x the snapshot"
    assert [n.path for n in iter_manifest_nodes(keys, bytes(sealed))][-1] == "/d/039/f039999"
