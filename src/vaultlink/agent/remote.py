"""The engine's ports over the vault's services: a ``BlobStore`` over the blob service of the vault's
storage accounts and a ``ChunkIndex`` over the backup service's chunk index.

Writes go to the vault's current write account (the service answers which one after every put, so
the agent follows when the vault grows); reads go to the account that holds the blob (learned from
puts, listings and the chunk index).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from vaultlink.agent.http import AgentHttp
from vaultlink.data import Location
from vaultlink.data.chunk_index import LocationTable
from vaultlink.data.formats import PackEntry
from vaultlink.dns import names as N
from vaultlink.errors import CorruptData, InvalidInput, NotFound
from vaultlink.index_wire import INDEX_MEDIA, decode_index
from vaultlink.ports import CHUNK_RECORD as ENTRY
from vaultlink.ports import PackRecords, check_name


class RemoteBlobStore:
    """The vault's blob service as the engine's ``BlobStore``: write-once (``ports.BlobStore``)."""

    write_once = True

    def __init__(self, http: AgentHttp, domain: str, accounts: Sequence[str], write_account: str | None,
                 suffix: str = "") -> None:
        self.http = http
        self.domain = domain
        self.suffix = suffix  # "-secondary": the paired region's copy of each account
        self.accounts = list(accounts)
        self.write_account = write_account or (self.accounts[-1] if self.accounts else None)
        self._where: dict[str, str] = {}
        self._lock = threading.Lock()

    def host(self, account: str) -> str:
        return N.blob_public_name(account + self.suffix, self.domain)

    def note(self, name: str, account: str) -> None:
        with self._lock:
            self._where[name] = account
            if account not in self.accounts:
                self.accounts.append(account)

    def account_of(self, name: str) -> str | None:
        with self._lock:
            hit = self._where.get(name)
        if hit is not None:
            return hit
        prefix = name.rpartition("/")[0] + "/" if "/" in name else ""
        for acct in list(self.accounts):
            for n in self._list_account(acct, prefix):
                self.note(n, acct)
        with self._lock:
            return self._where.get(name)

    def _list_account(self, account: str, prefix: str) -> list[str]:
        names: list[str] = self.http.json(self.host(account), "GET", "/", params={"prefix": prefix})["names"]
        return names

    # --- BlobStore --------------------------------------------------------------------------------
    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        check_name(name)
        acct = self.write_account
        if acct is None:
            raise NotFound("the vault has no storage account yet; run `vaultlink agent register`.")
        # a pack arrives as a bytearray: sent as it is (one part, its length declared), never copied
        body: bytes | list[memoryview] = data if isinstance(data, bytes) else [memoryview(data)]
        out = self.http.json(self.host(acct), "PUT", "/" + name, content=body,
                             headers={"content-type": "application/octet-stream", "content-length": str(len(data))})
        self.note(name, acct)
        nxt = out.get("write_account")
        if isinstance(nxt, str) and nxt != acct:
            with self._lock:
                if nxt not in self.accounts:
                    self.accounts.append(nxt)
                self.write_account = nxt

    def _need(self, name: str) -> str:
        check_name(name)
        acct = self.account_of(name)
        if acct is None:
            raise NotFound(f"blob {name!r} does not exist in any storage account of the vault")
        return acct

    def get(self, name: str) -> bytes:
        return self.http.request(self.host(self._need(name)), "GET", "/" + name).content

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise InvalidInput(f"range {offset}+{length} is invalid", field="range")
        if length == 0:
            return b""
        resp = self.http.request(self.host(self._need(name)), "GET", "/" + name,
                                 headers={"range": f"bytes={offset}-{offset + length - 1}"})
        data = resp.content
        if len(data) != length:
            raise InvalidInput(f"range {offset}+{length} is outside blob {name!r}", field="range")
        return data

    def read_range_into(self, name: str, offset: int, buf: memoryview) -> None:
        """``get_range(name, offset, len(buf))`` read straight into ``buf`` (restore's reusable buffers)."""
        length = len(buf)
        if offset < 0:
            raise InvalidInput(f"range {offset}+{length} is invalid", field="range")
        if length == 0:
            return
        self.http.read_into(self.host(self._need(name)), "/" + name, buf,
                            headers={"range": f"bytes={offset}-{offset + length - 1}"})

    def exists(self, name: str) -> bool:
        return self.account_of(check_name(name)) is not None

    def size(self, name: str) -> int:
        resp = self.http.request(self.host(self._need(name)), "HEAD", "/" + name)
        return int(resp.headers.get("x-blob-size") or resp.headers.get("content-length") or 0)

    def delete(self, name: str) -> None:
        raise InvalidInput("agents cannot delete backup data; delete recovery points with "
                           "`vaultlink recovery-point delete`.")

    def list(self, prefix: str = "") -> Iterator[str]:
        found: set[str] = set()
        for acct in list(self.accounts):
            for n in self._list_account(acct, prefix):
                self.note(n, acct)
                found.add(n)
        yield from sorted(found)


class RemoteChunkIndex:
    """The engine's ``ChunkIndex``: loaded from the service once (the dedup query), then answered
    locally; ``add`` records a stored pack on the service before it counts as stored."""

    def __init__(self, http: AgentHttp, backup_host: str, blobs: RemoteBlobStore) -> None:
        self.http = http
        self.host = backup_host
        self.blobs = blobs
        self._loc = LocationTable()
        self._packs: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self) -> int:
        """Fetch every entry of this container's index; returns the number of chunks. Asked for in binary
        (``index_wire``); a service that answers JSON (an older one) is read as such."""
        resp = self.http.request(self.host, "GET", "/chunks", headers={"accept": INDEX_MEDIA})
        packs: Iterable[PackRecords]
        if resp.headers.get("content-type", "").split(";")[0].strip() == INDEX_MEDIA:
            records = len(resp.content) // ENTRY.size  # at most this many
            packs = decode_index(resp.content)
        else:
            out = resp.json()
            records = sum(len(p["entries"]) for p in out["packs"]) * 3 // (4 * ENTRY.size)  # base64 of records
            packs = ((p["storage_account"], p["pack"], base64.b64decode(p["entries"])) for p in out["packs"])
        with self._lock:
            self._loc.reserve(records)
        try:
            for account, pack, raw in packs:
                self.blobs.note(pack, account)
                self._add_local(pack, raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"the service's chunk index answer is malformed ({exc}); nothing was read or written: "
                              "retry, and report it if it persists", object="chunk index") from None
        return len(self._loc)

    def query(self, ids: Iterable[bytes]) -> set[bytes]:
        """Ask the service which of ``ids`` it holds (the dedup query, uncached)."""
        want = list(ids)
        out = self.http.json(self.host, "POST", "/chunks/query", {"ids": base64.b64encode(b"".join(want)).decode()})
        raw = base64.b64decode(out["have"])
        return {raw[i : i + 32] for i in range(0, len(raw), 32)}

    def _add_local(self, pack: str, entries: Sequence[PackEntry] | bytes) -> None:
        with self._lock:
            self._packs[pack] = len(entries) // ENTRY.size if isinstance(entries, bytes) else len(entries)
            self._loc.add(pack, entries)

    def have(self, ids: Iterable[bytes]) -> set[bytes]:
        return self._loc.having(ids)

    def add(self, pack: str, entries: Sequence[PackEntry] | bytes) -> None:
        acct = self.blobs.account_of(pack)
        if acct is None:
            raise NotFound(f"pack {pack} was not stored; cannot index it")
        body: dict[str, Any] = {
            "storage_account": acct,
            "pack": pack,
            "entries": base64.b64encode(entries if isinstance(entries, bytes) else
                                        b"".join(ENTRY.pack(e.chunk_id, e.offset, e.length) for e in entries)).decode(),
        }
        self.http.json(self.host, "POST", "/chunks", body)
        self._add_local(pack, entries)

    def lookup(self, chunk_id: bytes) -> Location | None:
        return self._loc.get(chunk_id)

    def pack_of(self, chunk_id: bytes) -> str | None:
        return self._loc.pack_of(chunk_id)

    def packs(self) -> set[str]:
        with self._lock:
            return set(self._packs)
