"""The agent's own replication client (agent/pg_stream.py) against a real PostgreSQL: the tar it reads is the
one pg_basebackup writes (same members, ended by tar's zero blocks), read ahead across the handover to the
engine; a role that may not replicate and a cluster with a tablespace are refused with errors that say why."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pgserver import PgServer

from vaultlink.agent import pg_stream, prefetch
from vaultlink.errors import InvalidInput, ServiceUnavailable


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer(userns=True)
    try:
        server.psql("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g")
        yield server
    finally:
        server.close()


def dsn(pg: PgServer, user: str = "vaultlink") -> str:
    return f"host=127.0.0.1 port={pg.port} user={user} dbname=vaultlink"


def members(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        return {m.name: m.size for m in tar}


def test_the_stream_is_the_tar_pg_basebackup_writes(pg: PgServer, capfd: pytest.CaptureFixture[str]) -> None:
    source = pg_stream.open_stream(dsn(pg))
    assert source is not None
    stream = prefetch.reader_of(source, limit=1 << 20)  # a small read-ahead: the handover happens early
    try:
        ours = stream.read()
    finally:
        source.cancel()
        stream.close()
        source.close()
    assert ours.endswith(bytes(1024)) and len(ours) % 512 == 0
    assert source.start_lsn and source.end_lsn and source.start_lsn <= source.end_lsn
    # the segment the agent waits for is the one PostgreSQL names for the backup's end
    assert source.end_segment() == pg.psql(f"SELECT pg_walfile_name('{source.end_lsn}')")
    # PostgreSQL's notice (archiving is off on this test server) is kept, not printed on the agent's stderr
    assert any("archiving" in n for n in source.notices) and "NOTICE" not in capfd.readouterr().err
    theirs = subprocess.run([str(pg.bin / "pg_basebackup"), "-d", dsn(pg), "-D", "-", "-F", "t", "-X", "none",
                             "-c", "fast", "--no-manifest"], capture_output=True, check=True, timeout=120).stdout
    mine, peer = members(ours), members(theirs)
    assert set(mine) == set(peer) and "backup_label" in mine and "global/pg_control" in mine
    table = pg.psql("SELECT pg_relation_filepath('t')")
    assert mine[table] == peer[table] > 8 << 20


def test_a_role_without_replication_is_refused_saying_what_it_needs(pg: PgServer) -> None:
    pg.psql("DO $$BEGIN CREATE ROLE reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    with pytest.raises(ServiceUnavailable, match="REPLICATION"):
        source = pg_stream.open_stream(dsn(pg, "reader"))
        assert source is not None
        source.next_piece()


def test_a_cluster_with_a_tablespace_is_refused_before_any_data(pg: PgServer, tmp_path: Path) -> None:
    place = Path(pg.dir) / "ts"
    place.mkdir()
    pg.psql(f"CREATE TABLESPACE extra LOCATION '{place}'")
    try:
        source = pg_stream.open_stream(dsn(pg))
        assert source is not None
        try:
            with pytest.raises(InvalidInput, match="tablespace"):
                source.next_piece()
        finally:
            source.close()
    finally:
        pg.psql("DROP TABLESPACE extra")


def test_a_dsn_libpq_cannot_parse_is_invalid_input() -> None:
    for dsn_ in ("host=127.0.0.1 port=5432 =broken", "host=127.0.0.1 port=notaport"):
        with pytest.raises(InvalidInput, match="--dsn"):
            pg_stream.open_stream(dsn_)
