#!/usr/bin/env python3
"""Benchmark: dnsperf against the vaultlink DNS responder and against dnsmasq, same names, same run.

Both servers listen on 127.0.0.1 (random free ports) and answer the same names with the same
answers: every vault and blob/queue account has a public name that CNAMEs to its privatelink
name, which answers a private IP. dnsperf queries from 127.10.1.5, an address inside the vnet
that is linked to the privatelink zones (so the responder gives CNAME + private A, like dnsmasq
with ``--cname`` + ``--host-record``).

Usage: .venv/bin/python bench/dns_bench.py [--seconds 10] [--names 300] [--clients 1]
Prints a table and a JSON line; exits 0 whatever the figures (benchmarks never fail CI).
Needs the Debian packages dnsperf and dnsmasq.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vaultlink.dns import names as N
from vaultlink.dns.model import DnsView, PrivateZone, Vnet, VnetLink, make_record_set

SOURCE = "127.10.1.5"


def build(count: int) -> tuple[DnsView, list[tuple[str, str]], list[tuple[str, str]]]:
    """The view, the (public name, privatelink name) pairs and the (privatelink name, ip) records."""
    vault_zone, blob_zone, queue_zone = (
        N.vault_privatelink_zone("ge"),
        N.blob_privatelink_zone(),
        N.queue_privatelink_zone(),
    )
    records: dict[str, list] = {vault_zone: [], blob_zone: [], queue_zone: []}
    cnames: list[tuple[str, str]] = []
    hosts: list[tuple[str, str]] = []
    for i in range(count):
        ip = f"127.10.{1 + i // 250}.{4 + i % 250}"
        kind = i % 3
        if kind == 0:
            pub, priv, zone = (
                N.vault_public_name(f"vault{i}", "ge"),
                N.vault_privatelink_name(f"vault{i}", "ge"),
                vault_zone,
            )
        elif kind == 1:
            pub, priv, zone = N.blob_public_name(f"acct{i}"), N.blob_privatelink_name(f"acct{i}"), blob_zone
        else:
            pub, priv, zone = (
                N.queue_public_name(f"acct{i}"),
                N.queue_privatelink_name(f"acct{i}"),
                queue_zone,
            )
        records[zone].append(make_record_set(zone, priv.split(".")[0], "A", [ip], 10))
        cnames.append((pub, priv))
        hosts.append((priv, ip))
    zones = [PrivateZone.create(z, recs, [VnetLink("vnet1")]) for z, recs in records.items()]
    view = DnsView.create(
        public_address="127.0.0.1",
        zones=zones,
        vnets=[Vnet.create("vnet1", ["127.10.0.0/16"])],
        public_names=dict(cnames),
        public_ttl=10,
    )
    return view, cnames, hosts


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_udp(port: int, name: str, timeout: float = 10.0) -> None:
    """Wait until something answers a query for ``name`` on 127.0.0.1:port (bounded)."""
    qname = b"".join(bytes([len(lb)]) + lb.encode() for lb in name.split(".")) + b"\x00"
    query = bytes.fromhex("abcd01000001000000000000") + qname + b"\x00\x01\x00\x01"
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(query, ("127.0.0.1", port))
            try:
                s.recvfrom(4096)
                return
            except OSError:
                continue
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


def run_dnsperf(port: int, datafile: str, seconds: float, clients: int, edns: bool) -> dict[str, float]:
    cmd = [
        "dnsperf",
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-a",
        SOURCE,
        "-d",
        datafile,
        "-l",
        str(seconds),
        "-c",
        str(clients),
        "-q",
        "100",
        "-t",
        "2",
    ]
    if edns:
        cmd.append("-e")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout

    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    return {
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "sent": grab(r"Queries sent:\s+(\d+)"),
        "completed": grab(r"Queries completed:\s+(\d+)"),
        "lost": grab(r"Queries lost:\s+(\d+)"),
        "avg_latency_ms": grab(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
        "noerror": grab(r"NOERROR (\d+)"),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def serve(port: int, count: int) -> None:
    from vaultlink.dns.responder import Responder
    from vaultlink.dns.server import serve_forever

    view, _, _ = build(count)
    serve_forever(Responder(view), "127.0.0.1", port, stop_after=600)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--names", type=int, default=300)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--edns", action="store_true", help="send EDNS0 (dnsperf -e)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.names)
        return
    for tool in ("dnsperf", "dnsmasq"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y {tool}")
            return
    _, cnames, hosts = build(args.names)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        datafile = os.path.join(tmp, "queries.txt")
        with open(datafile, "w") as fh:
            for pub, priv in cnames:
                fh.write(f"{pub} A\n{priv} A\n")
        # vaultlink responder
        port = free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--names", str(args.names)])
        try:
            wait_udp(port, hosts[0][0])
            results["vaultlink"] = run_dnsperf(port, datafile, args.seconds, args.clients, args.edns)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
        # dnsmasq serving the same names
        conf = os.path.join(tmp, "dnsmasq.conf")
        with open(conf, "w") as fh:
            for priv, ip in hosts:
                fh.write(f"host-record={priv},{ip},10\n")
            for pub, priv in cnames:
                fh.write(f"cname={pub},{priv},10\n")
        port = free_port()
        dm = subprocess.Popen(
            [
                "dnsmasq",
                "-k",
                "--conf-file=" + conf,
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "-p",
                str(port),
                "--user=root",
                "--pid-file=",
                "--log-facility=/dev/null",
            ]
        )
        try:
            wait_udp(port, hosts[0][0])
            results["dnsmasq"] = run_dnsperf(port, datafile, args.seconds, args.clients, args.edns)
        finally:
            dm.terminate()
            dm.wait(timeout=10)
    ratio = results["vaultlink"]["qps"] / results["dnsmasq"]["qps"]
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {loop}")
    print(f"{'server':10} {'qps':>10} {'sent':>9} {'completed':>9} {'lost':>5} {'avg ms':>7}")
    for name, r in results.items():
        print(
            f"{name:10} {r['qps']:>10.0f} {r['sent']:>9.0f} {r['completed']:>9.0f} {r['lost']:>5.0f} "
            f"{r['avg_latency_ms']:>7.3f}"
        )
    print(f"ratio vaultlink/dnsmasq: {ratio:.2f} (target >= 0.80, lost 0)")
    summary = {"results": results, "ratio": ratio, "seconds": args.seconds, "names": args.names}
    print(json.dumps({**summary, "edns": args.edns}))


if __name__ == "__main__":
    main()
