"""The manifest's node JSON is written directly (``node_json``), not through ``json.dumps`` of a dict per
node: it must be the very text ``json.dumps`` gives, for every node a snapshot can hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data.crypto import Keys
from vaultlink.data.formats import _V, AAD_MANIFEST, ZSTD_LEVEL, _compressor
from vaultlink.data.manifest import (
    Manifest,
    Node,
    _manifest_json,
    decode_manifest,
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


@settings(max_examples=30, deadline=None)
@given(st.lists(nodes(), max_size=1200))
def test_the_manifest_text_is_what_json_dumps_writes(ns: list[Node]) -> None:
    m = Manifest(time=1.5, hostname="h\u00e9", roots=["/r"], nodes=ns, parent="p", tags={"k": "v"})
    pieces, size = _manifest_json(m)
    text = b"".join(pieces)
    assert len(text) == size
    assert text == json.dumps(m.to_json(), separators=(",", ":"), sort_keys=True).encode()


def test_a_damaged_node_is_still_refused_as_corrupt() -> None:
    keys = Keys.generate()
    good = Node("r/f", "file", 0o644, 1, 5, None, [b"\x01" * 32], [5], 1, 0, 0)
    m = Manifest(time=1.0, hostname="h", roots=["/r"], nodes=[good])
    text = b"".join(_manifest_json(m)[0]).replace(b'"size":5', b'"size":6')
    sealed = _V + keys.seal(_compressor(ZSTD_LEVEL).compress(text), AAD_MANIFEST)
    with pytest.raises(CorruptData, match="add up to 5"):
        decode_manifest(keys, sealed)
