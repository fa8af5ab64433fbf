"""PostgreSQL, for real: base backups streamed from the server, WAL archived by PostgreSQL's own
``archive_command``, and restore to any second of the chain (issue #19).

- ``protect``: the machine's state remembers the database cluster (a name and a libpq DSN); it is the
  protected item ``postgres://NAME`` of the vault, with its own recovery points and retention. For a
  group with a streaming standby, the DSN may name a listener (a DNS name that follows the primary, in a
  private zone: resolved through the machine's DNS server at each backup) and ``--node`` the other
  members; each base backup is taken from the first node in the protection's role (``--from primary`` or
  ``standby``) at that moment, so backups follow a failover.
- ``base_backup``: the tar ``pg_basebackup -D - -Ft -X none`` writes, read by the agent over a replication
  connection (``agent/pg_stream.py``; pg_basebackup itself without libpq or before PostgreSQL 15), cut into
  chunks as it arrives and never staged on disk; it counts once the WAL it needs is archived.
- ``wal_push`` (``archive_command = 'vaultlink agent db wal-push NAME %p …'``): the segment, compressed and
  encrypted under the repository's keys, as the blob ``wal/NAME/SEGMENT-cMILLIS`` where MILLIS is the time of
  its last commit (``pg_waldump``; 0: none). A non-zero exit keeps the segment in PostgreSQL's ``pg_wal``
  until a later attempt succeeds; a segment archived twice with the same bytes succeeds, with other bytes
  fails (PostgreSQL's rule).
- ``restore``: the latest base backup at or before the target time into a new, empty data directory
  (``tar -x`` fed chunk by chunk), with ``recovery.signal`` and a ``restore_command`` that fetches the
  archive (``vaultlink agent db wal-fetch``) and ``recovery_target_time``: started, PostgreSQL replays to
  exactly that second and promotes. A time outside the chain is refused with the range there is.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

from vaultlink.agent import pg_stream
from vaultlink.agent.remote import RemoteBlobStore, RemoteChunkIndex
from vaultlink.agent.session import Agent
from vaultlink.agent.state import save_state
from vaultlink.data import Repository
from vaultlink.data.stream import backup_stream, read_stream
from vaultlink.durable import write_atomic
from vaultlink.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable, VaultlinkError
from vaultlink.ports import BlobStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEGMENT = re.compile(r"^[0-9A-F]{8,24}(\.[0-9A-F]{8}\.backup|\.history|\.partial)?$")
_COMMIT = re.compile(r"COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
MAX_SEGMENT = 1 << 30
ROLES = ("primary", "standby")
ARCHIVE_WAIT = 3600.0  # PostgreSQL itself would wait for ever


def item_path(name: str) -> str:
    return f"postgres://{name}"


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidInput(f"database name {name!r}: 1-64 of [A-Za-z0-9._-].", field="name")
    return name


def _version(path: str) -> tuple[int, ...]:
    """(15,) of ``/usr/lib/postgresql/15/bin/psql``: versions sort as numbers (9.6 before 15)."""
    return tuple(int(x) for x in re.findall(r"\d+", path.split("/")[-3]))


def pg_tool(tool: str) -> str:
    """The program ``tool`` of PostgreSQL's client: the one on ``PATH``, except Debian's ``pg_wrapper`` (a Perl
    script that picks the newest installed version for a remote server: 30 ms more at every call), which is
    skipped for the same choice made here."""
    found = shutil.which(tool) or ""
    if not found or os.path.basename(os.path.realpath(found)) == "pg_wrapper":
        versioned = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=_version)
        found = versioned[-1] if versioned else found
    if not found:
        raise NotFound(f"{tool} is missing: install PostgreSQL's client tools (apt-get install postgresql-client).")
    return found


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def last_commit(path: str) -> float | None:
    """The time of the last commit recorded in a WAL segment (``pg_waldump``, in UTC); None if none."""
    p = subprocess.run([pg_tool("pg_waldump"), path], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "TZ": "UTC", "PGTZ": "UTC"})
    found = _COMMIT.findall(p.stdout)
    if not found:
        return None
    stamp = found[-1]
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(stamp, fmt).replace(tzinfo=UTC).timestamp()


class Postgres:
    """One protected database cluster of this machine."""

    def __init__(self, agent: Agent, name: str) -> None:
        self.agent, self.name = agent, check_name(name)

    # --- setup -------------------------------------------------------------------------------------------
    @staticmethod
    def protect(agent: Agent, state_dir: Path, name: str, dsn: str, role: str = "primary",
                nodes: list[str] | None = None) -> dict[str, Any]:
        """``dsn`` (a listener name that follows the primary, say) and the group's other ``nodes``; each base
        backup is taken from the first of them that is in ``role`` then (``primary`` or ``standby``)."""
        check_name(name)
        for d in [dsn, *(nodes or [])]:
            if not isinstance(d, str) or not d.strip() or len(d) > 2000 or "\n" in d:
                raise InvalidInput("--dsn and --node take a libpq connection string (host=… port=… user=…).",
                                   field="dsn")
        if role not in ROLES:
            raise InvalidInput(f"--from must be one of {', '.join(ROLES)}, not {role!r}.", field="from")
        agent.state.workloads[name] = {"kind": "postgres", "dsn": dsn, "from": role, "nodes": "\n".join(nodes or [])}
        save_state(state_dir, agent.state)
        cmd = (f"{Path(sys.executable).parent / 'vaultlink'} agent db wal-push {name} %p --state-dir {state_dir} "
               "--passphrase-file FILE")
        return {"database": name, "item": item_path(name), "archive_command": cmd,
                "note": "set archive_mode = on and this archive_command in postgresql.conf (the passphrase file "
                        "and the state directory readable by PostgreSQL's user), then take a base backup."}

    def _workload(self) -> dict[str, str]:
        w = self.agent.state.workloads.get(self.name)
        if not w or w.get("kind") != "postgres":
            raise NotFound(f"database {self.name} is not protected on this machine: "
                           f"`vaultlink agent protect postgres {self.name} --dsn …` first.")
        return w

    def _addressed(self, dsn: str) -> str:
        """``dsn`` with ``hostaddr`` added for a host *name*, resolved now through the machine's DNS server
        (a listener name in a private zone; asked afresh each time, so a failover's new answer is used)."""
        parts = dict(p.split("=", 1) for p in shlex.split(dsn) if "=" in p)
        host = parts.get("host", "")
        if not host or host.startswith("/") or "hostaddr" in parts or "," in host:
            return dsn
        try:
            ipaddress.ip_address(host)
            return dsn
        except ValueError:
            pass
        self.agent.resolver.forget(host)
        return f"{dsn} hostaddr={self.agent.resolver.resolve(host)}"

    def _node(self) -> tuple[str, str, str | None]:
        """(dsn with its address, role, the WAL segment it writes now) of the node to back up from: the first
        in the protection's role. A base backup that starts after that segment needs nothing older (what the
        service's WAL retention keeps from); None on a standby, or if it cannot tell: then all is kept."""
        w = self._workload()
        want = w.get("from", "primary")
        seen: list[str] = []
        for dsn in [w["dsn"], *[n for n in w.get("nodes", "").split("\n") if n]]:
            addressed = self._addressed(dsn)
            p = subprocess.run([pg_tool("psql"), "-d", addressed, "-AtqF", " ", "-c",
                                "SELECT pg_is_in_recovery(), current_setting('archive_mode'), CASE WHEN "
                                "pg_is_in_recovery() THEN '-' ELSE pg_walfile_name(pg_current_wal_lsn()) END"],
                               capture_output=True, text=True, timeout=30)
            recovery, archive_mode, segment = [*p.stdout.strip().split(" "), "", "", ""][:3]
            role = {"t": "standby", "f": "primary"}.get(recovery, "unreachable")
            if role == want:
                if archive_mode == "off":  # a base backup without its WAL restores to nothing consistent
                    raise InvalidInput(
                        f"{self.name}: archive_mode is off, so the WAL a base backup needs is not archived: set "
                        "archive_mode = on and the archive_command `vaultlink agent protect postgres` printed, "
                        "restart PostgreSQL, then back up.", field="archive_mode")
                return addressed, role, segment if re.fullmatch(r"[0-9A-F]{24}", segment) else None
            where = dict(p.split("=", 1) for p in shlex.split(addressed) if "=" in p)
            seen.append(f"{where.get('hostaddr') or where.get('host') or dsn}: {role}")
        raise ServiceUnavailable(f"no {want} among the nodes of {self.name} ({'; '.join(seen)}); protect it "
                                 f"with --from {'standby' if want == 'primary' else 'primary'}, or add the node.")

    # --- base backups ------------------------------------------------------------------------------------
    def base_backup(self, passphrase: str, state_dir: Path | None, via: str = "auto") -> dict[str, Any]:
        """``via``: ``libpq`` (the agent reads the stream itself), ``pg_basebackup``, or ``auto`` (libpq when the
        machine has it and the server speaks PostgreSQL 15's protocol)."""
        self.agent.prepare(passphrase)  # the repository unlocks while the node is asked and checkpoints
        dsn, role, wal_from = self._node()
        # started first: its checkpoint and first pages flow while the job starts and the repository opens
        # (read ahead); on a primary the agent waits for the end's WAL itself, in the vault (``await_archived``)
        with contextlib.ExitStack() as stack:
            failed: VaultlinkError | None = None
            awaited: dict[str, str | None] = {"segment": None}  # the end's WAL the agent saw archived itself
            try:
                stream, finish, reader = stack.enter_context(
                    pg_stream.base_backup(dsn, own_wait=role == "primary", via=via,
                                          pg_basebackup=lambda: pg_tool("pg_basebackup")))
            except VaultlinkError as exc:  # raised in the job, so the failed backup is a failed job
                failed, reader = exc, "none"

            def engine(repo: Repository, parent: str | None) -> Any:
                if failed is not None:
                    raise failed
                result = backup_stream(f"{self.name}/base.tar", stream, repo, hostname=self.agent.state.hostname,
                                       tags={"workload": "postgres", "database": self.name, "node": role},
                                       parent=parent, tar=True)
                awaited["segment"] = segment = finish()
                if segment is not None:
                    self.await_archived(repo.store, segment)
                return result

            out = self.agent.run_job([item_path(self.name)], passphrase, state_dir, engine, {"wal_from": wal_from})
        parts = dict(p.split("=", 1) for p in shlex.split(dsn) if "=" in p)
        out["node"] = {"role": role, "address": parts.get("hostaddr") or parts.get("host")}
        out["reader"], out["awaited_wal"] = reader, awaited["segment"]
        return out

    def await_archived(self, store: BlobStore, segment: str, limit: float = ARCHIVE_WAIT) -> None:
        """Return once ``segment`` is in the vault's archive (checked every 0.1 s, then every 0.5 s after 10 s);
        fail after ``limit`` seconds, so a base backup whose WAL never comes is not a recovery point."""
        start = time.monotonic()
        while not self.chain(store, segment):
            waited = time.monotonic() - start
            if waited > limit:
                raise ServiceUnavailable(
                    f"WAL segment {segment}, which this base backup needs, was not archived within {limit:.0f} s: "
                    "PostgreSQL's archive_command (vaultlink agent db wal-push) is failing or far behind (its log "
                    "says why; pg_stat_archiver counts the failures). No recovery point was made.")
            time.sleep(0.1 if waited < 10 else 0.5)

    # --- the WAL archive ---------------------------------------------------------------------------------
    def _keys_store(self, passphrase: str) -> tuple[RemoteBlobStore, Repository]:
        st = self.agent.state
        store = RemoteBlobStore(self.agent.http, st.domain, st.storage_accounts, st.write_account, st.storage_suffix)
        repo = Repository.open(store, passphrase, load_index=False,
                               index=RemoteChunkIndex(self.agent.http, st.backup_service, store))
        return store, repo

    def chain(self, store: BlobStore, segment: str = "") -> dict[str, tuple[str, float | None]]:
        """segment -> (blob name, last commit time) of everything archived (of ``segment`` only, if given: one
        listing of its own names, not of the whole chain)."""
        out: dict[str, tuple[str, float | None]] = {}
        for blob in store.list(f"wal/{self.name}/{segment + '-c' if segment else ''}"):
            seg, _, ms = blob.rsplit("/", 1)[-1].rpartition("-c")
            if seg and ms.isdigit():
                out[seg] = (blob, int(ms) / 1000 if int(ms) else None)
        return out

    def wal_push(self, passphrase: str, path: str) -> dict[str, Any]:
        seg = os.path.basename(path)
        if not _SEGMENT.match(seg):
            raise InvalidInput(f"{seg!r} is not a WAL file name.", field="path")
        with open(path, "rb") as f:
            data = f.read(MAX_SEGMENT + 1)
        if len(data) > MAX_SEGMENT:
            raise InvalidInput(f"{path} is larger than a WAL segment can be.", field="path")
        store, repo = self._keys_store(passphrase)
        aad = f"wal/{self.name}/{seg}".encode()
        have = self.chain(store, seg).get(seg)
        if have is not None:  # archived before (a retry after a crash): the same bytes succeed
            if self._open(repo, store.get(have[0]), aad) == data:
                return {"segment": seg, "archived": False, "already": True}
            raise Conflict(f"WAL {seg} is archived already with other bytes; PostgreSQL keeps it in pg_wal.")
        commit = last_commit(path) if not seg.endswith((".history", ".backup")) else None
        blob = f"wal/{self.name}/{seg}-c{int(commit * 1000) if commit else 0}"
        store.put(blob, repo.keys.seal(zstandard.ZstdCompressor(level=3).compress(data), aad))
        return {"segment": seg, "archived": True, "bytes": len(data), "last_commit": commit}

    @staticmethod
    def _open(repo: Repository, sealed: bytes, aad: bytes) -> bytes:
        raw = repo.keys.open(sealed, aad, aad.decode())
        return zstandard.ZstdDecompressor().decompress(raw, max_output_size=MAX_SEGMENT)

    def wal_fetch(self, passphrase: str, seg: str, dest: str) -> dict[str, Any]:
        if not _SEGMENT.match(seg):
            raise InvalidInput(f"{seg!r} is not a WAL file name.", field="segment")
        store, repo = self._keys_store(passphrase)
        have = self.chain(store, seg).get(seg)
        if have is None:
            raise NotFound(f"WAL {seg} is not in the archive of {self.name}.")  # the end of the archive
        data = self._open(repo, store.get(have[0]), f"wal/{self.name}/{seg}".encode())
        write_atomic(Path(dest), data)  # PostgreSQL's own file mode; a full disk leaves nothing beside it
        return {"segment": seg, "bytes": len(data)}

    # --- restore -----------------------------------------------------------------------------------------
    def points(self) -> list[dict[str, Any]]:
        rps = [rp for rp in self.agent.recovery_points()
               if rp.get("paths") == [item_path(self.name)] and rp.get("status") == "Completed"]
        return sorted(rps, key=lambda rp: float(rp["time"]))

    def available(self, store: RemoteBlobStore) -> tuple[float, float]:
        """(from, to): the first base backup's end, and the last archived commit (or the last base backup)."""
        rps = self.points()
        if not rps:
            raise NotFound(f"database {self.name} has no base backup yet: `vaultlink agent db backup {self.name}`.")
        commits = [t for _b, t in self.chain(store).values() if t is not None]
        return float(rps[0]["time"]), max([float(rps[-1]["time"]), *commits])

    def restore(self, passphrase: str, target: str, at: float | None, state_dir: Path, passphrase_file: str,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        out = Path(target)
        if out.exists() and any(out.iterdir()):
            raise InvalidInput(f"{target} is not empty: restore a database cluster into a new directory.",
                               field="target")
        store, _keys = self._keys_store(passphrase)
        first, last = self.available(store)
        if at is not None and not first <= at <= last:
            raise InvalidInput(f"{_iso(at)} is outside what database {self.name} can be restored to: from "
                               f"{_iso(first)} to {_iso(last)}.", field="point_in_time")
        rps = self.points()
        base = rps[-1] if at is None else [rp for rp in rps if float(rp["time"]) <= at][-1]
        repo = self.agent.open_repository(passphrase)
        try:
            manifest = repo.load_manifest(base["manifest"])
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
            tar = subprocess.Popen(["tar", "-x", "--no-same-owner", "-f", "-", "-C", str(out)], stdin=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            assert tar.stdin is not None and tar.stderr is not None
            written = 0
            try:
                for data in read_stream(manifest, repo):
                    tar.stdin.write(data)
                    written += len(data)
                    if progress is not None:
                        progress(written)
                tar.stdin.close()
            except BaseException:
                tar.kill()
                tar.wait()
                raise
            if tar.wait() != 0:
                raise VaultlinkError(f"tar could not unpack the base backup: {tar.stderr.read().decode()[-300:]}")
        finally:
            repo.close()
        os.chmod(out, 0o700)
        fetch = (f"{Path(sys.executable).parent / 'vaultlink'} agent db wal-fetch {self.name} %f %p "
                 f"--state-dir {state_dir} --passphrase-file {passphrase_file}")
        lines = ["", "# vaultlink restore: replay the archive, then promote; archiving stays off until you set it",
                 f"restore_command = '{fetch}'", "archive_mode = 'off'"]
        if at is not None:
            when = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            lines += [f"recovery_target_time = '{when}'", "recovery_target_action = 'promote'",
                      "recovery_target_inclusive = 'on'"]
        with open(out / "postgresql.auto.conf", "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        (out / "recovery.signal").touch()
        return {"database": self.name, "target": str(out), "base_backup": base["id"], "bytes": written,
                "point_in_time": _iso(at) if at is not None else None, "available": [_iso(first), _iso(last)],
                "next": f"start PostgreSQL on {out} (owned by its user, mode 0700): it replays the archive"
                        + (f" to {_iso(at)}" if at is not None else "") + " and promotes."}
