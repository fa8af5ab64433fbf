"""Netns mode versus loopback mode: the same private backup and restore, the same data, the same run.

    sudo .venv/bin/python bench/netns_bench.py [--size-mib 1024] [--rounds 2] [--dir /tmp/vlnetns]

Re-runs itself inside a network + mount namespace of its own (``unshare --net --mount``): both servers,
the vnets' namespaces and every packet stay there (nothing is added to the machine's interfaces).
Each round starts a loopback-mode and a netns-mode ``vaultlink serve`` (fresh data dirs, alternating
which goes first), builds the private story (a vault denying public access, vm-net, a private endpoint
with DNS integration), and times ``vaultlink agent backup`` (first backup) and ``restore`` as the VM:
loopback: the agent with ``--source-ip 127.10.1.100``; netns: the agent run inside vm-net's namespace
(``nsenter --net``, resolving through the vnet's own DNS address). Ratio = loopback time / netns time
(target >= 0.95). Not a test; CI never runs it. Root only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, fresh_workdir, preflight, run_measured  # noqa: E402
from backup_bench import private_story, same_tree, timed  # noqa: E402
from data_bench import PASS, MiB, make_dataset  # noqa: E402

INNER = "VAULTLINK_BENCH_IN_NAMESPACE"


def one(mode: str, data: Path, work: Path, round_no: int) -> dict[str, float]:
    work = fresh_workdir(work / f"{mode}-{round_no}")  # netns_dir stays a mount point: a new dir per round
    extra: tuple[str, ...] = ()
    if mode == "netns":
        cfg = work / "netns.toml"
        cfg.write_text(f'fabric = "netns"\nnetns_dir = "{work / "ns"}"\nnetns_etc_dir = "{work / "etc"}"\n')
        extra = ("--config", str(cfg))
    svc = Service(work / "server", *extra)
    try:
        if mode == "netns":
            creds = private_story(svc, work, "10.10.0.0/16", "10.10.1.0/24")
            vid = svc.cli("vnet", "show", "vm-net")["id"]
            wrap = ["nsenter", f"--net={work / 'ns' / ('vl-' + vid)}", "--"]
            where = ["--dns", "10.10.0.2:53"]
        else:
            creds = private_story(svc, work)
            wrap, where = [], ["--source-ip", "127.10.1.100", "--dns", f"127.0.0.1:{svc.dns_port}"]
        pw = work / "pw"
        pw.write_text(PASS)
        state = work / "agent"

        def agent(*args: str) -> Any:
            out, _w, _k = run_measured([*wrap, VAULTLINK, "agent", args[0], "--state-dir", str(state),
                                        "--passphrase-file", str(pw), *args[1:], "-o", "json"], svc.env())
            return json.loads(out)

        agent("register", "--credentials", str(creds), *where, "--hostname", "vm")
        res: dict[str, Any] = {}
        backup = timed(lambda: res.update(b=agent("backup", "--no-progress", str(data))))
        out = work / "out"
        restore = timed(lambda: agent("restore", res["b"]["recovery_point"]["id"], "--no-progress",
                                      "--target", str(out)))
        if not same_tree(data, out / data.name):
            raise SystemExit(f"{mode}: the restore differs from the data")
        return {"backup": backup, "restore": restore}
    finally:
        svc.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/vlnetns")
    args = ap.parse_args()
    if os.environ.get(INNER) != "1":
        if os.geteuid() != 0:
            raise SystemExit("netns mode needs root: run with sudo")
        cmd = ["unshare", "--net", "--mount", "--propagation", "private", "--", sys.executable, __file__, *sys.argv[1:]]
        raise SystemExit(subprocess.run(cmd, env={**os.environ, INNER: "1"}).returncode)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    preflight({"nsenter": ["nsenter", "--version"]})
    work = fresh_workdir(args.dir)
    data = work / "data"
    make_dataset(data, args.size_mib * MiB)
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    print(f"# dataset {size / MiB:.0f} MiB in {sum(1 for _ in data.rglob('*'))} entries; rounds {args.rounds}")
    rows: list[tuple[str, dict[str, float]]] = []
    for r in range(max(1, min(args.rounds, 10))):
        order = ("loopback", "netns") if r % 2 == 0 else ("netns", "loopback")
        got = {mode: one(mode, data, work, r) for mode in order}
        for mode in ("loopback", "netns"):
            rows.append((mode, got[mode]))
        lo, ns = got["loopback"], got["netns"]
        print(f"round {r + 1}: backup loopback {lo['backup']:.2f}s ({size / MiB / lo['backup']:.0f} MiB/s), netns "
              f"{ns['backup']:.2f}s ({size / MiB / ns['backup']:.0f} MiB/s) -> {lo['backup'] / ns['backup']:.2f}x; "
              f"restore loopback {lo['restore']:.2f}s, netns {ns['restore']:.2f}s -> "
              f"{lo['restore'] / ns['restore']:.2f}x")
    for step in ("backup", "restore"):
        loop_rows, ns_rows = [r for m, r in rows if m == "loopback"], [r for m, r in rows if m == "netns"]
        ratios = sorted(lo[step] / ns[step] for lo, ns in zip(loop_rows, ns_rows, strict=True))
        print(f"{step}: netns / loopback throughput, median of {len(ratios)} rounds "
              f"{statistics.median(ratios):.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f})")
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
