"""The chunk index as the service hands it to an agent in binary (``vaultlink.index_wire``), and the agent's load
of it: the same packs as the JSON answer, an older service's JSON still read, a malformed answer refused."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from vaultlink.agent.remote import RemoteChunkIndex
from vaultlink.agent.wire import Response
from vaultlink.errors import CorruptData
from vaultlink.index_wire import INDEX_MEDIA, decode_index, encode_index
from vaultlink.ports import CHUNK_RECORD


def _packs(n: int, per: int) -> list[tuple[str, str, bytes]]:
    return [(f"acct{i % 2}", "packs/" + os.urandom(32).hex(),
             b"".join(CHUNK_RECORD.pack(os.urandom(32), j * 100, 100) for j in range(per))) for i in range(n)]


def test_packs_round_trip_in_order() -> None:
    packs = [*_packs(7, 5), ("acct0", "packs/" + "0" * 64, b"")]  # a pack with no entries too
    data = encode_index(packs)
    assert list(decode_index(data)) == packs
    assert len(data) == sum(2 + len(a) + 2 + len(p) + 4 + len(r) for a, p, r in packs)
    assert list(decode_index(b"")) == []


@pytest.mark.parametrize("cut", [1, 3, 9, 70, 81, 100])
def test_a_cut_answer_is_refused_saying_where(cut: int) -> None:
    data = encode_index(_packs(1, 3))
    with pytest.raises(ValueError, match="chunk index answer"):
        list(decode_index(data[:cut]))


def test_records_that_are_not_whole_or_names_that_are_not_ascii_are_refused() -> None:
    (account, pack, records), = _packs(1, 2)
    with pytest.raises(ValueError, match="records"):
        list(decode_index(_raw(account, pack, records[:-1])))
    with pytest.raises(ValueError, match="ASCII"):
        list(decode_index(_raw("acct\u00e9", pack, records, encoding="latin-1")))
    with pytest.raises(ValueError, match="does not fit"):
        list(decode_index(_raw("", pack, records)))
    with pytest.raises(ValueError, match="cannot be encoded"):
        encode_index([(account, pack, records[:-1])])


def _raw(account: str, pack: str, records: bytes, encoding: str = "ascii") -> bytes:
    a, p = account.encode(encoding), pack.encode()
    return (len(a).to_bytes(2, "little") + a + len(p).to_bytes(2, "little") + p
            + len(records).to_bytes(4, "little") + records)


class _Http:
    """The agent's HTTP as the index load uses it: one answer, and what it was asked."""

    def __init__(self, answer: Response) -> None:
        self.answer = answer
        self.asked: list[dict[str, str]] = []

    def request(self, host: str, method: str, path: str, **kw: Any) -> Response:
        assert (method, path) == ("GET", "/chunks")
        self.asked.append(kw.get("headers") or {})
        return self.answer


class _Blobs:
    def __init__(self) -> None:
        self.noted: dict[str, str] = {}

    def note(self, name: str, account: str) -> None:
        self.noted[name] = account


def _load(answer: Response) -> tuple[RemoteChunkIndex, _Http, _Blobs]:
    http, blobs = _Http(answer), _Blobs()
    index = RemoteChunkIndex(http, "backup.host", blobs)  # type: ignore[arg-type]
    index.load()
    return index, http, blobs


def test_the_agent_asks_for_binary_and_holds_every_entry() -> None:
    packs = _packs(4, 6)
    index, http, blobs = _load(Response(200, {"content-type": INDEX_MEDIA}, encode_index(packs)))
    assert http.asked == [{"accept": INDEX_MEDIA}]
    assert blobs.noted == {p: a for a, p, _ in packs}
    for _a, pack, records in packs:
        for cid, off, length in CHUNK_RECORD.iter_unpack(records):
            loc = index.lookup(cid)
            assert loc is not None and (loc.pack, loc.offset, loc.length) == (pack, off, length)
    assert index.packs() == {p for _a, p, _r in packs}


def test_an_older_service_answering_json_is_read_alike() -> None:
    packs = _packs(3, 4)
    doc = {"packs": [{"storage_account": a, "pack": p, "entries": base64.b64encode(r).decode()} for a, p, r in packs]}
    index, _http, blobs = _load(Response(200, {"content-type": "application/json"}, json.dumps(doc).encode()))
    assert blobs.noted == {p: a for a, p, _ in packs}
    assert len(index.have([cid for _a, _p, r in packs for cid, _o, _n in CHUNK_RECORD.iter_unpack(r)])) == 12


def test_a_malformed_binary_answer_is_corrupt_data() -> None:
    data = encode_index(_packs(2, 3))
    with pytest.raises(CorruptData, match="chunk index answer is malformed"):
        _load(Response(200, {"content-type": INDEX_MEDIA}, data[:-7]))
