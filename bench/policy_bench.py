"""Policy evaluator benchmark: decisions/second and p99 latency, vs cedarpy.

A 5-statement endpoint policy with conditions (StringEquals on aws:SourceVpce,
Bool on aws:SecureTransport, NotIpAddress on aws:VpcSourceIp, DateLessThan on
aws:CurrentTime, StringLike on aws:PrincipalArn, a principal-account Deny) and
10,000 varied requests. The policy is compiled once; each decision is
``evaluate(request, endpoint_policy=..., identity_policies=[...])``, i.e. the
endpoint gate plus an identity policy, combined by IAM's rules. cedarpy runs
the equivalent Cedar policy (pre-parsed PolicySet and Entities handles) on the
same requests in the same run; decisions are cross-checked.

Run:  .venv/bin/python bench/policy_bench.py [--requests 10000] [--passes 5] [--json]
Bounded: at most --passes passes over the requests and --max-seconds in total.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from typing import Any

from vaultlink.policy import Request, compile_policy, evaluate, evaluate_one
from vaultlink.policy.actions import ACTIONS, actions_matching

ACCOUNTS = ["111122223333", "444455556666", "999999999999", "123456789012"]
READ_ACTIONS = sorted(
    a.name for p in ("backup:Describe*", "backup:List*", "backup:Get*") for a in actions_matching(p)
)
ENDPOINT_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TrustedAccountsOnVaultsThroughOurEndpoints",
            "Effect": "Allow",
            "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"]},
            "Action": "backup:*",
            "Resource": "arn:aws:backup:*:*:backup-vault:*",
            "Condition": {"StringEquals": {"aws:SourceVpce": ["vpce-0a1", "vpce-0b2"]}},
        },
        {
            "Sid": "ReadOnlyOverTls",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["backup:Describe*", "backup:List*", "backup:Get*"],
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {
            "Sid": "NoDeletesFromOutsideTheVnet",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:Delete*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:VpcSourceIp": ["127.10.0.0/16", "fd00:10::/32"]}},
        },
        {
            "Sid": "BlockedAccount",
            "Effect": "Deny",
            "Principal": {"AWS": "999999999999"},
            "Action": "*",
            "Resource": "*",
        },
        {
            "Sid": "OpsRestoresUntil2027",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "backup:StartRestoreJob",
            "Resource": "arn:aws:backup:*:*:recovery-point:*",
            "Condition": {
                "DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"},
                "StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops-*"},
            },
        },
    ],
}
IDENTITY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "backup:*", "Resource": "*"}],
}


def _cedar_actions(names: list[str]) -> str:
    return "[" + ", ".join(f'Action::"{n}"' for n in names) + "]"


DELETE_ACTIONS = sorted(a.name for a in actions_matching("backup:Delete*"))
# "backup:*": the backup service's actions only (not backup-gateway's, which the catalogue has too)
BACKUP_ACTIONS = sorted(a.name for a in actions_matching("backup:*"))
CEDAR_POLICY = f"""
permit(principal, action in {_cedar_actions(BACKUP_ACTIONS)}, resource) when {{
  (context.account == "111122223333" || context.account == "444455556666") &&
  context.resourceArn like "arn:aws:backup:*:*:backup-vault:*" &&
  context has sourceVpce && (context.sourceVpce == "vpce-0a1" || context.sourceVpce == "vpce-0b2")
}};
permit(principal, action in {_cedar_actions(READ_ACTIONS)}, resource) when {{
  context has secureTransport && context.secureTransport == true
}};
forbid(principal, action in {_cedar_actions(DELETE_ACTIONS)}, resource) when {{
  !(context has vpcSourceIp) ||
  !(ip(context.vpcSourceIp).isInRange(ip("127.10.0.0/16")) ||
    ip(context.vpcSourceIp).isInRange(ip("fd00:10::/32")))
}};
forbid(principal, action, resource) when {{ context.account == "999999999999" }};
permit(principal, action == Action::"backup:StartRestoreJob", resource) when {{
  context.resourceArn like "arn:aws:backup:*:*:recovery-point:*" &&
  context.epoch < 1798761600 &&
  context.principalArn like "arn:aws:iam::*:user/ops-*"
}};
"""


def make_requests(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    actions = sorted(a.name for a in ACTIONS.values())
    out = []
    for _ in range(n):
        acct = rnd.choice(ACCOUNTS)
        user = rnd.choice(["ops-", "dev-", "svc-"]) + str(rnd.randrange(50))
        arn = f"arn:aws:iam::{acct}:user/{user}"
        region = rnd.choice(["r1", "r2"])
        kind = rnd.random()
        if kind < 0.6:
            resource = f"arn:aws:backup:{region}:{acct}:backup-vault:vault-{rnd.randrange(200)}"
        elif kind < 0.9:
            resource = f"arn:aws:backup:{region}:{acct}:recovery-point:rp-{rnd.randrange(100000):06d}"
        else:
            resource = "*"
        epoch = rnd.randrange(1767225600, 1830297600)  # 2026-01-01 .. 2028-01-01
        ctx: dict[str, Any] = {
            "aws:SourceVpce": rnd.choice(["vpce-0a1", "vpce-0b2", "vpce-0c3"]),
            "aws:SourceVpc": "vnet-1",
            "aws:SecureTransport": rnd.choice(["true", "true", "false"]),
            "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            "aws:RequestedRegion": region,
        }
        r = rnd.random()
        if r < 0.85:
            ctx["aws:VpcSourceIp"] = (
                f"127.{rnd.choice([10, 10, 10, 20])}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
            )
        elif r < 0.95:
            ctx["aws:VpcSourceIp"] = f"fd00:{rnd.choice(['10', '20'])}::{rnd.randrange(1, 65535):x}"
        out.append(
            {
                "arn": arn,
                "account": acct,
                "action": rnd.choice(actions),
                "resource": resource,
                "ctx": ctx,
                "epoch": epoch,
            }
        )
    return out


def cedar_request(q: dict[str, Any]) -> dict[str, Any]:
    c = q["ctx"]
    ctx: dict[str, Any] = {
        "account": q["account"],
        "principalArn": q["arn"],
        "resourceArn": q["resource"],
        "sourceVpce": c["aws:SourceVpce"],
        "secureTransport": c["aws:SecureTransport"] == "true",
        "epoch": q["epoch"],
    }
    if "aws:VpcSourceIp" in c:
        ctx["vpcSourceIp"] = c["aws:VpcSourceIp"]
    return {
        "principal": {"type": "User", "id": q["arn"]},
        "action": {"type": "Action", "id": q["action"]},
        "resource": {"type": "Resource", "id": q["resource"]},
        "context": ctx,
    }


def pct(xs: list[int], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))] / 1000.0


def time_ours(fn: Any, reqs: list[Request], passes: int, deadline: float) -> dict[str, float]:
    pc = time.perf_counter_ns
    lat: list[int] = []
    total_ns = 0
    n = 0
    for _ in range(passes):
        if time.monotonic() > deadline:
            break
        t0 = pc()
        for r in reqs:
            fn(r)
        total_ns += pc() - t0
        n += len(reqs)
        for r in reqs:  # separate pass for per-call latency
            a = pc()
            fn(r)
            lat.append(pc() - a)
    return {
        "decisions_per_s": n / (total_ns / 1e9),
        "p50_us": pct(lat, 0.50),
        "p99_us": pct(lat, 0.99),
        "max_us": max(lat) / 1000.0,
        "decisions": n,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    deadline = time.monotonic() + args.max_seconds

    t0 = time.perf_counter()
    ep = compile_policy(ENDPOINT_POLICY, "endpoint")
    idp = compile_policy(IDENTITY_POLICY, "identity")
    compile_us = (time.perf_counter() - t0) * 1e6
    raw = make_requests(args.requests)
    reqs = [Request(q["arn"], q["account"], q["action"], q["resource"], q["ctx"]) for q in raw]

    gc.collect()
    gc.disable()
    try:
        full = time_ours(
            lambda r: evaluate(r, endpoint_policy=ep, identity_policies=(idp,)), reqs, args.passes, deadline
        )
        gate = time_ours(lambda r: evaluate_one(r, ep), reqs, args.passes, deadline)
        t1 = time.perf_counter()
        for q in raw:
            Request(q["arn"], q["account"], q["action"], q["resource"], q["ctx"])
        build_us = (time.perf_counter() - t1) / len(raw) * 1e6
    finally:
        gc.enable()
    ours = [evaluate(r, endpoint_policy=ep, identity_policies=(idp,)).decision for r in reqs]

    import cedarpy

    ps = cedarpy.PolicySet.from_str(CEDAR_POLICY) if hasattr(cedarpy.PolicySet, "from_str") else CEDAR_POLICY
    ents = cedarpy.Entities.from_json_str("[]")
    creqs = [cedar_request(q) for q in raw]
    cedar_dec = [r.allowed for r in cedarpy.is_authorized_batch(creqs, ps, ents)]
    mismatches = sum(1 for a, b in zip(ours, cedar_dec, strict=True) if (a == "allow") != b)

    pc = time.perf_counter_ns
    clat: list[int] = []
    n_single = min(len(creqs), 5000)
    t = pc()
    for q in creqs[:n_single]:
        a = pc()
        cedarpy.is_authorized(q, ps, ents)
        clat.append(pc() - a)
    single_s = (pc() - t) / 1e9
    t = pc()
    cedarpy.is_authorized_batch(creqs, ps, ents)
    batch_s = (pc() - t) / 1e9
    cedar = {
        "decisions_per_s_single": n_single / single_s,
        "decisions_per_s_batch": len(creqs) / batch_s,
        "p50_us": pct(clat, 0.5),
        "p99_us": pct(clat, 0.99),
    }

    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpu; "
        f"Python {sys.version.split()[0]}; cedarpy {getattr(cedarpy, '__version__', '4.12.2')}",
        "requests": len(reqs),
        "allow_share": sum(1 for d in ours if d == "allow") / len(ours),
        "compile_us": compile_us,
        "request_build_us": build_us,
        "vaultlink_evaluate": full,
        "vaultlink_endpoint_gate": gate,
        "cedarpy": cedar,
        "ratio_vs_cedar_single": full["decisions_per_s"] / cedar["decisions_per_s_single"],
        "ratio_vs_cedar_batch": full["decisions_per_s"] / cedar["decisions_per_s_batch"],
        "decision_mismatches_vs_cedar": mismatches,
        "targets_met": full["decisions_per_s"] >= 100_000 and full["p99_us"] <= 50,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        sys.exit(1 if mismatches else 0)
    print(f"machine: {result['machine']}")
    print(
        f"requests: {len(reqs)}  allow share: {result['allow_share']:.1%}  compile: {compile_us:.0f} us  "
        f"Request(): {build_us:.2f} us"
    )
    for name, r in (("vaultlink evaluate", full), ("vaultlink endpoint gate", gate)):
        print(
            f"{name:24s} {r['decisions_per_s']:>12,.0f} decisions/s  p50 {r['p50_us']:.2f} us  "
            f"p99 {r['p99_us']:.2f} us  max {r['max_us']:.1f} us  ({r['decisions']:,} decisions)"
        )
    print(
        f"{'cedarpy is_authorized':24s} {cedar['decisions_per_s_single']:>12,.0f} decisions/s  "
        f"p50 {cedar['p50_us']:.2f} us  p99 {cedar['p99_us']:.2f} us"
    )
    print(f"{'cedarpy batch':24s} {cedar['decisions_per_s_batch']:>12,.0f} decisions/s")
    print(
        f"ratio vaultlink/cedarpy: {result['ratio_vs_cedar_single']:.1f}x (single), "
        f"{result['ratio_vs_cedar_batch']:.1f}x (batch);  decision mismatches: {mismatches}"
    )
    print(f"targets (>= 100,000/s, p99 <= 50 us): {'met' if result['targets_met'] else 'NOT met'}")
    if mismatches:  # a speed figure means nothing if the decisions differ: the Cedar translation or we are wrong
        sys.exit(f"{mismatches} decisions differ from Cedar's: the figures above are not comparable")


if __name__ == "__main__":
    main()
