"""Data-path benchmark: the installed ``vaultlink serve``, a private endpoint with a 5-statement policy vs
the public endpoint, and both vs a bare ASGI app on the same server stack, same run.

    .venv/bin/python bench/data_path_bench.py [--seconds 4] [--conns 16] [--rounds 3] [--mib 1024]

Starts the product as installed (``bench/_product.py``), builds a vault that allows public access and one
reached through a private endpoint whose policy has five statements, registers an agent for each (the real
``vaultlink agent register``), then measures, alternating the paths so drift hits them alike:

1. small authenticated requests (``GET /`` of the backup service, ``backup:DescribeBackupVault``):
   requests/second and p50/p99 latency from ``--conns`` keep-alive connections driven by one asyncio
   client process with raw sockets (the private ones bound to a source address inside the vnet, like a
   VM); and the same client against a bare ASGI app that returns the same bytes, served by the same
   uvicorn/httptools/asyncio stack in one process, with TLS when the product's listeners have it (an
   ECDSA P-256 certificate, as the product's) (target: full pipeline >= 0.5x bare);
2. ``--mib`` MiB through the real blob service with the machine's container credential: 64 MiB blobs
   (the size of a large pack) uploaded (PUT) and read back (GET) on one connection each way.

Every loop is bounded in count and time; traffic goes to 127.0.0.0/8 only. Results in
bench/README-datapath.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, cpu_delta, preflight, process_cpu  # noqa: E402

PRIVATE_SRC = "127.70.1.9"

FIVE_STATEMENTS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "DenyOtherVpc", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceVpc": "VNET"}}},
        {"Sid": "DenyDelete", "Effect": "Deny", "Principal": "*", "Action": "backup:Delete*", "Resource": "*"},
        {"Sid": "AllowRead", "Effect": "Allow", "Principal": "*",
         "Action": ["backup:Describe*", "backup:List*", "backup:Get*"], "Resource": "*"},
        {"Sid": "AllowData", "Effect": "Allow", "Principal": "*",
         "Action": ["backup:PutBackupData", "backup:RegisterContainer"], "Resource": "*",
         "Condition": {"IpAddress": {"aws:VpcSourceIp": "127.70.0.0/16"}}},
        {"Sid": "AllowJobs", "Effect": "Allow", "Principal": "*", "Action": ["backup:StartBackupJob"],
         "Resource": "*"},
    ],
}


def setup(svc: Service) -> dict[str, Any]:
    pub = svc.api("POST", "/vaults", {"name": "pub", "region": "local-1"})
    priv = svc.api("POST", "/vaults", {"name": "priv", "region": "local-1", "public_network_access": "Disabled"})
    vnet = svc.api("POST", "/vnets", {"name": "bn", "region": "local-1", "address_spaces": ["127.70.0.0/16"],
                                      "subnets": [{"name": "s", "cidr": "127.70.1.0/24"}]})
    policy = json.loads(json.dumps(FIVE_STATEMENTS).replace("VNET", vnet["id"]))
    ep = svc.api("POST", "/endpoints", {"name": "be", "region": "local-1", "vnet": "bn", "subnet": "s",
                                        "vault": "priv", "group_id": "AzureBackup", "policy": policy})
    return {"pub": pub, "priv": priv, "ep": ep}


def register(svc: Service, tmp: Path, vault: str, source: str) -> dict[str, Any]:
    """``vaultlink agent register`` for ``vault`` from ``source``: the machine's state (credential, accounts)."""
    creds, pw, state = tmp / f"{vault}.vaultcredentials", tmp / "passphrase", tmp / f"agent-{vault}"
    pw.write_text("benchmark passphrase 0123456789")
    subprocess.run([VAULTLINK, "vault", "credentials", vault, "-o", str(creds)], env=svc.env(), check=True,
                   capture_output=True, timeout=60)
    svc.cli("agent", "register", "--state-dir", str(state), "--passphrase-file", str(pw), "--credentials",
            str(creds), "--source-ip", source, "--dns", f"127.0.0.1:{svc.dns_port}", "--hostname", f"vm-{vault}")
    st: dict[str, Any] = json.loads((state / "state.json").read_text())
    return st


BARE_APP = """
import sys, uvicorn
tls = dict(ssl_certfile=sys.argv[3], ssl_keyfile=sys.argv[4]) if len(sys.argv) > 4 else {}
body = open(sys.argv[2], "rb").read()
headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", loop="asyncio", log_level="warning",
            access_log=False, lifespan="off", server_header=False, **tls)
"""


