"""Agent operations: register, backup, restore, check — the engine over the vault's services."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from vaultlink import __version__
from vaultlink.agent import credential, keys
from vaultlink.agent.browse import latest_point, point_diff, point_find, point_nodes
from vaultlink.agent.credentials_file import read_credentials
from vaultlink.agent.dump import dump_file
from vaultlink.agent.http import AgentHttp
from vaultlink.agent.job_progress import JobProgress, job_end, reporter
from vaultlink.agent.memory import tune_malloc
from vaultlink.agent.proxy import proxy_for
from vaultlink.agent.remote import RemoteBlobStore, RemoteChunkIndex
from vaultlink.agent.resolver import DnsResolver, Resolver
from vaultlink.agent.state import AgentState, exclusive, save_state, try_load_state
from vaultlink.agent.unlock import Unlocking, open_loading
from vaultlink.data import BackupResult, Pick, Progress, Repository, backup, check, restore
from vaultlink.data.count_walk import Skip
from vaultlink.data.crypto import check_passphrase
from vaultlink.data.diff import Change, DiffStats
from vaultlink.data.formats import ZSTD_LEVEL, check_level
from vaultlink.data.manifest import Node
from vaultlink.data.repository import has_keys
from vaultlink.data.tree import check_patterns
from vaultlink.errors import CorruptData, InvalidInput, NotFound, RegistrationScopeDenied, VaultlinkError


def referenced_packs(result: BackupResult, repo: Repository) -> list[str]:
    """``ACCOUNT/packs/HASH`` of every pack the point's chunks live in: what the service keeps for it when
    it prunes (it cannot read the manifest itself)."""
    store: RemoteBlobStore = repo.store  # type: ignore[assignment]
    packs = result.packs
    if packs is None:
        packs = set()
        for cid in result.head.chunk_ids():
            loc = repo.index.lookup(cid)
            if loc is None:
                raise CorruptData(f"chunk {cid.hex()[:16]} of the new snapshot is not in the index; nothing was "
                                  "committed")
            packs.add(loc.pack)
    out = []
    for pack in sorted(packs):
        account = store.account_of(pack)
        if account is None:
            raise CorruptData(f"{pack} of the new snapshot is in no storage account; nothing was committed")
        out.append(f"{account}/{pack}")
    return out


def _estimate(totals: Any) -> tuple[int, int] | None:
    """The previous backup's (files, bytes) the service sent: the progress totals until the walk knows better."""
    if isinstance(totals, dict) and all(isinstance(totals.get(k), int) for k in ("files", "bytes")):
        return totals["files"], totals["bytes"]
    return None


