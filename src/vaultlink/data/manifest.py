"""Snapshots: ``Node`` (one entry), ``Manifest`` (the snapshot), and their stored form (``formats.py``'s
docstring: ``seal(zstd(json))``), written and read a node at a time so that a snapshot of many files never
exists as one big dict and string."""

from __future__ import annotations

import codecs
import json
import re
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import zstandard

from vaultlink.data.crypto import ID_SIZE, Keys
from vaultlink.data.formats import _V, AAD_MANIFEST, MAX_CHUNK, VERSION, _compressor, content_size
from vaultlink.errors import CorruptData

NODE_TYPES = ("file", "dir", "symlink")
MANIFEST_LEVEL = 3  # zstd level of a snapshot's text (small beside its data: the chunks' faster level gains nothing)


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
    mode, mtime_ns, size = get("mode", 0), get("mtime_ns", 0), get("size", 0)
    inode, uid, gid = get("inode", 0), get("uid", 0), get("gid", 0)
    if not (type(mode) is int and type(mtime_ns) is int and type(size) is int and type(inode) is int
            and type(uid) is int and type(gid) is int):  # JSON integers only (a bool or a float is refused)
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


class ManifestWriter:
    """A snapshot's stored form written a node at a time, in path order: a backup of a million files holds
    neither the nodes nor their text. The nodes' JSON goes through a fast zstd into a spool (memory, then a
    temporary file past ``spool_bytes``); ``finish`` writes the stored form (the same bytes
    ``encode_manifest`` of the whole ``Manifest`` gives: the frame states its size, which ``decompress``
    needs, so the text is known whole before it is compressed for good)."""

    def __init__(self, spool_bytes: int = 1 << 20) -> None:
        # past a megabyte the spool is a file: its pages are the kernel's cache, not the agent's memory (at 100k
        # files it held 7 MB for the whole backup)
        self._spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes)  # noqa: SIM115 (closed by finish)
        self._fast = zstandard.ZstdCompressor(level=1).compressobj()
        self._pending: list[str] = []
        self._size = 0  # bytes of node text so far
        self.count = 0

    def add(self, node: Node) -> None:
        self._pending.append(node_json(node))
        if len(self._pending) >= NODES_PER_PIECE:
            self._put()

    def _put(self) -> None:
        if self._pending:
            body = ("," if self.count else "") + ",".join(self._pending)
            self.count += len(self._pending)
            self._pending = []
            data = body.encode("ascii")
            self._size += len(data)
            self._spool.write(self._fast.compress(data))

    def finish(self, keys: Keys, head: Manifest, nonce: bytes | None = None) -> bytearray:
        """The sealed snapshot: ``head``'s fields (its own nodes are not read) around the nodes added, compressed
        and sealed a piece at a time into one buffer (``Keys.sealer``)."""
        self._put()
        self._spool.write(self._fast.flush())
        self._spool.seek(0)
        text = json.dumps(head.head_json(), separators=(",", ":"), sort_keys=True).encode()
        cut = text.index(b',"parent":')  # "nodes" sorts between "hostname" and "parent"
        first, last = text[:cut] + b',"nodes":[', b"]" + text[cut:]
        z = _compressor(MANIFEST_LEVEL).compressobj(size=len(first) + self._size + len(last))
        out = keys.sealer(_V, AAD_MANIFEST, nonce)
        out.update(z.compress(first))
        for piece in zstandard.ZstdDecompressor().read_to_iter(self._spool, read_size=1 << 20):
            out.update(z.compress(piece))
        self._spool.close()
        out.update(z.compress(last))
        out.update(z.flush())
        return out.finish()

    def close(self) -> None:
        self._spool.close()


def encode_manifest(keys: Keys, manifest: Manifest, nonce: bytes | None = None) -> bytes:
    w = ManifestWriter()
    for n in manifest.nodes:
        w.add(n)
    return bytes(w.finish(keys, manifest, nonce))


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_READ = 1 << 20  # decompressed text read at a time
RUN_TEXT = 128 << 10  # text decoded in one run, at most (a thousand nodes: their dicts live at once)


