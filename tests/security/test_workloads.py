"""The WAL archive under attack (issue #19): a segment changed in storage is refused on fetch (AEAD) and
nothing is written where PostgreSQL asked; a second archive of a segment with other bytes is refused and
the first stays; names that are not WAL file names are refused; another machine of the same vault cannot
fetch this machine's archive (each machine's blobs are its own)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import Server
from tests.e2e.test_private_backup import VM, Vm, private_vault

SEGMENT = "000000010000000000000003"


def test_the_wal_archive_refuses_tampering_replacement_and_strangers(server: Server, tmp_path: Path) -> None:
    s = server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "db1", VM)
    other = Vm(s, tmp_path, "db2", "127.10.1.101")
    for m in (vm, other):
        assert m.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    wal = tmp_path / "pg_wal"
    wal.mkdir()
    original = os.urandom(1 << 20)
    (wal / SEGMENT).write_bytes(original)
    assert vm.ok("db", "wal-push", "main", str(wal / SEGMENT))["archived"] is True

    # the same name again with other bytes: refused, the archive keeps the first
    (wal / SEGMENT).write_bytes(os.urandom(1 << 20))
    again = vm.run("db", "wal-push", "main", str(wal / SEGMENT))
    assert again.error_code == "Conflict", (again.stdout, again.stderr)
    vm.ok("db", "wal-fetch", "main", SEGMENT, str(tmp_path / "fetched"))
    assert (tmp_path / "fetched").read_bytes() == original

    # names that are not WAL files: refused before anything is read or sent
    for bad in ("../../etc/passwd", "postgresql.conf", "00000001000000000000000G"):
        r = vm.run("db", "wal-fetch", "main", bad, str(tmp_path / "x"))
        assert r.error_code == "InvalidInput", (bad, r.stdout)
    assert not (tmp_path / "x").exists()

    # another machine of the vault has no access to this machine's archive
    r = other.run("db", "wal-fetch", "main", SEGMENT, str(tmp_path / "stolen"))
    assert r.exit_code != 0 and not (tmp_path / "stolen").exists()

    # one byte changed in storage: the fetch fails (CorruptData) and writes nothing
    stored = [p for p in (s.data_dir / "blobs").rglob(f"{SEGMENT}-c*")]
    assert len(stored) == 1
    blob = bytearray(stored[0].read_bytes())
    blob[len(blob) // 2] ^= 0x01
    stored[0].write_bytes(bytes(blob))
    r = vm.run("db", "wal-fetch", "main", SEGMENT, str(tmp_path / "tampered"))
    assert r.error_code == "CorruptData", (r.stdout, r.stderr)
    assert not (tmp_path / "tampered").exists() and not list(tmp_path.glob("tampered*"))
