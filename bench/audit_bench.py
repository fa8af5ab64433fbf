#!/usr/bin/env python3
"""Benchmark: the audit log at scale, on the product's SQLite store (``SqlStore``, as installed).

    .venv/bin/python bench/audit_bench.py [--events 1000000] [--accounts 200]

Writes ``--events`` data-plane events (a pack upload each: a unique path, the heaviest common event)
spread over ``--accounts`` accounts in batches, as the audit writer does, then reports the bytes on disk
per event (after a checkpoint and VACUUM) and the time of listings a user runs: newest 100 of one
account, of an account with no events, of one account and one refusal code, of one vault, of one
principal, of denied events, and of a time window. Targets (issue #13): at most 300 bytes per event;
any listing under 20 ms at 10M events.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _product import preflight

from vaultlink.adapters.sqlstore import SqlStore


def event(rnd: random.Random, accounts: list[str], now: float) -> dict[str, object]:
    """A pack upload by one machine: each account has 5 vaults with an endpoint each and 25 machines."""
    i = rnd.randrange(len(accounts))
    a, v = accounts[i], f"v{i:05x}{rnd.randrange(5)}"
    c = f"c{i:05x}{rnd.randrange(25):02x}"
    denied = rnd.random() < 0.02
    return {"plane": "data", "time": now, "source_ip": f"127.{10 + i // 250}.{i % 250}.{int(c[-2:], 16)}",
            "host": f"{v}.privatelink.l1.backup.vaultlink.internal", "endpoint": f"pe-{v}", "method": "PUT",
            "path": f"/packs/{rnd.getrandbits(256):064x}", "action": "backup:PutBackupData",
            "principal": f"arn:aws:iam::{a}:user/vaultlink-container/{c}",
            "decision": "denied" if denied else "allowed", "vnet": f"vnet-{i:08x}", "vault": v,
            "resource": f"arn:aws:backup:local-1:{a}:backup-vault:{v}",
            "target": f"arn:aws:backup:local-1:{a}:backup-vault:{v}", "account_id": a, "container": c,
            "status": 403 if denied else 200, "code": "EndpointPolicyDenied" if denied else None,
            "latency_ms": round(rnd.random() * 5, 3)}


def timed(fn: object, repeat: int = 5) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=200)
    args = ap.parse_args()
    versions = preflight()
    rnd = random.Random(1)
    accounts = [f"{100000000000 + i}" for i in range(args.accounts)]
    with tempfile.TemporaryDirectory(prefix="vl-auditbench-") as tmp:
        db = Path(tmp) / "vaultlink.db"
        store = SqlStore(f"sqlite:///{db}")
        store.migrate()
        t0 = time.perf_counter()
        now = time.time() - args.events / 1000
        batch = 2000
        for i in range(0, args.events, batch):
            store.append_audit([event(rnd, accounts, now + (i + j) / 1000) for j in range(min(batch, args.events - i))])
        write_s = time.perf_counter() - t0
        store.close()
        con = sqlite3.connect(db)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("VACUUM")
        con.close()
        size = db.stat().st_size
        store = SqlStore(f"sqlite:///{db}")
        sample = store.query_audit({}, limit=1, newest_first=True)[0]
        a = accounts[7]
        lists = {
            "account, newest 100": lambda: store.query_audit({"account_id": a}, limit=100, newest_first=True),
            "account with no events": lambda: store.query_audit({"account_id": "999999999999"}, limit=100,
                                                                newest_first=True),
            "account + code": lambda: store.query_audit({"account_id": a, "code": "EndpointPolicyDenied"}, limit=100,
                                                        newest_first=True),
            "vault": lambda: store.query_audit({"vault": sample["vault"]}, limit=100, newest_first=True),
            "principal": lambda: store.query_audit({"principal": sample["principal"]}, limit=100, newest_first=True),
            "denied": lambda: store.query_audit({"decision": "denied"}, limit=100, newest_first=True),
            "time window": lambda: store.query_audit({"since": now + 100, "until": now + 101}, limit=100),
        }
        times = {name: round(timed(fn), 2) for name, fn in lists.items()}
        store.close()
    per_event = size / args.events
    print(f"{args.events:,} events over {args.accounts} accounts written in {write_s:.1f} s "
          f"({args.events / write_s:,.0f}/s); {size / 2**20:.0f} MiB on disk = {per_event:.0f} bytes/event "
          "(target <= 300)")
    for name, ms in times.items():
        print(f"  {name:28} {ms:7.2f} ms (target < 20)")
    print(json.dumps({"events": args.events, "bytes_per_event": round(per_event, 1), "list_ms": times,
                      "write_per_s": round(args.events / write_s), "versions": versions, "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