class _Text:
    """The manifest's JSON text, decompressed as it is read: ``buf[pos:]`` is what is not parsed yet."""

    def __init__(self, compressed: bytes | memoryview, what: str) -> None:
        content_size(compressed, what)
        self._pieces = zstandard.ZstdDecompressor().read_to_iter(compressed, read_size=_READ, write_size=_READ)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof, self.what = "", 0, False, what

    def more(self) -> bool:
        """Read another piece; False at the end."""
        if self.eof:
            return False
        if self.pos > _READ:
            self.buf, self.pos = self.buf[self.pos:], 0
        try:
            piece = next(self._pieces, None)
        except zstandard.ZstdError as e:
            raise CorruptData(f"{self.what}: zstd: {e}", object=self.what) from None
        if piece is None:
            self.eof = True
            self.buf += self._utf8.decode(b"", final=True)
            return False
        self.buf += self._utf8.decode(piece)
        return True

    def skip(self) -> None:
        while True:
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf) or not self.more():
                return

    def expect(self, chars: str) -> str:
        self.skip()
        c = self.buf[self.pos:self.pos + 1]
        if not c or c not in chars:
            raise ValueError(f"expected one of {chars!r} at {self.pos}")
        self.pos += 1
        return c

    def peek(self) -> str:
        self.skip()
        return self.buf[self.pos:self.pos + 1]

    def value(self) -> Any:
        """The next JSON value, whole: read on while it may be cut short (a number at the piece's end, or
        followed by what could go on with it: ``12`` of ``12.5``)."""
        self.skip()
        while True:
            try:
                v, end = _DECODER.raw_decode(self.buf, self.pos)
            except ValueError:
                if self.more():
                    continue
                raise
            if (end < len(self.buf) and self.buf[end] not in "0123456789.eE+-") or not self.more():
                self.pos = end
                return v

    def run(self) -> list[Any] | None:
        """The whole nodes from ``pos`` on, up to ``RUN_TEXT`` of the text read so far, decoded in one call (a
        thousand nodes for the price of a few); None when there is none (read one value then). A run ends where
        ``},{"`` follows a node: a node holds no object, and inside a string those characters can only be its
        last three and its closing quote. Where the guess is wrong (a string ending in ``},{``, whitespace
        between nodes), the run cut there is not valid JSON and None is the answer again: a wrong guess costs
        speed, never a wrong node."""
        p = self.pos
        k = self.buf.rfind('},{"', p, p + RUN_TEXT)
        if k <= p or self.buf[p] != "{":
            return None
        try:
            nodes: list[Any] = _DECODER.decode("[" + self.buf[p:k + 1] + "]")
        except ValueError:
            return None
        self.pos = k + 1
        return nodes


def _parse(text: _Text) -> Generator[Node, None, dict[str, Any]]:
    """The manifest object's ``nodes``, one at a time; returns its other fields. The JSON ``json.loads``
    accepts (any key order; a repeated key: the last wins, but ``nodes`` may come once), read a piece of the
    text at a time."""
    head: dict[str, Any] = {}
    seen_nodes = False
    text.expect("{")
    if text.peek() == "}":
        text.expect("}")
    else:
        while True:
            key = text.value()
            if not isinstance(key, str):
                raise ValueError("an object key must be a string")
            text.expect(":")
            if key == "nodes" and (seen_nodes or "nodes" in head):
                raise ValueError("the key nodes twice")
            if key == "nodes" and text.peek() == "[":
                seen_nodes = True
                text.expect("[")
                if text.peek() == "]":
                    text.expect("]")
                else:
                    while True:
                        run = text.run() if text.peek() == "{" else None
                        if run is None:
                            yield _node_from_json(text.value(), text.what)
                        else:
                            for d in run:
                                yield _node_from_json(d, text.what)
                        if text.expect(",]") == "]":
                            break
            else:
                head[key] = text.value()
            if text.expect(",}") == "}":
                break
    text.skip()
    if text.pos != len(text.buf):
        raise ValueError(f"extra data at {text.pos}")
    if not seen_nodes:
        raise ValueError("missing nodes (an array)")
    return head


def open_manifest(keys: Keys, data: bytes, what: str = "manifest") -> bytes:
    """A stored snapshot opened (its tag covers it whole): the compressed JSON text that
    :func:`iter_opened_nodes` reads."""
    if len(data) < 1 or data[0] != VERSION:
        raise CorruptData(f"{what}: unsupported manifest version", object=what)
    return keys.open(memoryview(data)[1:], AAD_MANIFEST, what)


def iter_manifest_nodes(keys: Keys, data: bytes, what: str = "manifest") -> Iterator[Node]:
    """A stored snapshot's nodes in order, decoded as they are read (the sealed blob is opened whole: its
    tag covers it all); ``CorruptData`` where the text goes wrong."""
    opened = open_manifest(keys, data, what)
    del data
    return iter_opened_nodes(opened, what)


def iter_opened_nodes(opened: bytes, what: str = "manifest") -> Iterator[Node]:
    """The nodes of an opened snapshot (:func:`open_manifest`), decompressed and parsed a piece at a time."""
    text = _Text(opened, what)
    try:
        head = yield from _parse(text)
    except (ValueError, RecursionError) as e:
        raise CorruptData(f"{what}: invalid JSON: {e}", object=what) from None
    if head.get("version") != VERSION:
        raise CorruptData(f"{what}: unsupported manifest body version", object=what)


def decode_manifest(keys: Keys, data: bytes, what: str = "manifest") -> Manifest:
    text = _Text(open_manifest(keys, data, what), what)
    nodes: list[Node] = []
    try:
        head = _drain(_parse(text), nodes)
    except (ValueError, RecursionError) as e:
        raise CorruptData(f"{what}: invalid JSON: {e}", object=what) from None
    if head.get("version") != VERSION:
        raise CorruptData(f"{what}: unsupported manifest body version", object=what)
    roots = head.get("roots")
    if not isinstance(roots, list):
        raise CorruptData(f"{what}: missing nodes or roots", object=what)
    tags = head.get("tags") or {}
    return Manifest(
        time=float(head.get("time", 0.0)),
        hostname=str(head.get("hostname", "")),
        roots=[str(r) for r in roots],
        nodes=nodes,
        parent=head.get("parent"),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )


def _drain(gen: Generator[Node, None, dict[str, Any]], into: list[Node]) -> dict[str, Any]:
    """Every node of ``gen`` into ``into``; ``gen``'s return value."""
    while True:
        try:
            into.append(next(gen))
        except StopIteration as stop:
            result: dict[str, Any] = stop.value
            return result