class Agent:
    """One registered machine. ``resolver`` defaults to asking ``state.dns`` from ``state.source_ip``."""

    change_passphrase = keys.change_passphrase  # a new key version; with retire=True, the old ones retired
    rotate_credential = credential.rotate_credential  # a new container credential, the old one ended

    def __init__(self, state: AgentState, resolver: Resolver | None = None, retry_for: float = 90.0,
                 state_dir: Path | None = None) -> None:
        tune_malloc()  # before any worker thread starts (agent/memory.py)
        self.state, self.state_dir = state, state_dir  # with it, a credential rotated elsewhere is taken up
        self.resolver = resolver or DnsResolver(state.dns, state.source_ip, state.domain)
        self.proxy = proxy_for(state.proxy, state.no_proxy, dict(os.environ))
        self.http = AgentHttp(self.resolver, state.api_port, state.source_ip, state.credential, retry_for=retry_for,
                              domain=state.domain, vault_name=state.vault_name, ca_pem=state.ca_pem,
                              proxy=self.proxy)
        self.http.refresh = (lambda: credential.saved_credential(self)) if state_dir is not None else None
        self._unlocking = Unlocking()

    def close(self) -> None:
        self._unlocking.discard()
        self.http.close()

    def prepare(self, passphrase: str) -> None:
        """Start unlocking the repository in a thread of its own (``agent/unlock.py``), so it overlaps what
        comes before a backup's or a restore's data: the job's start, a database's checkpoint."""
        accounts, write = list(self.state.storage_accounts), self.state.write_account
        self._unlocking.start(accounts, write, lambda: self.open_repository(passphrase, accounts, write))

    def _take_repository(self, passphrase: str, accounts: list[str], write: str | None) -> Repository:
        """The prepared repository when it was opened for these storage accounts, else one opened now."""
        return self._unlocking.take(accounts, write) or self.open_repository(passphrase, accounts, write)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self.http.json(self.state.backup_service, method, path, body)

    def has_repository(self) -> bool:
        """Does the container have a key version (a repository) yet?"""
        store = RemoteBlobStore(self.http, self.state.domain, self.state.storage_accounts, self.state.write_account,
                                self.state.storage_suffix)
        return has_keys(store)

    def open_repository(self, passphrase: str, accounts: Sequence[str] | None = None,
                        write_account: str | None = None, create: bool = False,
                        http: AgentHttp | None = None) -> Repository:
        """The machine's repository (or, with ``http`` carrying a restore job's grant, the source machine's)."""
        http = http or self.http
        store = RemoteBlobStore(http, self.state.domain, accounts or self.state.storage_accounts,
                                write_account or self.state.write_account, self.state.storage_suffix)
        index = RemoteChunkIndex(http, self.state.backup_service, store)
        if create and not has_keys(store):
            return Repository.init(store, check_passphrase(passphrase), index=index)
        repo = open_loading(store, passphrase, index)
        # packs stored by a backup that died before indexing them are indexed now, and reused
        known = index.packs()
        try:
            for pack in store.list("packs/"):
                if pack not in known:
                    index.add(pack, repo.read_pack_header(pack))
        except RegistrationScopeDenied:
            pass  # a backup-only machine cannot read a pack header, a restore-only one cannot index: not needed
        return repo

    def _remember_accounts(self, accounts: Sequence[str], write_account: str | None, state_dir: Path | None) -> None:
        if list(accounts) != self.state.storage_accounts or write_account != self.state.write_account:
            self.state.storage_accounts, self.state.write_account = list(accounts), write_account
            if state_dir is not None:
                save_state(state_dir, self.state)

    def backup(self, paths: Sequence[str], passphrase: str, progress: Callable[[Progress], None] | None = None,
               state_dir: Path | None = None, job_id: str | None = None, compression_level: int = ZSTD_LEVEL,
               exclude: Sequence[str] = (), one_file_system: bool = False) -> dict[str, Any]:
        """A new recovery point of ``paths`` (on demand, or the scheduler's job ``job_id``) without what
        ``exclude`` and ``one_file_system`` leave out (``count_walk.Skip``)."""
        check_level(compression_level)  # new chunks at that zstd level (0: uncompressed)
        skip = Skip(check_patterns(list(exclude)), one_file_system)
        roots = [os.path.abspath(p) for p in paths]
        for p in roots:
            if not os.path.lexists(p):
                raise NotFound(f"backup path {p} does not exist.", field="paths")
        with exclusive(state_dir, "backup") if state_dir is not None else contextlib.nullcontext():
            return self._backup(roots, passphrase, progress, state_dir, job_id, level=compression_level, skip=skip)

    def run_job(self, roots: list[str], passphrase: str, state_dir: Path | None,
                engine: Callable[[Repository, str | None], BackupResult],
                registered: dict[str, Any] | None = None) -> dict[str, Any]:
        """A backup job of the item ``roots`` whose snapshot ``engine`` makes (a workload's stream);
        ``registered``: more members of the point the service records (a base backup's ``wal_from``)."""
        with exclusive(state_dir, "backup") if state_dir is not None else contextlib.nullcontext():
            return self._backup(roots, passphrase, None, state_dir, None, engine, registered)

    def _backup(self, roots: list[str], passphrase: str, progress: Callable[[Progress], None] | None,
                state_dir: Path | None, job_id: str | None = None,
                engine: Callable[[Repository, str | None], BackupResult] | None = None,
                registered: dict[str, Any] | None = None, level: int = ZSTD_LEVEL,
                skip: Skip | None = None) -> dict[str, Any]:
        """One backup job: ``engine(repo, parent point id)`` makes the snapshot (default: the files of
        ``roots``; a workload streams its own); new chunks compressed at zstd ``level``."""
        self.prepare(passphrase)  # the unlock overlaps the job's start
        try:
            started = self._call("POST", "/jobs", {"paths": roots, "job_id": job_id})
        except BaseException:
            self._unlocking.discard()
            raise
        job = started["job"]
        self._remember_accounts(started["storage_accounts"], started["write_account"], state_dir)
        try:
            repo = self._take_repository(passphrase, started["storage_accounts"], started["write_account"])
        except BaseException as exc:
            self.fail_job(job["id"], exc)
            raise
        repo.zstd_level = level or None  # every job says its own (a kept repository serves the next one)
        rep = self._reporter(job["id"], progress)
        rep.on_end = repo.stop  # the job ended on the service: a stream stops at its next piece, a backup at its file
        try:
            prev_rp = started.get("recovery_point")
            with rep.beating():  # a workload's stream reports no progress: the heartbeat says it is alive
                if engine is not None:
                    result = engine(repo, prev_rp["id"] if prev_rp else None)
                else:
                    previous: Iterator[Node] | None = None
                    if prev_rp:
                        try:  # read beside the walk, a node at a time
                            previous = repo.manifest_nodes(prev_rp["manifest"])
                        except VaultlinkError:
                            previous = None  # a damaged previous snapshot only costs the skip-unchanged shortcut
                    result = backup(roots, repo, previous, rep, hostname=self.state.hostname,
                                    parent=prev_rp["id"] if prev_rp else None,
                                    estimate=_estimate(started.get("previous_totals")), skip=skip)
            store: RemoteBlobStore = repo.store  # type: ignore[assignment]
            acct = store.account_of(result.name)
            done = self._call("POST", f"/jobs/{job['id']}/complete", {
                "manifest": result.name, "storage_account": acct, "stats": result.stats.to_dict(),
                "time": result.head.time, "pack_refs": referenced_packs(result, repo),
                **(registered or {}),
            })
            self._remember_accounts(store.accounts, store.write_account, state_dir)
        except BaseException as exc:
            self.fail_job(job["id"], exc)
            raise
        finally:
            repo.close()
        out = {"recovery_point": done["recovery_point"], "job": done["job"], "stats": result.stats.to_dict(),
               "retries": self.http.retries}
        return out

    def _reporter(self, job_id: str, local: Callable[[Progress], None] | None) -> JobProgress:
        """The job's progress to the service every few seconds (best effort), and to the local bar."""
        return reporter(self._quiet_post, job_id, local)

    def _quiet_post(self, path: str, body: dict[str, Any]) -> Any:
        """A report to the backup service, not retried (a progress report: the next one replaces a lost one)."""
        return self.http.request(self.state.backup_service, "POST", path, json=body, retry=False)

    def fail_job(self, job_id: str, exc: BaseException) -> None:
        status, msg = job_end(exc)
        with contextlib.suppress(VaultlinkError, OSError):
            self._quiet_post(f"/jobs/{job_id}/finish", {"status": status, "error": msg})

    def recovery_points(self) -> list[dict[str, Any]]:
        rps: list[dict[str, Any]] = self._call("GET", "/recovery-points")
        return rps

    def point_id(self, ref: str) -> str:
        """A recovery point's id from its id, ``latest`` or ``latest~N`` (``agent/browse.py``)."""
        return latest_point(ref, self.recovery_points)

    def _granted(self, job_id: str) -> AgentHttp:
        """An HTTP session whose every request carries restore job ``job_id``'s grant."""
        st = self.state
        http = AgentHttp(self.resolver, st.api_port, st.source_ip, st.credential, retry_for=self.http.retry_for,
                         domain=st.domain, vault_name=st.vault_name, ca_pem=st.ca_pem, proxy=self.proxy)
        http.extra_headers, http.refresh = {"X-Vaultlink-Restore-Job": job_id}, self.http.refresh
        return http

    def restore(self, rp_id: str, target: str, passphrase: str, include: Pick | Sequence[str] | None = None,
                progress: Callable[[Progress], None] | None = None, job_id: str | None = None) -> dict[str, Any]:
        """Restore ``rp_id`` into ``target``: this machine's own point, or, with ``job_id``, another machine's
        point under the grant of the restore job queued onto this one."""
        granted = self._granted(job_id) if job_id else None
        try:
            return self._restore(rp_id, target, passphrase, include, progress, job_id, granted)
        finally:
            if granted is not None:
                granted.close()

    def _restore(self, rp_id: str, target: str, passphrase: str, include: Pick | Sequence[str] | None,
                 progress: Callable[[Progress], None] | None, job_id: str | None,
                 granted: AgentHttp | None) -> dict[str, Any]:
        source = granted or self.http
        if granted is None:
            self.prepare(passphrase)  # the unlock overlaps the point's lookup and the job's start
        try:
            rp = source.json(self.state.backup_service, "GET", f"/recovery-points/{rp_id}")
            started = self._call("POST", f"/recovery-points/{rp_id}/restore-jobs", {"job_id": job_id})
        except BaseException:
            self._unlocking.discard()
            raise
        job = started["job"]
        try:
            repo = (self.open_repository(passphrase, started["storage_accounts"], started["write_account"],
                                         http=granted) if granted is not None else
                    self._take_repository(passphrase, started["storage_accounts"], started["write_account"]))
        except BaseException as exc:
            self.fail_job(job["id"], exc)
            raise
        try:
            nodes = repo.manifest_reader(rp["manifest"])  # read twice (checked, then restored), never held
            rep = self._reporter(job["id"], progress)
            with rep.beating():
                stats = restore(nodes, repo, target, Pick.of(include), rep)
            out = {"files": stats.files, "dirs": stats.dirs, "symlinks": stats.symlinks, "bytes": stats.bytes,
                   "duration": round(stats.duration, 3)}
            self.http.request(self.state.backup_service, "POST", f"/jobs/{job['id']}/finish",
                              json={"status": "Completed", "stats": out})
        except BaseException as exc:
            self.fail_job(job["id"], exc)
            raise
        finally:
            repo.close()
        return {"recovery_point": rp_id, "target": os.path.abspath(target), "job": job["id"], **out}

    def list_point(self, rp_id: str, passphrase: str, pick: Pick | Sequence[str] = ()) -> Iterator[Node]:
        """What this machine's point ``rp_id`` holds (or what ``pick`` takes of it), streamed (``agent/browse.py``)."""
        return point_nodes(self.http, self.state, rp_id, passphrase, Pick.of(pick))

    def diff(self, old: str, new: str, passphrase: str, metadata: bool = False,
             stats: DiffStats | None = None) -> Iterator[Change]:
        """What changed from this machine's point ``old`` to ``new``, streamed (``agent/browse.py``)."""
        return point_diff(self.http, self.state, old, new, passphrase, metadata, stats)

    def find(self, patterns: Sequence[str], passphrase: str,
             newest: int | None = None) -> Iterator[tuple[dict[str, Any], Node]]:
        """The paths ``patterns`` match in this machine's points, newest first (``agent/browse.py``)."""
        return point_find(self.http, self.state, check_patterns(list(patterns), "patterns"), passphrase, newest)

    def dump(self, rp_id: str, path: str, passphrase: str, out: BinaryIO) -> dict[str, Any]:
        """The file ``path`` of this machine's point ``rp_id`` written to ``out``: a restore job (``agent/dump.py``)."""
        return dump_file(self.http, self.state, lambda accounts, write: self.open_repository(
            passphrase, accounts, write), self.fail_job, rp_id, path, out)

    def check(self, passphrase: str, read_data: bool = False,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        described = self._call("GET", "/containers/self")
        names = described["names"]
        repo = self.open_repository(passphrase, names["storage_accounts"], names["write_account"])
        try:
            report = check(repo, read_data=read_data, progress=progress)
        finally:
            repo.close()
        out = report.to_dict()
        if not report.ok:
            files = sorted({p for _s, p in report.damaged_files})
            raise CorruptData(
                f"the check found {len(report.errors)} problem(s)"
                + (f"; damaged file(s): {', '.join(files[:20])}" if files else "")
                + f": {'; '.join(report.errors[:5])}",
                files=files,
                report=out,
            )
        return out


def register(
    credentials_file: str,
    source_ip: str,
    dns: str,
    state_dir: Path,
    passphrase: str | None,
    hostname: str | None = None,
    resolver: Resolver | None = None,
    agent_kind: str = "mars",
    agent_version: str = "",
    proxy: str = "",
    no_proxy: str = "",
) -> dict[str, Any]:
    """Register this machine with the vault of ``credentials_file`` (again, if ``state_dir`` has a state
    for it); on first registration create the encrypted repository (passphrase of 16+ characters).
    ``agent_kind`` / ``agent_version`` are what this agent reports (default: this vaultlink's own agent)."""
    creds = read_credentials(credentials_file)
    passphrase = check_passphrase(passphrase)
    prev = try_load_state(state_dir)
    if prev is not None and prev.vault_id != creds["vault_id"]:
        raise InvalidInput(
            f"this state directory belongs to vault {prev.vault_name}; use another --state-dir for another vault.",
            field="state_dir",
        )
    host = hostname or socket.gethostname()
    st = AgentState(
        vault_id=creds["vault_id"], vault_name=creds["vault_name"], region=creds["region"], geo=creds["geo"],
        domain=creds["domain"], api_port=int(creds["api_port"]), dns=dns, source_ip=source_ip,
        container_id="", credential=creds["registration_secret"], hostname=host,
        backup_service=creds["backup_service"], storage_suffix=str(creds.get("storage_suffix") or ""),
        ca_pem=str(creds.get("ca_pem") or ""), agent_kind=agent_kind, agent_version=agent_version,
        proxy=proxy, no_proxy=no_proxy,
    )
    proxy_for(proxy, no_proxy, {})  # a malformed --proxy is refused before anything is sent
    reg_agent = Agent(st, resolver)
    try:
        body: dict[str, Any] = {"hostname": host, "agent_kind": agent_kind,
                                "agent_version": agent_version or __version__}
        if prev is not None:
            body.update(container_id=prev.container_id, container_token=prev.credential)
        out = reg_agent._call("POST", "/containers/register", body)
    finally:
        reg_agent.close()
    names = out["names"]
    st.container_id = out["container"]["id"]
    st.credential, st.credential_issued = out["credential"], time.time()
    st.storage_accounts = list(names["storage_accounts"])
    st.write_account = names["write_account"]
    if prev is not None:  # the server issued the next credential: saved before its first use ends the old one
        save_state(state_dir, st)
    agent = Agent(st, resolver)
    try:  # a restore-only machine never writes: it checks the passphrase against a key that exists, or waits
        restore_only = out["container"].get("scope") == "restore"
        if not restore_only or agent.has_repository():
            repo = agent.open_repository(passphrase, create=not restore_only)
            repo.close()
    finally:
        agent.close()
    # A first registration is saved only once it fully worked: a failure leaves no state behind,
    # so `vaultlink agent register` can simply be run again.
    save_state(state_dir, st)
    return {
        "container": out["container"]["id"],
        "vault": out["vault"],
        "hostname": host,
        "new": out["new"],
        "storage_accounts": st.storage_accounts,
        "names": names,
        "state_dir": str(state_dir),
    }
