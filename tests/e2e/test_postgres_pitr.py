"""PostgreSQL protected for real (issue #19): a real server (Debian's, on loopback) archives its WAL through
``vaultlink agent db wal-push`` (its own archive_command) and the agent streams base backups from
pg_basebackup through the private endpoint; a restore to a point in time between two batches of rows,
started as a new cluster, holds exactly the rows committed by then. A time outside the chain is refused
with the range there is."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.conftest import VAULTLINK, Server
from tests.e2e.test_cluster_failover import free_port
from tests.e2e.test_private_backup import VM, Vm, private_vault
from tests.pgserver import PgServer


@pytest.fixture
def machine(server: Server, tmp_path: Path) -> Vm:
    _vid, creds = private_vault(server, tmp_path)
    vm = Vm(server, tmp_path, "db1", VM)
    assert vm.register(creds, f"127.0.0.1:{server.info['dns_port']}").exit_code == 0
    return vm


@pytest.fixture
def pg(machine: Vm) -> Iterator[PgServer]:
    archive = (f"{VAULTLINK} agent db wal-push main %p --state-dir {machine.state} --passphrase-file {machine.pw} "
               "-o json")
    server = PgServer(userns=True, conf=f"archive_mode = on\narchive_command = '{archive}'\n")
    try:
        yield server
    finally:
        server.close()


def archived(pg: PgServer) -> int:
    return int(pg.psql("SELECT archived_count FROM pg_stat_archiver"))


def switch_and_wait(pg: PgServer) -> None:
    """Close the current WAL segment and wait until PostgreSQL has archived it through the agent."""
    before = archived(pg)
    pg.psql("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 90
    while archived(pg) <= before:
        assert time.monotonic() < deadline, pg.psql("SELECT * FROM pg_stat_archiver")
        time.sleep(0.2)


def archived_names(vm: Vm) -> set[str]:
    """The names of database main's archived WAL blobs in the vault's storage."""
    return {p.name for p in (vm.s.data_dir / "blobs").rglob("wal/main/*")}


def restored(pg: PgServer, tmp_path: Path, sql: str) -> str:
    """Start PostgreSQL on the restored directory ``tmp_path/restored``, wait until it has replayed to its
    target and promoted, answer ``sql`` there, and stop it."""
    port = free_port()
    pg.run_tool("pg_ctl", "-D", str(tmp_path / "restored"), "-l", str(tmp_path / "restored.log"), "-w", "-t", "120",
                "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp_path}", "start")
    try:
        deadline = time.monotonic() + 60
        while pg.psql("SELECT pg_is_in_recovery()", port=port) != "f":  # replayed to the target, promoted
            assert time.monotonic() < deadline
            time.sleep(0.3)
        return pg.psql(sql, port=port)
    finally:
        pg.run_tool("pg_ctl", "-D", str(tmp_path / "restored"), "-w", "-m", "fast", "stop")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_point_in_time_restore_holds_exactly_the_rows_committed_by_then(
        machine: Vm, pg: PgServer, tmp_path: Path) -> None:
    vm = machine
    vm.ok("protect", "postgres", "main", "--dsn", f"host=127.0.0.1 port={pg.port} user=vaultlink dbname=vaultlink")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, note text)")
    pg.psql("INSERT INTO t SELECT g, 'before the base backup' FROM generate_series(1, 50) g")
    took = vm.ok("db", "backup", "main")
    base = took["recovery_point"]
    assert base["paths"] == ["postgres://main"]
    assert took["reader"] == "libpq"  # BASE_BACKUP read by the agent itself (this machine has libpq)
    # on a primary the agent waited for the end's WAL in the vault itself, and it is there
    assert re.fullmatch(r"[0-9A-F]{24}", took["awaited_wal"] or ""), took
    assert any(b.startswith(f"{took['awaited_wal']}-c") for b in archived_names(vm)), took["awaited_wal"]
    pg.psql("INSERT INTO t SELECT g, 'batch a' FROM generate_series(100, 199) g")
    switch_and_wait(pg)
    time.sleep(1.1)
    target = time.time()
    time.sleep(1.1)
    pg.psql("INSERT INTO t SELECT g, 'batch b' FROM generate_series(200, 299) g")
    switch_and_wait(pg)

    # outside the chain: refused, saying what range there is
    early = vm.run("db", "restore", "main", "--target", str(tmp_path / "never"), "--point-in-time",
                   "2001-01-01T00:00:00Z")
    assert early.error_code == "InvalidInput" and " to " in early.stdout + early.stderr, early.stdout
    assert not (tmp_path / "never").exists()

    out = vm.ok("restore", "--database", "main", "--target", str(tmp_path / "restored"), "--point-in-time",
                iso(target))
    assert out["base_backup"] == base["id"]
    counts = restored(pg, tmp_path, "SELECT note, count(*) FROM t GROUP BY note ORDER BY note")
    assert counts.splitlines() == ["batch a|100", "before the base backup|50"], counts


def test_via_pg_basebackup_the_base_backup_comes_through_a_pipe_and_restores_the_same(
        machine: Vm, pg: PgServer, tmp_path: Path) -> None:
    """``--via pg_basebackup`` (what the agent does on a machine without libpq, or for a server before
    PostgreSQL 15): the agent reads pg_basebackup's tar from a pipe; the recovery point restores to a point
    in time like one the agent read itself. A ``--via`` that does not exist is refused before anything runs."""
    vm = machine
    vm.ok("protect", "postgres", "main", "--dsn", f"host=127.0.0.1 port={pg.port} user=vaultlink dbname=vaultlink")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, note text)")
    pg.psql("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 40) g")
    wrong = vm.run("db", "backup", "main", "--via", "carrier-pigeon")
    assert wrong.error_code == "InvalidInput" and "pg_basebackup" in wrong.stdout, wrong.stdout
    took = vm.ok("db", "backup", "main", "--via", "pg_basebackup")
    assert took["reader"] == "pg_basebackup" and took["awaited_wal"] is None  # pg_basebackup -X none waited
    pg.psql("INSERT INTO t SELECT g, 'after' FROM generate_series(100, 129) g")
    time.sleep(1.1)
    target = time.time()
    time.sleep(1.1)
    pg.psql("INSERT INTO t SELECT g, 'later' FROM generate_series(200, 209) g")
    switch_and_wait(pg)
    out = vm.ok("db", "restore", "main", "--target", str(tmp_path / "restored"), "--point-in-time", iso(target))
    assert out["base_backup"] == took["recovery_point"]["id"]
    counts = restored(pg, tmp_path, "SELECT note, count(*) FROM t GROUP BY note ORDER BY note")
    assert counts.splitlines() == ["after|30", "before|40"], counts


def test_a_killed_base_backup_and_a_failing_archive_lose_nothing(
        server: Server, machine: Vm, pg: PgServer, tmp_path: Path) -> None:
    """kill -9 of the agent mid base backup: the next one completes and the killed job does not stay running.
    An archive_command that fails (here: the agent's state is away) keeps the segment in pg_wal, ready, and
    PostgreSQL archives it once the agent can again: nothing is lost."""
    vm = machine
    vm.ok("protect", "postgres", "main", "--dsn", f"host=127.0.0.1 port={pg.port} user=vaultlink dbname=vaultlink")
    pg.psql("CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v "
            "FROM generate_series(1, 1500000) g")
    backup = subprocess.Popen([VAULTLINK, "agent", "db", "backup", "main", "--state-dir", str(vm.state),
                               "--passphrase-file", str(vm.pw), "-o", "json"], env=server.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list((server.data_dir / "blobs").rglob("packs/*")):
        assert time.monotonic() < deadline and backup.poll() is None, backup.communicate()
        time.sleep(0.02)
    backup.kill()
    backup.wait(10)
    again = vm.ok("db", "backup", "main")
    assert again["recovery_point"]["status"] == "Completed"
    jobs = server.ok("job", "list", "prod")
    assert not [j for j in jobs if j["status"] in ("InProgress", "Running")], jobs

    state = vm.state.rename(vm.state.with_name("agent-away"))
    try:
        failed = int(pg.psql("SELECT failed_count FROM pg_stat_archiver"))
        pg.psql("INSERT INTO big VALUES (0, 'while the archive fails')")
        segment = pg.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")
        pg.psql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while int(pg.psql("SELECT failed_count FROM pg_stat_archiver")) <= failed:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert (pg.data / "pg_wal" / "archive_status" / f"{segment}.ready").exists(), "kept until archived"
    finally:
        state.rename(vm.state)
    deadline = time.monotonic() + 90
    while pg.psql("SELECT last_archived_wal FROM pg_stat_archiver") < segment:
        assert time.monotonic() < deadline, pg.psql("SELECT * FROM pg_stat_archiver")
        time.sleep(0.3)


def test_a_cluster_that_archives_nothing_is_refused_before_a_useless_base_backup(machine: Vm) -> None:
    plain = PgServer(userns=True)  # archive_mode off: a base backup would have no WAL to restore with
    try:
        machine.ok("protect", "postgres", "plain", "--dsn", f"host=127.0.0.1 port={plain.port} user=vaultlink")
        r = machine.run("db", "backup", "plain")
        assert r.error_code == "InvalidInput" and "archive_mode is off" in r.stdout, r.stdout
        assert not [rp for rp in machine.ok("recovery-points") if rp.get("paths") == ["postgres://plain"]]
    finally:
        plain.close()


def test_a_role_that_may_not_replicate_fails_the_backup_as_a_recorded_job(
        server: Server, machine: Vm, pg: PgServer) -> None:
    pg.psql("CREATE ROLE reader LOGIN")  # may log in (the node check passes), may not stream a base backup
    machine.ok("protect", "postgres", "main", "--dsn", f"host=127.0.0.1 port={pg.port} user=reader dbname=vaultlink")
    r = machine.run("db", "backup", "main")
    assert r.error_code == "ServiceUnavailable" and "REPLICATION" in r.stdout, r.stdout
    jobs = server.ok("job", "list", "prod")
    assert jobs and all(j["status"] == "Failed" for j in jobs), jobs
    assert not [rp for rp in machine.ok("recovery-points") if rp.get("paths") == ["postgres://main"]]


def test_wal_no_remaining_base_backup_needs_is_deleted_and_restores_still_work(
        server: Server, machine: Vm, pg: PgServer, tmp_path: Path) -> None:
    vm, s = machine, server
    vm.ok("protect", "postgres", "main", "--dsn", f"host=127.0.0.1 port={pg.port} user=vaultlink dbname=vaultlink")
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, note text)")
    first = vm.ok("db", "backup", "main")["recovery_point"]
    for batch in range(3):
        pg.psql(f"INSERT INTO t SELECT g, 'batch {batch}' FROM generate_series({batch * 100}, {batch * 100 + 99}) g")
        switch_and_wait(pg)
    second = vm.ok("db", "backup", "main")["recovery_point"]
    pg.psql("INSERT INTO t SELECT g, 'after' FROM generate_series(1000, 1099) g")
    switch_and_wait(pg)
    time.sleep(1.1)
    target = time.time()
    time.sleep(1.1)
    pg.psql("INSERT INTO t VALUES (5000, 'past the target')")
    switch_and_wait(pg)

    def segments() -> set[str]:
        return {p.name.rsplit("-c", 1)[0] for p in (s.data_dir / "blobs").rglob("wal/main/*")}

    keep_from = s.ok("recovery-point", "show", second["id"])["wal_from"]
    assert keep_from and s.ok("recovery-point", "show", first["id"])["wal_from"] < keep_from
    before = segments()
    older = {seg for seg in before if seg[:24] < keep_from}
    assert older, "the first base backup's WAL is archived"
    s.ok("vault", "prune", "prod")
    assert segments() == before, "nothing goes while the first base backup may still be restored"
    s.ok("vault", "update", "prod", "--soft-delete", "Disabled")
    s.ok("recovery-point", "delete", first["id"])
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["wal_pruned"] == len(older)
    assert segments() == before - older and all(seg[:24] >= keep_from for seg in segments())
    audited = s.ok("audit", "list", "--vault", "prod", "--limit", "50")
    assert any(e.get("action") == "recovery.wal_prune" for e in audited)

    # the second base backup and the WAL it needs still restore to the target
    vm.ok("restore", "--database", "main", "--target", str(tmp_path / "restored"), "--point-in-time", iso(target))
    assert restored(pg, tmp_path, "SELECT count(*) FROM t") == "400"
