#!/usr/bin/env python3
"""Benchmark: dnsperf against the DNS responder of a real ``vaultlink serve`` and against dnsmasq, same
names, same answers, same run, dnsperf alternating between the two servers.

The product as installed (``bench/_product.py``: the venv's ``vaultlink serve``, its declared dependencies
only; it refuses to run with an undeclared accelerator importable). The service gets a vnet and N vaults,
each with a private endpoint with DNS integration (through the management API), so every vault has a
public name that CNAMEs to its privatelink name, which answers the endpoint's private IP inside the vnet.
dnsperf asks from 127.10.1.5, an address inside that vnet; dnsmasq answers the same names with the same
answers (``--cname`` + ``--host-record``). Then, with ``--during-backup MIB``, the same measurement while
an agent backs up MIB of data through the same server's private endpoint.

Usage: .venv/bin/python bench/dns_bench.py [--seconds 10] [--vaults 100] [--rounds 2] [--during-backup 512]
Prints a table and a JSON line; exits 0 whatever the figures (benchmarks never fail CI).
Needs the Debian packages dnsperf and dnsmasq.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _product import VAULTLINK, Service, preflight

SOURCE = "127.10.1.5"  # a machine inside the vnet
VM = "127.10.1.100"  # the agent, for --during-backup


def populate(svc: Service, vaults: int) -> list[tuple[str, str, str]]:
    """A vnet and ``vaults`` vaults with one private endpoint each: [(public name, privatelink name, ip)]."""
    svc.api("POST", "/vnets", {"name": "bench", "region": "local-1", "address_spaces": ["127.10.0.0/16"],
                               "subnets": [{"name": "pe", "cidr": "127.10.0.0/20"}]})
    names: list[tuple[str, str, str]] = []
    for i in range(vaults):
        svc.api("POST", "/vaults", {"name": f"v{i}", "region": "local-1"})
        ep = svc.api("POST", "/endpoints", {"name": f"pe{i}", "vault": f"v{i}", "group_id": "AzureBackup",
                                            "vnet": "bench", "subnet": "pe", "region": "local-1"})
        for cfg in ep["ip_configs"]:
            names.append((cfg["public_name"], cfg["fqdn"], cfg["ip"]))
    return names


def wait_udp(port: int, name: str, timeout: float = 10.0) -> None:
    """Wait until something answers a query for ``name`` on 127.0.0.1:port (bounded)."""
    qname = b"".join(bytes([len(lb)]) + lb.encode() for lb in name.split(".")) + b"\x00"
    query = bytes.fromhex("abcd01000001000000000000") + qname + b"\x00\x01\x00\x01"
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((SOURCE, 0))
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(query, ("127.0.0.1", port))
            try:
                s.recvfrom(4096)
                return
            except OSError:
                continue
    raise SystemExit(f"nothing answers on 127.0.0.1:{port}")


def dig(port: int, name: str) -> list[str]:
    out = subprocess.run(["dig", "+short", "-b", SOURCE, "-p", str(port), "@127.0.0.1", name], capture_output=True,
                         text=True, timeout=10).stdout
    return out.split()


SERVER_CPU: tuple[str, ...] = ()  # set by --pin: both servers on one core, dnsperf on another
CLIENT_CPU: tuple[str, ...] = ()


def run_dnsperf(port: int, datafile: str, seconds: float) -> dict[str, float]:
    cmd = [*CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-a", SOURCE, "-d", datafile, "-l", str(seconds),
           "-c", "1", "-q", "100", "-t", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout

    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")

    return {
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "completed": grab(r"Queries completed:\s+(\d+)"),
        "lost": grab(r"Queries lost:\s+(\d+)"),
        "avg_latency_ms": grab(r"Average Latency \(s\):\s+([\d.]+)") * 1000,
    }


def start_dnsmasq(tmp: Path, names: list[tuple[str, str, str]]) -> tuple[subprocess.Popen[bytes], int]:
    conf = tmp / "dnsmasq.conf"
    lines = [f"host-record={priv},{ip},10" for _pub, priv, ip in names]
    lines += [f"cname={pub},{priv},10" for pub, priv, _ip in names]
    conf.write_text("\n".join(lines) + "\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([*SERVER_CPU, "dnsmasq", "-k", f"--conf-file={conf}", "--no-resolv", "--no-hosts",
                             "--listen-address=127.0.0.1", "--bind-interfaces", "-p", str(port), "--user=root",
                             "--pid-file=", "--log-facility=/dev/null"])
    return proc, port


def backup_in_background(svc: Service, tmp: Path, mib: int) -> tuple[threading.Thread, dict[str, Any]]:
    """Register an agent in the vnet (vault v0's private endpoint) and back up ``mib`` MiB in a thread."""
    from data_bench import PASS, MiB, make_dataset

    data = tmp / "data"
    make_dataset(data, mib * MiB)
    creds, pw, state = tmp / "v0.vaultcredentials", tmp / "passphrase", tmp / "agent"
    pw.write_text(PASS)
    subprocess.run([VAULTLINK, "vault", "credentials", "v0", "-o", str(creds)], env=svc.env(), check=True,
                   capture_output=True, timeout=60)
    svc.cli("agent", "register", "--state-dir", str(state), "--passphrase-file", str(pw), "--credentials",
            str(creds), "--source-ip", VM, "--dns", f"127.0.0.1:{svc.dns_port}", "--hostname", "bench-vm")
    result: dict[str, Any] = {}

    def run() -> None:
        t = time.perf_counter()
        svc.cli("agent", "backup", "--state-dir", str(state), "--passphrase-file", str(pw), "--no-progress",
                str(data), timeout=1800)
        result["seconds"] = time.perf_counter() - t

    th = threading.Thread(target=run)
    th.start()
    return th, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--vaults", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2, help="alternations vaultlink, dnsmasq")
    ap.add_argument("--during-backup", type=int, default=0, metavar="MIB",
                    help="also measure while an agent backs up MIB MiB through the same server")
    ap.add_argument("--pin", choices=("on", "off"), default="on" if (os.cpu_count() or 1) >= 2 else "off",
                    help="taskset: both servers on CPU 1, dnsperf on CPU 0 (less scheduler noise)")
    ap.add_argument("--worker", choices=("on", "off"), default="on",
                    help="the service's dns_udp_worker setting (off: UDP on the event loop)")
    args = ap.parse_args()
    versions = preflight({"dnsmasq": ["dnsmasq", "--version"], "dnsperf": ["dnsperf", "-h"]})
    global SERVER_CPU, CLIENT_CPU
    if args.pin == "on" and shutil.which("taskset"):
        SERVER_CPU, CLIENT_CPU = ("taskset", "-c", "1"), ("taskset", "-c", "0")
    results: dict[str, list[dict[str, float]]] = {"vaultlink": [], "dnsmasq": []}
    with tempfile.TemporaryDirectory(prefix="vl-dnsbench-") as tmpdir:
        tmp = Path(tmpdir)
        cfg = tmp / "vaultlink.toml"
        cfg.write_text(f"dns_udp_worker = {'true' if args.worker == 'on' else 'false'}\n")
        svc = Service(tmp / "vl", "--config", str(cfg), wrap=SERVER_CPU)
        dm: subprocess.Popen[bytes] | None = None
        try:
            t = time.perf_counter()
            names = populate(svc, args.vaults)
            print(f"# {args.vaults} vaults with private endpoints in {time.perf_counter() - t:.1f} s; "
                  f"{len(names)} public names")
            datafile = tmp / "queries.txt"
            datafile.write_text("".join(f"{pub} A\n{priv} A\n" for pub, priv, _ip in names))
            dm, dm_port = start_dnsmasq(tmp, names)
            pub, _priv, ip = names[0]
            wait_udp(svc.dns_port, pub)
            wait_udp(dm_port, pub)
            got_vl, got_dm = dig(svc.dns_port, pub), dig(dm_port, pub)
            if got_vl[-1:] != [ip] or got_dm[-1:] != [ip]:
                raise SystemExit(f"the servers answer differently: vaultlink {got_vl}, dnsmasq {got_dm}")
            for _ in range(args.rounds):
                results["vaultlink"].append(run_dnsperf(svc.dns_port, str(datafile), args.seconds))
                results["dnsmasq"].append(run_dnsperf(dm_port, str(datafile), args.seconds))
            during: dict[str, Any] = {}
            if args.during_backup:
                th, backup = backup_in_background(svc, tmp, args.during_backup)
                time.sleep(0.5)
                during["vaultlink"] = run_dnsperf(svc.dns_port, str(datafile), 2.0)  # while the backup runs
                th.join(timeout=1800)
                during["backup_seconds"] = backup.get("seconds")
                during["dnsmasq"] = run_dnsperf(dm_port, str(datafile), 2.0)  # and dnsmasq right after, idle
        finally:
            if dm is not None:
                dm.terminate()
                dm.wait(timeout=10)
            svc.stop()
    # each round measures both servers back to back: the median of the rounds' ratios cancels the drift of a
    # shared machine better than a ratio of medians
    ratios = [v["qps"] / d["qps"] for v, d in zip(results["vaultlink"], results["dnsmasq"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"{'round':5} {'server':10} {'qps':>10} {'completed':>10} {'lost':>5} {'avg ms':>7}")
    for i in range(args.rounds):
        for name in ("vaultlink", "dnsmasq"):
            r = results[name][i]
            print(f"{i + 1:5} {name:10} {r['qps']:>10.0f} {r['completed']:>10.0f} {r['lost']:>5.0f} "
                  f"{r['avg_latency_ms']:>7.3f}")
    lost = sum(r["lost"] for v in results.values() for r in v)
    print(f"ratio per round: {', '.join(f'{r:.2f}' for r in ratios)}; median {ratio:.2f} "
          f"(target >= 1.0, lost 0; lost here: {lost:.0f})")
    if during:
        r = during["vaultlink"]
        d = during["dnsmasq"]
        print(f"during a {args.during_backup} MiB backup ({during['backup_seconds']:.1f} s) through the same server: "
              f"vaultlink {r['qps']:.0f} q/s, lost {r['lost']:.0f}; dnsmasq idle right after {d['qps']:.0f} q/s "
              f"= {r['qps'] / d['qps']:.2f}")
    print(json.dumps({"results": results, "ratios": ratios, "median_ratio": ratio, "during_backup": during,
                      "seconds": args.seconds,
                      "vaults": args.vaults, "worker": args.worker, "pin": args.pin, "versions": versions,
                      "load": os.getloadavg()}))


if __name__ == "__main__":
    if shutil.which("dig") is None:
        raise SystemExit("dig is missing: apt-get install -y bind9-dnsutils")
    main()
