"""A SQLite file protected by the agent (issue #19): backed up through SQLite's online backup API while a
writer keeps committing, restored into a new file that passes its integrity check and holds one
consistent moment (every transaction whole: two tables written together agree)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from tests.conftest import Server
from tests.e2e.test_private_backup import VM, Vm, private_vault


def test_a_sqlite_file_backed_up_while_written_restores_consistent(server: Server, tmp_path: Path) -> None:
    _vid, creds = private_vault(server, tmp_path)
    vm = Vm(server, tmp_path, "app", VM)
    assert vm.register(creds, f"127.0.0.1:{server.info['dns_port']}").exit_code == 0
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("CREATE TABLE ledger (order_id INTEGER PRIMARY KEY)")
    with conn:
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, "x" * 500) for i in range(20000)])
        conn.executemany("INSERT INTO ledger VALUES (?)", [(i,) for i in range(20000)])
    conn.close()
    vm.ok("protect", "sqlite", "app", "--path", str(db))
    stop = threading.Event()

    def writer() -> None:  # commits go on during the backup, each writing both tables
        w = sqlite3.connect(db, timeout=30)
        n = 20000
        while not stop.is_set() and n < 200000:
            with w:
                w.execute("INSERT INTO orders VALUES (?, ?)", (n, "y" * 500))
                w.execute("INSERT INTO ledger VALUES (?)", (n,))
            n += 1
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        rp = vm.ok("db", "backup", "app")["recovery_point"]
    finally:
        stop.set()
        t.join(30)
    assert rp["paths"] == ["sqlite://app"]
    out = tmp_path / "restored.db"
    got = vm.ok("db", "restore", "app", "--target", str(out))
    assert got["recovery_point"] == rp["id"]
    r = sqlite3.connect(out)
    try:
        assert r.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orders, ledger = (r.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("orders", "ledger"))
        assert orders == ledger >= 20000, (orders, ledger)
    finally:
        r.close()
    again = vm.run("db", "restore", "app", "--target", str(out))
    assert again.error_code == "InvalidInput", "an existing file is never overwritten"