def bare_certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 (the key type the product's CA issues)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("bare"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "bare-cert.pem", tmp / "bare-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def start_bare(tmp: Path, body: bytes, tls: bool) -> tuple[subprocess.Popen[bytes], int]:
    """A bare ASGI app returning ``body``, on the product's server stack (uvicorn, httptools, asyncio, and
    TLS when ``tls``)."""
    import socket

    (tmp / "body.json").write_bytes(body)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    extra = [str(f) for f in bare_certificate(tmp)] if tls else []
    proc = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port), str(tmp / "body.json"), *extra])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the bare ASGI app did not start")


class Target:
    def __init__(self, name: str, ip: str, port: int, host: str, src: str, key: str,
                 tls: ssl.SSLContext | None = None) -> None:
        self.name, self.ip, self.port, self.host, self.src, self.key = name, ip, port, host, src, key
        self.tls = tls  # the product's listeners speak TLS (its deployment CA), and so does the bare app then

    def head(self, method: str, path: str, extra: str = "", host: str | None = None, key: str | None = None) -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nHost: {host or self.host}\r\nAuthorization: Bearer {key or self.key}"
                f"\r\n{extra}\r\n").encode()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.tls is None:
            return await asyncio.open_connection(self.ip, self.port, local_addr=(self.src, 0), limit=1 << 22)
        return await asyncio.open_connection(self.ip, self.port, local_addr=(self.src, 0), limit=1 << 22,
                                             ssl=self.tls, server_hostname=self.host)


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


async def small_requests(t: Target, conns: int, seconds: float) -> tuple[float, int, list[float]]:
    """(requests/s, refused, latencies in ms) of ``conns`` closed-loop keep-alive connections."""
    req = t.head("GET", "/")
    stop = time.monotonic() + seconds
    done = [0]
    bad = [0]
    lat: list[float] = []

    async def one() -> None:
        reader, writer = await t.connect()
        try:
            while time.monotonic() < stop:
                t1 = time.perf_counter()
                writer.write(req)
                status, _ = await read_response(reader)
                lat.append((time.perf_counter() - t1) * 1000)
                if status == 200:
                    done[0] += 1
                else:
                    bad[0] += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(conns)))
    return done[0] / (time.monotonic() - t0), bad[0], lat


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3) if s else float("nan")


BLOB = 64 << 20  # a large pack


async def put_blobs(t: Target, blob_host: str, cred: str, count: int, tag: str) -> float:
    """Upload ``count`` blobs of 64 MiB on one connection (the blob service's PUT); MiB/s."""
    reader, writer = await t.connect()
    payload = os.urandom(1 << 20) * (BLOB >> 20)
    t0 = time.monotonic()
    for i in range(count):
        writer.write(t.head("PUT", f"/bench/{tag}-{i}", f"Content-Length: {BLOB}\r\n", host=blob_host, key=cred))
        writer.write(payload)
        await writer.drain()
        status, _ = await read_response(reader)
        assert status == 200, status
    dt = time.monotonic() - t0
    writer.close()
    return count * BLOB / dt / (1 << 20)


