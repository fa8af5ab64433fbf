"""Data-path benchmark: a private endpoint with a 5-statement policy vs the public endpoint, same run.

    .venv/bin/python bench/data_path_bench.py [--seconds 4] [--conns 16] [--gib 1]

Starts ``vaultlink serve`` (with bench-only streaming routes, bench/_serve.py) on loopback, builds a
vault that allows public access and one reached through a private endpoint whose policy has five
statements, then measures, alternating the two paths so drift hits both alike:

1. small authenticated requests (``GET /``, ``backup:DescribeBackupVault``): requests/second from
   ``--conns`` keep-alive connections driven by one asyncio client process with raw sockets (the
   private ones bound to a source address inside the vnet, like a VM); target ratio >= 0.8;
2. ``--gib`` GiB streamed up (PUT) and down (GET) through one connection each way; target >= 0.9.

Every loop is bounded in count and time; traffic goes to 127.0.0.0/8 only. Results in
bench/README-datapath.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PRIVATE_SRC = "127.70.1.9"

FIVE_STATEMENTS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "DenyOtherVpc", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceVpc": "VNET"}}},
        {"Sid": "DenyDelete", "Effect": "Deny", "Principal": "*", "Action": "backup:Delete*", "Resource": "*"},
        {"Sid": "AllowRead", "Effect": "Allow", "Principal": "*",
         "Action": ["backup:Describe*", "backup:List*", "backup:Get*"], "Resource": "*"},
        {"Sid": "AllowBench", "Effect": "Allow", "Principal": "*", "Action": "backup:*BenchObject",
         "Resource": "*", "Condition": {"IpAddress": {"aws:VpcSourceIp": "127.70.0.0/16"}}},
        {"Sid": "AllowJobs", "Effect": "Allow", "Principal": "*", "Action": ["backup:StartBackupJob"],
         "Resource": "*"},
    ],
}


def start(data: Path, cfg: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
    log = open(data.parent / "serve.log", "ab")  # noqa: SIM115 - the server keeps writing
    proc = subprocess.Popen([sys.executable, str(HERE / "_serve.py"), "--data-dir", str(data), "--api-port", "0",
                             "--dns-port", "0", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (data / "server.json").exists():
            try:
                return proc, json.loads((data / "server.json").read_text())
            except ValueError:
                pass
        if proc.poll() is not None:
            raise SystemExit((data.parent / "serve.log").read_text())
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def setup(url: str, key: str) -> dict[str, Any]:
    with httpx.Client(base_url=url + "/v1", headers={"Authorization": f"Bearer {key}"}, trust_env=False) as c:
        pub = c.post("/vaults", json={"name": "pub", "region": "local-1"}).json()
        priv = c.post("/vaults", json={"name": "priv", "region": "local-1",
                                       "public_network_access": "Disabled"}).json()
        vnet = c.post("/vnets", json={"name": "bn", "region": "local-1", "address_spaces": ["127.70.0.0/16"],
                                      "subnets": [{"name": "s", "cidr": "127.70.1.0/24"}]}).json()
        policy = json.loads(json.dumps(FIVE_STATEMENTS).replace("VNET", vnet["id"]))
        ep = c.post("/endpoints", json={"name": "be", "region": "local-1", "vnet": "bn", "subnet": "s",
                                        "vault": "priv", "group_id": "AzureBackup", "policy": policy}).json()
        assert ep.get("ips"), ep
    return {"pub": pub, "priv": priv, "ep": ep}


class Target:
    def __init__(self, name: str, ip: str, port: int, host: str, src: str, key: str) -> None:
        self.name, self.ip, self.port, self.host, self.src, self.key = name, ip, port, host, src, key

    def head(self, method: str, path: str, extra: str = "") -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.key}\r\n"
                f"{extra}\r\n").encode()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.ip, self.port, local_addr=(self.src, 0), limit=1 << 22)


async def read_response(reader: asyncio.StreamReader, sink: bool = False) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    clen = next(int(x.split(":", 1)[1]) for x in lines[1:] if x.lower().startswith("content-length:"))
    left = clen
    while left > 0:
        chunk = await reader.read(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("closed mid-body")
        left -= len(chunk)
    return status, clen


async def small_requests(t: Target, conns: int, seconds: float) -> tuple[float, int]:
    req = t.head("GET", "/")
    stop = time.monotonic() + seconds
    done = [0]
    bad = [0]

    async def one() -> None:
        reader, writer = await t.connect()
        try:
            while time.monotonic() < stop:
                writer.write(req)
                status, _ = await read_response(reader)
                if status == 200:
                    done[0] += 1
                else:
                    bad[0] += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(conns)))
    return done[0] / (time.monotonic() - t0), bad[0]


async def put_stream(t: Target, size: int) -> float:
    reader, writer = await t.connect()
    buf = b"\0" * (1 << 20)
    t0 = time.monotonic()
    writer.write(t.head("PUT", "/bench/stream", f"Content-Length: {size}\r\n"))
    sent = 0
    while sent < size:
        part = buf if size - sent >= len(buf) else buf[: size - sent]
        writer.write(part)
        await writer.drain()
        sent += len(part)
    status, _ = await read_response(reader)
    dt = time.monotonic() - t0
    writer.close()
    assert status == 200, status
    return size / dt / (1 << 20)


async def get_stream(t: Target, size: int) -> float:
    reader, writer = await t.connect()
    t0 = time.monotonic()
    writer.write(t.head("GET", f"/bench/stream?size={size}"))
    status, n = await read_response(reader)
    dt = time.monotonic() - t0
    writer.close()
    assert status == 200 and n == size, (status, n)
    return size / dt / (1 << 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gib", type=float, default=1.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vl-dpbench-"))
    size = int(args.gib * (1 << 30))
    cfg = tmp / "bench.toml"
    cfg.write_text(f"throttle_rate = 0.0\nmax_body_bytes = {size + (1 << 20)}\n")
    proc, info = start(tmp / "data", cfg)
    try:
        key = (tmp / "data" / "owner.key").read_text().strip()
        w = setup(info["url"], key)
        port = int(info["api_port"])
        pub = Target("public", "127.0.0.1", port, f"{w['pub']['id']}.l1.backup.vaultlink.internal", "127.0.0.1", key)
        priv = Target("private", w["ep"]["ips"][0], port,
                      f"{w['priv']['id']}.privatelink.l1.backup.vaultlink.internal", PRIVATE_SRC, key)
        res: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
                               "conns": args.conns, "seconds": args.seconds}

        async def run() -> None:
            for t in (pub, priv):  # warm-up (caches, code paths)
                await small_requests(t, 4, 0.5)
            rps: dict[str, list[float]] = {"public": [], "private": []}
            for _ in range(args.rounds):
                for t in (pub, priv):
                    r, bad = await small_requests(t, args.conns, args.seconds)
                    assert bad == 0, f"{bad} refused on {t.name}"
                    rps[t.name].append(r)
            res["rps"] = {k: round(sum(v) / len(v), 1) for k, v in rps.items()}
            res["rps_ratio"] = round(res["rps"]["private"] / res["rps"]["public"], 3)
            ups: dict[str, list[float]] = {"public": [], "private": []}
            downs: dict[str, list[float]] = {"public": [], "private": []}
            for i in range(args.rounds):  # alternate, and swap the order every round
                for t in ((pub, priv) if i % 2 == 0 else (priv, pub)):
                    ups[t.name].append(await put_stream(t, size))
                    downs[t.name].append(await get_stream(t, size))
            up = {k: round(sum(v) / len(v), 1) for k, v in ups.items()}
            down = {k: round(sum(v) / len(v), 1) for k, v in downs.items()}
            res["put_MiB_s"], res["get_MiB_s"] = up, down
            res["put_ratio"] = round(up["private"] / up["public"], 3)
            res["get_ratio"] = round(down["private"] / down["public"], 3)

        asyncio.run(asyncio.wait_for(run(), timeout=600))
        print(json.dumps(res, indent=2))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
