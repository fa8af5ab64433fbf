"""Golden vectors: every case names the AWS rule it exercises."""

from __future__ import annotations

from typing import Any

import pytest

from vaultlink.policy import Request, compile_policy, evaluate, validate_policy

from .golden import load

EVAL = load("evaluate")
VALIDATE = load("validate")


def test_there_are_at_least_300_vectors() -> None:
    assert len(EVAL) + len(VALIDATE) >= 300
    assert all(c.get("rule") for c in EVAL + VALIDATE)


@pytest.mark.parametrize("case", EVAL, ids=[c["id"] for c in EVAL])
def test_decision(case: dict[str, Any]) -> None:
    pol = case["policies"]
    ep = compile_policy(pol["endpoint"], "endpoint") if "endpoint" in pol else None
    ids = [compile_policy(p, "identity") for p in pol.get("identity", [])]
    rp = compile_policy(pol["resource"], "resource") if "resource" in pol else None
    r = case["request"]
    req = Request(r["principal"]["arn"], r["principal"]["account"], r["action"], r["resource"], r["context"])
    d = evaluate(
        req,
        endpoint_policy=ep,
        identity_policies=ids,
        resource_policy=rp,
        resource_account=case.get("resource_account"),
    )
    assert d.decision == case["expect"], f"{case['rule']}: {d}"
    if "expect_matched" in case:
        assert len(d.matched) == len(case["expect_matched"]), d.matched
        for got, want in zip(d.matched, case["expect_matched"], strict=True):
            assert want.items() <= got.items(), (got, want)
    if d.decision != "explicit_deny":
        assert all(m["effect"] == "Allow" for m in d.matched)


@pytest.mark.parametrize("case", VALIDATE, ids=[c["id"] for c in VALIDATE])
def test_validation(case: dict[str, Any]) -> None:
    problems = validate_policy(case["doc"], case["kind"])
    errors = sorted({p.path for p in problems if p.severity == "error"})
    warnings = sorted({p.path for p in problems if p.severity == "warning"})
    assert errors == sorted(case["expect_errors"]), f"{case['rule']}: {[str(p) for p in problems]}"
    assert warnings == sorted(case["expect_warnings"]), f"{case['rule']}: {[str(p) for p in problems]}"