async def get_blobs(t: Target, blob_host: str, cred: str, count: int, tag: str) -> float:
    reader, writer = await t.connect()
    t0 = time.monotonic()
    for i in range(count):
        writer.write(t.head("GET", f"/bench/{tag}-{i}", host=blob_host, key=cred))
        status, n = await read_response(reader)
        assert status == 200 and n == BLOB, (status, n)
    dt = time.monotonic() - t0
    writer.close()
    return count * BLOB / dt / (1 << 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1024, help="MiB through the blob service per side and round")
    ap.add_argument("--cpu", action="store_true",
                    help="also report each side's CPU per small request: every server thread and child process "
                         "(the audit writer among them) and this load generator")
    args = ap.parse_args()
    versions = preflight()
    tmp = Path(tempfile.mkdtemp(prefix="vl-dpbench-"))
    count = max(1, args.mib // (BLOB >> 20))
    cfg = tmp / "bench.toml"
    cfg.write_text("throttle_rate = 0.0\n")
    svc = Service(tmp / "data", "--config", str(cfg))
    bare: subprocess.Popen[bytes] | None = None
    try:
        w = setup(svc)
        port = int(svc.info["api_port"])
        ip = w["ep"]["ip_configs"][0]["ip"]
        tls = svc.tls() if svc.url.startswith("https") else None
        pub = Target("public", "127.0.0.1", port, f"{w['pub']['id']}.l1.backup.vaultlink.internal", "127.0.0.1",
                     svc.key, tls)
        priv = Target("private", ip, port, f"{w['priv']['id']}.privatelink.l1.backup.vaultlink.internal",
                      PRIVATE_SRC, svc.key, tls)
        st_pub, st_priv = register(svc, tmp, "pub", "127.0.0.1"), register(svc, tmp, "priv", PRIVATE_SRC)
        priv_ip = {c["fqdn"]: c["ip"] for c in svc.api("GET", f"/endpoints/{w['ep']['id']}")["ip_configs"]}
        blob_pub = f"{st_pub['write_account']}.blob.vaultlink.internal"
        blob_priv = f"{st_priv['write_account']}.privatelink.blob.vaultlink.internal"
        priv_blob = Target("private", priv_ip[blob_priv], port, blob_priv, PRIVATE_SRC, svc.key, tls)
        body = asyncio.run(_body(pub))
        bare, bare_port = start_bare(tmp, body, tls is not None)
        bare_tls = None
        if tls is not None:
            bare_tls = ssl.create_default_context(cafile=str(tmp / "bare-cert.pem"))
        bare_t = Target("bare", "127.0.0.1", bare_port, "bare", "127.0.0.1", "x", bare_tls)
        res: dict[str, Any] = {"versions": versions, "conns": args.conns, "seconds": args.seconds,
                               "rounds": args.rounds, "response_bytes": len(body)}

        async def run() -> None:
            for t in (pub, priv, bare_t):  # warm-up (caches, code paths)
                await small_requests(t, 4, 0.5)
            rps: dict[str, list[float]] = {"public": [], "private": [], "bare": []}
            lat: dict[str, list[float]] = {"public": [], "private": [], "bare": []}
            cpu: dict[str, dict[str, list[float]]] = {"public": {}, "private": {}, "bare": {}}
            for _ in range(args.rounds):
                for t in (pub, priv, bare_t):
                    pid = bare.pid if t is bare_t else svc.proc.pid
                    before, own = (process_cpu(pid), os.times()) if args.cpu else ({}, None)
                    r, bad, ms = await small_requests(t, args.conns, args.seconds)
                    assert bad == 0, f"{bad} refused on {t.name}"
                    rps[t.name].append(r)
                    lat[t.name] += ms
                    if own is not None:  # microseconds of CPU per answered request, per thread and process
                        n = r * args.seconds
                        now = os.times()
                        used: dict[str, float] = {"load generator (this process)":
                                                  now.user + now.system - own.user - own.system}
                        for k, (u, s) in cpu_delta(before, process_cpu(pid)).items():
                            kind, _id, what = k.split(" ", 2)  # threads of one name summed: "thread (name)"
                            used[f"{kind} {what}"] = used.get(f"{kind} {what}", 0.0) + u + s
                        for k, v in used.items():
                            cpu[t.name].setdefault(k, []).append(round(v / n * 1e6, 1))
            if args.cpu:
                res["cpu_us_per_request"] = cpu
            res["rps"] = {k: round(sum(v) / len(v), 1) for k, v in rps.items()}
            res["p50_ms"] = {k: pct(v, 0.50) for k, v in lat.items()}
            res["p99_ms"] = {k: pct(v, 0.99) for k, v in lat.items()}
            res["private_vs_public"] = round(res["rps"]["private"] / res["rps"]["public"], 3)
            res["public_vs_bare"] = round(res["rps"]["public"] / res["rps"]["bare"], 3)
            res["private_vs_bare"] = round(res["rps"]["private"] / res["rps"]["bare"], 3)
            ups: dict[str, list[float]] = {"public": [], "private": []}
            downs: dict[str, list[float]] = {"public": [], "private": []}
            for i in range(args.rounds):  # alternate, and swap the order every round
                sides = [(pub, blob_pub, st_pub), (priv_blob, blob_priv, st_priv)]
                for t, host, st in (sides if i % 2 == 0 else sides[::-1]):
                    ups[t.name].append(await put_blobs(t, host, st["credential"], count, f"r{i}"))
                    downs[t.name].append(await get_blobs(t, host, st["credential"], count, f"r{i}"))
            up = {k: round(sum(v) / len(v), 1) for k, v in ups.items()}
            down = {k: round(sum(v) / len(v), 1) for k, v in downs.items()}
            res["put_MiB_s"], res["get_MiB_s"] = up, down
            res["put_ratio"] = round(up["private"] / up["public"], 3)
            res["get_ratio"] = round(down["private"] / down["public"], 3)

        asyncio.run(asyncio.wait_for(run(), timeout=900))
        res["load"] = os.getloadavg()
        print(json.dumps(res, indent=2))
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=10)
        svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _body(t: Target) -> bytes:
    """The exact response body of ``GET /`` on the public side (what the bare app returns)."""
    reader, writer = await t.connect()
    writer.write(t.head("GET", "/"))
    head = await reader.readuntil(b"\r\n\r\n")
    clen = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n")[1:] if x.lower().startswith(b"content-length:"))
    body = await reader.readexactly(clen)
    writer.close()
    return body


if __name__ == "__main__":
    main()
