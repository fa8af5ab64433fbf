"""Control-plane changes at scale: what one change costs with N endpoints, and how long traffic pauses.

    .venv/bin/python bench/control_plane_bench.py [--endpoints 2000] [--dir /tmp/vlcp]

Two real ``vaultlink serve`` processes (loopback mode), each with one vnet (a /20 subnet) and a vault per 10
endpoints; endpoints are created one by one through the management API (``POST /v1/endpoints``, DNS
integration on: every create also writes private DNS records). One server stays small (10 endpoints); the
other grows to ``--endpoints``, and at each checkpoint (10, 100, 250, 500, 1000, 2000) the curve shows the
medians of 15 endpoint creates, 5 vault creates and 5 subnet adds, and the worst latency a concurrent stream
of small requests (``GET /v1/healthz``) saw meanwhile (a pause of traffic). The ratio comes after, from
``--rounds`` rounds in which every change is made on one server and then on the other (both up, same machine,
same seconds; which goes first alternates by round), since the curve alone carries the drift of a shared
machine, whose speed swings from one second to the next. Then as many rounds of endpoint deletes (5 a round, each
of one of the server's own endpoints, a seeded choice anywhere in its list: ``DELETE /v1/endpoints/{id}``), and
as many of connection rejections (``POST /v1/connections/{id}/reject``, the vault owner's answer to an endpoint:
it stops carrying traffic and gives up its private DNS names).
Target (issue #13): the cost of one change flat within 1.5x from 10 to 2,000 endpoints, no pause. Not a
test; CI never runs it. Every loop is bounded in count and time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import random
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

CHECKPOINTS = (10, 100, 250, 500, 1000, 2000, 3000)
WINDOW = 15  # endpoint creates in one sample (a checkpoint, a round)
SAMPLES = 5  # vault creates and subnet adds in one sample


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


class Deployment:
    """One server, its vnet (``prefix``: 127.X) and the counters that keep its names unique."""

    def __init__(self, svc: Service, prefix: str) -> None:
        self.api = Api(svc)
        self.prefix = prefix
        self.endpoints = self.vaults = self.subnets = 0
        self.ids: list[str] = []  # the endpoints created, for the deletes
        self.rng = random.Random(prefix)  # which endpoint a delete takes: the same sequence in every run
        self.api.call("POST", "/vaults", {"name": "v0", "region": "local-1"})
        self.api.call("POST", "/vnets", {"name": "net", "region": "local-1", "address_spaces": [f"{prefix}.0.0/16"],
                                         "subnets": [{"name": "s", "cidr": f"{prefix}.0.0/20"}]})
        self.prober = Prober(self.api)
        self.prober.start()

    def endpoint(self) -> float:
        """Create one endpoint (a new vault for every 10, as a deployment grows)."""
        self.endpoints += 1
        i = self.endpoints
        if i % 10 == 1 and i > 1:
            self.api.call("POST", "/vaults", {"name": f"v0-{i}", "region": "local-1"})
        vault = "v0" if i <= 10 else f"v0-{(i - 1) // 10 * 10 + 1}"
        took, out = self.api.call("POST", "/endpoints", {"name": f"pe{i}", "region": "local-1", "vault": vault,
                                                         "group_id": "AzureBackup", "vnet": "net", "subnet": "s"})
        self.ids.append(out["id"])
        return took

    def delete(self) -> float:
        """Delete one of the endpoints this deployment created, anywhere in the list (a seeded choice)."""
        eid = self.ids.pop(self.rng.randrange(len(self.ids)))
        return self.api.call("DELETE", f"/endpoints/{eid}")[0]

    def reject(self) -> float:
        """Reject the connection of one of this deployment's endpoints, anywhere in the list (a seeded choice)."""
        eid = self.ids.pop(self.rng.randrange(len(self.ids)))
        return self.api.call("POST", f"/connections/{eid}/reject", {"description": "bench"})[0]

    def vault(self) -> float:
        self.vaults += 1
        return self.api.call("POST", "/vaults", {"name": f"extra-{self.vaults}", "region": "local-1"})[0]

    def subnet(self) -> float:
        self.subnets += 1
        return self.api.call("POST", "/vnets/net/subnets",
                             {"name": f"s{self.subnets}", "cidr": f"{self.prefix}.{31 + self.subnets}.0/24"})[0]

    def sample(self) -> tuple[list[float], list[float], list[float], float]:
        """WINDOW endpoint creates, SAMPLES vault creates and subnet adds; the worst small request meanwhile."""
        self.prober.take()
        creates = [self.endpoint() for _ in range(WINDOW)]
        vaults = [self.vault() for _ in range(SAMPLES)]
        subnets = [self.subnet() for _ in range(SAMPLES)]
        return creates, vaults, subnets, self.prober.take()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def _rss(svc: Service) -> int:
    """A server process's resident memory, MiB."""
    return int(Path(f"/proc/{svc.proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds of the comparison (default 4)")
    ap.add_argument("--dir", default="/tmp/vlcp")
    args = ap.parse_args()
    total = max(10, min(args.endpoints, 3000))  # the /20 subnet holds ~4,090 addresses
    preflight()
    work = fresh_workdir(args.dir)
    small_svc, big_svc = Service(work / "small"), Service(work / "big")
    try:
        small, big = Deployment(small_svc, "127.41"), Deployment(big_svc, "127.40")
        for _ in range(10):
            small.endpoint()
        print("the curve, while one server grows (medians; one run, so the machine's drift is in it):")
        print("endpoints  create (ms)  vault create (ms)  subnet add (ms)  worst small request (ms)")
        t0 = time.monotonic()
        while big.endpoints < total and time.monotonic() - t0 < 3600:
            big.endpoint()
            if (at := big.endpoints) in CHECKPOINTS or at == total:
                c, v, sn, worst = big.sample()
                print(f"{at:9d}  {_ms(c):>11}  {_ms(v):>17}  {_ms(sn):>15}  {worst * 1000:24.1f}",
                      flush=True)
        print(f"# {big.endpoints} endpoints in {time.monotonic() - t0:.0f} s")
        # The ratio, measured the way this machine allows: both servers up at once, each change made on one server
        # and then the same change on the other (which goes first alternates), so that a slower second of a shared
        # machine weighs on both sides (its speed swings by 20-40 % from one second to the next: README-control-plane).
        got: dict[str, list[list[float]]] = {"small": [[] for _ in range(6)], "big": [[] for _ in range(6)]}
        per_round: list[float] = []
        rounds = max(1, min(args.rounds, 20))
        for r in range(rounds):
            pair = (small, big) if r % 2 == 0 else (big, small)
            creates: dict[int, list[float]] = {id(small): [], id(big): []}
            for dep in pair:
                dep.prober.take()
            for make, k in ((Deployment.endpoint, 0), (Deployment.vault, 1), (Deployment.subnet, 2)):
                for _ in range(WINDOW if k == 0 else SAMPLES):
                    for dep in pair:
                        took = make(dep)
                        got["small" if dep is small else "big"][k].append(took)
                        if k == 0:
                            creates[id(dep)].append(took)
            for name, dep in (("small", small), ("big", big)):
                got[name][3].append(dep.prober.take())
            per_round.append(statistics.median(creates[id(big)]) / statistics.median(creates[id(small)]))
        # deletes after the rounds of creates, in rounds of their own (a delete leaves work that a change made right
        # after it would share): each deletes one of the server's endpoints anywhere in its list, alternating
        for change, k in ((Deployment.delete, 4), (Deployment.reject, 5)):
            for r in range(rounds):
                for _ in range(SAMPLES):
                    for dep in ((small, big) if r % 2 == 0 else (big, small)):
                        got["small" if dep is small else "big"][k].append(change(dep))
        print(f"interleaved rounds ({rounds}): {small.endpoints} vs {big.endpoints} endpoints "
              f"({len(small.ids) + rounds * SAMPLES} and {len(big.ids) + rounds * SAMPLES} after the deletes)")
        print("change             small (ms)   big (ms)   big / small")
        for k, what in ((0, "endpoint create"), (1, "vault create"), (2, "subnet add"), (4, "endpoint delete"),
                        (5, "connection reject"), (3, "worst small request")):
            a, b = got["small"][k], got["big"][k]
            pick = max if k == 3 else statistics.median
            print(f"{what:<19} {pick(a) * 1000:9.1f}  {pick(b) * 1000:9.1f}   {pick(b) / pick(a):10.2f}")
        print("endpoint create, each round's big / small: " + " ".join(f"{x:.2f}" for x in per_round)
              + f" (median {statistics.median(per_round):.2f})")
        print(f"server memory (RSS): {_rss(small_svc)} MiB small, {_rss(big_svc)} MiB big")
        for dep in (small, big):  # each finishes the request it has in flight before its server stops
            dep.prober.stop.set()
        for dep in (small, big):
            dep.prober.join(timeout=130)
    finally:
        small_svc.stop()
        big_svc.stop()


if __name__ == "__main__":
    main()
