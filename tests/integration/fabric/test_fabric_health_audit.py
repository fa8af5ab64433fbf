"""/healthz, Prometheus /metrics, and the audit log under load (every request has its event)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.integration.fabric.conftest import Fab, vm


def test_healthz(fab: Fab) -> None:
    r = httpx.get(fab.s.url + "/healthz", trust_env=False, verify=fab.s.verify)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_by_endpoint_and_decision(fab: Fab) -> None:
    before = httpx.get(fab.s.url + "/metrics", trust_env=False, verify=fab.s.verify).text
    ep = fab.endpoint["id"]
    with vm("127.60.1.20") as c:
        for _ in range(3):
            assert c.get(fab.url(), headers=fab.headers()).status_code == 200
        assert c.get(fab.url(), headers={"Host": fab.host}).status_code == 401
    with vm("127.0.0.1") as c:  # from the internet: unreachable
        assert c.get(fab.url(), headers=fab.headers()).status_code == 403
    r = httpx.get(fab.s.url + "/metrics", trust_env=False, verify=fab.s.verify)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text
    assert _metric(after, "vaultlink_requests_total", endpoint=ep, decision="allowed") - _metric(
        before, "vaultlink_requests_total", endpoint=ep, decision="allowed") == 3
    assert _metric(after, "vaultlink_requests_total", endpoint=ep, decision="denied") - _metric(
        before, "vaultlink_requests_total", endpoint=ep, decision="denied") == 2
    assert _metric(after, "vaultlink_request_seconds_count", endpoint=ep) >= 5
    assert re.search(rf'vaultlink_request_seconds_bucket\{{endpoint="{ep}",le="0.01"\}}', after)
    # /metrics is served on the public listener only, never through a private endpoint
    with vm("127.60.1.21") as c:
        assert c.get(fab.url("/metrics"), headers={"Host": fab.host}).status_code != 200


def test_every_request_under_load_has_an_audit_event(fab: Fab) -> None:
    """A bounded burst from 8 threads: the audit sink batches, nothing blocks, nothing is dropped."""
    n_threads, per_thread = 8, 150
    src = "127.60.7."
    deadline = time.monotonic() + 60

    def worker(i: int) -> list[int]:
        out = []
        with vm(f"{src}{10 + i}") as c:
            for j in range(per_thread):
                if time.monotonic() > deadline:
                    break
                h = fab.headers() if j % 5 else {"Host": fab.host}  # every fifth one is refused
                out.append(c.get(fab.url(), headers=h).status_code)
        return out

    t0 = time.monotonic()
    with ThreadPoolExecutor(n_threads) as pool:
        results = [s for r in pool.map(worker, range(n_threads)) for s in r]
    elapsed = time.monotonic() - t0
    assert len(results) == n_threads * per_thread, "the load did not finish in time"
    ok = results.count(200)
    refused = results.count(401)
    assert ok + refused == len(results)
    evs = []
    after = 0
    time.sleep(1.2)  # the summary of a second's repeated refusals is written once that second is over
    with fab.s.http() as c:
        for _ in range(20):
            page = c.get("/audit", params={"endpoint": fab.endpoint["id"], "after": after, "limit": 10000}).json()
            if not page:
                break
            evs += page
            after = page[-1]["seq"]
    mine = [e for e in evs if e["source_ip"].startswith(src)]
    assert sum(e["decision"] == "allowed" for e in mine) == ok
    # a flood of identical refusals is audited as counted summaries (one per source, code and second)
    assert sum(int(e.get("count", 1)) for e in mine if e.get("code") == "Unauthenticated") == refused
    assert all(e["latency_ms"] < elapsed * 1000 for e in mine if not e.get("summary"))
