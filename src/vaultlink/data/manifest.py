"""Snapshots: ``Node`` (one entry), ``Manifest`` (the snapshot), and their stored form (``formats.py``'s
docstring: ``seal(zstd(json))``), written and read a node at a time so that a snapshot of many files never
exists as one big dict and string."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from vaultlink.data.crypto import ID_SIZE, Keys
from vaultlink.data.formats import _V, AAD_MANIFEST, MAX_CHUNK, VERSION, ZSTD_LEVEL, _compressor, decompress
from vaultlink.errors import CorruptData

NODE_TYPES = ("file", "dir", "symlink")


@dataclass(slots=True)  # one per file: 100k files are 100k of these
class Node:
    """One entry of a snapshot: ``path`` is relative, ``/``-separated (first segment = root name)."""

    path: str
    type: str
    mode: int
    mtime_ns: int
    size: int = 0
    target: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    inode: int = 0
    uid: int = 0
    gid: int = 0

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "type": self.type,
            "mode": self.mode,
            "mtime_ns": self.mtime_ns,
        }
        if self.type == "file":
            d["size"] = self.size
            d["chunks"] = [[c.hex(), n] for c, n in zip(self.chunks, self.sizes, strict=True)]
        if self.type == "symlink":
            d["target"] = self.target
        d.update(inode=self.inode, uid=self.uid, gid=self.gid)
        return d


@dataclass
class Manifest:
    """A snapshot: when, from where, which roots, and the tree of nodes (sorted by path)."""

    time: float
    hostname: str
    roots: list[str]
    nodes: list[Node]
    parent: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def head_json(self) -> dict[str, Any]:
        """Every field but the nodes."""
        return {
            "version": VERSION,
            "time": self.time,
            "hostname": self.hostname,
            "roots": self.roots,
            "parent": self.parent,
            "tags": self.tags,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.head_json(), "nodes": [n.to_json() for n in self.nodes]}

    def chunk_ids(self) -> set[bytes]:
        return {c for n in self.nodes for c in n.chunks}

    def total_size(self) -> int:
        return sum(n.size for n in self.nodes if n.type == "file")


_INT_FIELDS = ("mode", "mtime_ns", "size", "inode", "uid", "gid")


def _bad_node(d: Any, what: str, msg: str) -> CorruptData:
    return CorruptData(f"{what}: node {d.get('path') if isinstance(d, dict) else d!r}: {msg}", object=what)


def _node_from_json(d: Any, what: str) -> Node:
    """One snapshot entry, checked field by field (a manifest of 100k files decodes 100k of these: plain
    loops and exact type tests, no per-node closures or generator expressions)."""
    if type(d) is not dict:
        raise _bad_node(d, what, "not an object")
    get = d.get
    path, typ = get("path"), get("type")
    if type(path) is not str or not path:
        raise _bad_node(d, what, "missing path")
    if typ not in NODE_TYPES:
        raise _bad_node(d, what, f"unknown type {typ!r}")
    mode, mtime_ns, size, inode, uid, gid = [get(k, 0) for k in _INT_FIELDS]
    for v in (mode, mtime_ns, size, inode, uid, gid):
        if type(v) is not int:  # JSON integers only (a bool or a float is refused)
            raise _bad_node(d, what, "integer field has the wrong type")
    ids: list[bytes] = []
    sizes: list[int] = []
    total = 0
    try:
        for c, n in get("chunks", ()):
            cid, n = bytes.fromhex(c), int(n)
            if len(cid) != ID_SIZE or n <= 0 or n > MAX_CHUNK:
                raise _bad_node(d, what, "chunk id of wrong length or implausible chunk size")
            ids.append(cid)
            sizes.append(n)
            total += n
    except (TypeError, ValueError):
        raise _bad_node(d, what, "chunks must be [hex id, size] pairs") from None
    if typ == "file" and total != size:
        raise _bad_node(d, what, f"chunk sizes add up to {total}, not the file size {size}")
    target = get("target")
    if typ == "symlink" and type(target) is not str:
        raise _bad_node(d, what, "symlink without target")
    return Node(path, typ, mode, mtime_ns, size, target, ids, sizes, inode, uid, gid)


_q = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii), in C
NODES_PER_PIECE = 512


def node_json(n: Node) -> str:
    """``json.dumps(n.to_json(), separators=(",", ":"), sort_keys=True)``, written directly: the same text
    (a property test holds them equal) about four times as fast, which a snapshot of 100k files needs."""
    if n.type == "file":
        chunks = ",".join([f'["{c.hex()}",{k}]' for c, k in zip(n.chunks, n.sizes, strict=True)])
        return (
            f'{{"chunks":[{chunks}],"gid":{n.gid},"inode":{n.inode},"mode":{n.mode},"mtime_ns":{n.mtime_ns},'
            f'"path":{_q(n.path)},"size":{n.size},"type":"file","uid":{n.uid}}}'
        )
    target = ""
    if n.type == "symlink":
        target = f'"target":{_q(n.target) if n.target is not None else "null"},'
    return (
        f'{{"gid":{n.gid},"inode":{n.inode},"mode":{n.mode},"mtime_ns":{n.mtime_ns},"path":{_q(n.path)},'
        f'{target}"type":{_q(n.type)},"uid":{n.uid}}}'
    )


def _manifest_json(manifest: Manifest) -> tuple[list[bytes], int]:
    """The manifest's JSON (sorted keys, no spaces: what ``json.dumps(to_json())`` gives) as pieces of
    ``NODES_PER_PIECE`` nodes, and its length: a snapshot of 100k files never exists as nested dicts and one
    big string at once."""
    text = json.dumps(manifest.head_json(), separators=(",", ":"), sort_keys=True).encode()
    cut = text.index(b',"parent":')  # "nodes" sorts between "hostname" and "parent"
    pieces = [text[:cut] + b',"nodes":[']
    nodes = manifest.nodes
    for i in range(0, len(nodes), NODES_PER_PIECE):
        body = ",".join([node_json(n) for n in nodes[i : i + NODES_PER_PIECE]])
        pieces.append((b"," if i else b"") + body.encode("ascii"))
    pieces.append(b"]" + text[cut:])
    return pieces, sum(len(p) for p in pieces)


def encode_manifest(keys: Keys, manifest: Manifest, nonce: bytes | None = None) -> bytes:
    pieces, size = _manifest_json(manifest)
    z = _compressor(ZSTD_LEVEL).compressobj(size=size)  # the frame states its size: decompress() needs it
    out = []
    for i in range(len(pieces)):
        out.append(z.compress(pieces[i]))
        pieces[i] = b""  # each piece goes once compressed
    out.append(z.flush())
    return _V + keys.seal(b"".join(out), AAD_MANIFEST, nonce)


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _manifest_fields(text: str, what: str) -> tuple[dict[str, Any], list[Node] | None]:
    """The manifest object's fields, its ``nodes`` array decoded one element at a time into ``Node``s: a
    snapshot of 100k files never exists as 100k dicts at once (that was most of a restore's peak memory).
    The same JSON ``json.loads`` accepts (any key order; a repeated key: the last wins)."""
    dec = _DECODER.raw_decode

    def skip(i: int) -> int:  # past any whitespace at i
        m = _WS.match(text, i)
        return m.end() if m else i

    def expect(i: int, chars: str) -> tuple[str, int]:
        i = skip(i)
        c = text[i:i + 1]
        if not c or c not in chars:
            raise ValueError(f"expected one of {chars!r} at {i}")
        return c, skip(i + 1)

    head: dict[str, Any] = {}
    nodes: list[Node] | None = None
    _, i = expect(0, "{")
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            key, i = dec(text, i)
            if not isinstance(key, str):
                raise ValueError(f"an object key must be a string, at {i}")
            _, i = expect(i, ":")
            if key == "nodes" and text[i:i + 1] == "[":
                nodes = []
                i = skip(i + 1)
                if text[i:i + 1] == "]":
                    i += 1
                else:
                    while True:
                        d, i = dec(text, i)
                        nodes.append(_node_from_json(d, what))
                        c, i = expect(i, ",]")
                        if c == "]":
                            break
                head.pop("nodes", None)
            else:
                head[key], i = dec(text, i)
                if key == "nodes":
                    nodes = None
            c, i = expect(i, ",}")
            if c == "}":
                break
    if skip(i) != len(text):
        raise ValueError(f"extra data at {i}")
    return head, nodes


def decode_manifest(keys: Keys, data: bytes, what: str = "manifest") -> Manifest:
    if len(data) < 1 or data[0] != VERSION:
        raise CorruptData(f"{what}: unsupported manifest version", object=what)
    raw = decompress(keys.open(memoryview(data)[1:], AAD_MANIFEST, what), what)
    try:
        text = raw.decode("utf-8")
        del raw  # the text alone from here
        d, nodes = _manifest_fields(text, what)
    except (ValueError, RecursionError) as e:
        raise CorruptData(f"{what}: invalid JSON: {e}", object=what) from None
    if d.get("version") != VERSION:
        raise CorruptData(f"{what}: unsupported manifest body version", object=what)
    roots = d.get("roots")
    if nodes is None or not isinstance(roots, list):
        raise CorruptData(f"{what}: missing nodes or roots", object=what)
    tags = d.get("tags") or {}
    return Manifest(
        time=float(d.get("time", 0.0)),
        hostname=str(d.get("hostname", "")),
        roots=[str(r) for r in roots],
        nodes=nodes,
        parent=d.get("parent"),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )
