"""Control-plane changes at scale: what one change costs with N endpoints, and how long traffic pauses.

    .venv/bin/python bench/control_plane_bench.py [--endpoints 2000] [--dir /tmp/vlcp]

A real ``vaultlink serve`` (loopback mode). One vnet with a /20 subnet, a vault per 10 endpoints; endpoints are
created one by one through the management API (``POST /v1/endpoints``, DNS integration on: every
create also writes private DNS records) until ``--endpoints``. At each checkpoint (10, 100, 250, 500,
1000, 2000) it reports the median latency of the last 10 creates, one vault create and one subnet add,
and the worst latency a concurrent stream of small requests saw during those changes (a pause of
traffic). Target (issue #13): the cost of one change flat within 1.5x from 10 to 2,000 endpoints, no
pause. Not a test; CI never runs it. Every loop is bounded in count and time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import Service, fresh_workdir, preflight  # noqa: E402

CHECKPOINTS = (10, 100, 250, 500, 1000, 2000, 5000)


class Api:
    def __init__(self, svc: Service) -> None:
        self.base = svc.url + "/v1"
        self.key = (svc.data_dir / "owner.key").read_text().strip()
        self.context = svc.tls()

    def call(self, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "content-type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120, context=self.context) as resp:
            out = json.loads(resp.read() or b"null")
        return time.perf_counter() - t, out


class Prober(threading.Thread):
    """Small requests (``GET /healthz``), one after another; records the worst latency in a window."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.stop = threading.Event()
        self.worst = 0.0
        self.lock = threading.Lock()

    def run(self) -> None:
        deadline = time.monotonic() + 3600
        while not self.stop.is_set() and time.monotonic() < deadline:
            took, _ = self.api.call("GET", "/healthz")
            with self.lock:
                self.worst = max(self.worst, took)
            time.sleep(0.002)

    def take(self) -> float:
        with self.lock:
            worst, self.worst = self.worst, 0.0
        return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--dir", default="/tmp/vlcp")
    args = ap.parse_args()
    total = max(10, min(args.endpoints, 5000))
    preflight()
    work = fresh_workdir(args.dir)
    svc = Service(work / "server")
    try:
        api = Api(svc)
        api.call("POST", "/vaults", {"name": "v0", "region": "local-1"})
        api.call("POST", "/vnets", {"name": "net", "region": "local-1", "address_spaces": ["127.40.0.0/16"],
                                    "subnets": [{"name": "s", "cidr": "127.40.0.0/20"}]})
        prober = Prober(api)
        prober.start()
        creates: list[float] = []
        extra = checks = 0
        print("endpoints  create p50 (ms)  vault create (ms)  subnet add (ms)  worst small request (ms)")
        t0 = time.monotonic()
        for i in range(1, total + 1):
            if i % 10 == 1 and i > 1:
                api.call("POST", "/vaults", {"name": f"v0-{i}", "region": "local-1"})
            vault_name = "v0" if i <= 10 else f"v0-{(i - 1) // 10 * 10 + 1}"
            took, _ = api.call("POST", "/endpoints", {"name": f"pe{i}", "region": "local-1", "vault": vault_name,
                                                      "group_id": "AzureBackup", "vnet": "net", "subnet": "s"})
            creates.append(took)
            if i in CHECKPOINTS or i == total:
                prober.take()
                window = [api.call("POST", "/endpoints", {"name": f"x{i}-{k}", "region": "local-1", "vault": "v0",
                                                          "group_id": "AzureBackup", "vnet": "net", "subnet": "s"})[0]
                          for k in range(5)]
                extra += 5
                vault, _ = api.call("POST", "/vaults", {"name": f"v{i}", "region": "local-1"})
                checks += 1
                subnet, _ = api.call("POST", "/vnets/net/subnets",
                                     {"name": f"s{i}", "cidr": f"127.40.{31 + checks}.0/24"})
                worst = prober.take()
                print(f"{i:9d}  {statistics.median(creates[-10:] + window) * 1000:14.1f}  {vault * 1000:17.1f}  "
                      f"{subnet * 1000:15.1f}  {worst * 1000:24.1f}", flush=True)
            if time.monotonic() - t0 > 3600:
                print("# stopped after an hour")
                break
        prober.stop.set()
        print(f"# {len(creates) + extra} endpoints in {time.monotonic() - t0:.0f} s")
    finally:
        svc.stop()


if __name__ == "__main__":
    main()
