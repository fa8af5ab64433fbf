"""A PostgreSQL availability group (issue #19): a primary and a streaming standby, a listener name in a
private DNS zone linked to the machine's vnet that points at the current primary. The agent backs up from
the node its protection says (the primary, or the standby) and, after a failover (the standby promoted,
the listener's record moved), the next backup follows to the new primary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import VAULTLINK, Server
from tests.e2e.test_postgres_pitr import machine  # noqa: F401 - the registered machine fixture
from tests.e2e.test_private_backup import Vm
from tests.pgserver import PgServer

A, B = "127.20.0.11", "127.20.0.12"


@pytest.fixture
def group(server: Server, machine: Vm) -> Iterator[tuple[PgServer, Path]]:  # noqa: F811
    archive = (f"{VAULTLINK} agent db wal-push ag %p --state-dir {machine.state} --passphrase-file {machine.pw} "
               "-o json")
    primary = PgServer(userns=True, host=A, conf=f"archive_mode = on\narchive_command = '{archive}'\n"
                       "wal_keep_size = 256MB\n")
    standby = primary.dir / "standby"
    try:
        primary.run_tool("pg_basebackup", "-h", A, "-p", str(primary.port), "-U", "vaultlink", "-D", str(standby),
                         "-R", "-X", "stream", "-c", "fast")
        sockets = primary.dir / "standby-sockets"  # the same port as the primary: a socket directory of its own
        sockets.mkdir()
        primary.run_tool("pg_ctl", "-D", str(standby), "-l", str(primary.dir / "standby.log"), "-w", "-o",
                         f"-c listen_addresses={B} -p {primary.port} -k {sockets}", "start")
        yield primary, standby
    finally:
        if (standby / "postmaster.pid").exists():
            primary.run_tool("pg_ctl", "-D", str(standby), "-w", "-m", "fast", "stop")
        primary.close()


def node_of(vm: Vm) -> tuple[str, str]:
    out = vm.ok("db", "backup", "ag")
    assert out["recovery_point"]["status"] == "Completed"
    return out["node"]["role"], out["node"]["address"]


def test_backups_come_from_the_chosen_node_and_follow_a_failover(
        server: Server, machine: Vm, group: tuple[PgServer, Path]) -> None:  # noqa: F811
    s, vm = server, machine
    primary, standby = group
    port = primary.port
    s.ok("dns", "zone", "create", "corp.internal")
    s.ok("dns", "link", "add", "corp.internal", "--vnet", "vm-net")
    s.ok("dns", "record", "set", "corp.internal", "pg", "A", A)
    listener = f"host=pg.corp.internal port={port} user=vaultlink dbname=vaultlink"
    nodes = [f"host={ip} port={port} user=vaultlink dbname=vaultlink" for ip in (A, B)]
    primary.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")

    vm.ok("protect", "postgres", "ag", "--dsn", listener, "--node", nodes[0], "--node", nodes[1])
    assert node_of(vm) == ("primary", A), "through the listener: the primary"
    vm.ok("protect", "postgres", "ag", "--dsn", listener, "--node", nodes[0], "--node", nodes[1],
          "--from", "standby")
    assert node_of(vm) == ("standby", B)

    # failover: the primary goes, the standby is promoted, the listener's record moves
    primary.stop()
    primary.run_tool("pg_ctl", "-D", str(standby), "-w", "promote")
    deadline = time.monotonic() + 30
    while primary.psql("SELECT pg_is_in_recovery()", host=B) != "f":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    s.ok("dns", "record", "set", "corp.internal", "pg", "A", B)
    no_standby = vm.run("db", "backup", "ag")
    assert no_standby.error_code == "ServiceUnavailable" and "no standby" in no_standby.stdout + no_standby.stderr
    vm.ok("protect", "postgres", "ag", "--dsn", listener, "--node", nodes[0], "--node", nodes[1])
    assert node_of(vm) == ("primary", B), "the listener now names the promoted standby"
    rps = [rp for rp in vm.ok("recovery-points") if rp.get("paths") == ["postgres://ag"]]
    assert len(rps) == 3
