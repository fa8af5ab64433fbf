"""Property-based tests (hypothesis): invariants of the evaluator and a parser fuzz."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaultlink.errors import PolicyInvalid, PolicyTooLarge
from vaultlink.policy import Request, compile_policy, evaluate, validate_policy

ACCTS = ["111122223333", "444455556666"]
ACTIONS = [
    "backup:StartBackupJob",
    "backup:ListBackupVaults",
    "backup:DeleteBackupVault",
    "backup:StartRestoreJob",
]
RESOURCES = [f"arn:aws:backup:r1:{a}:backup-vault:v{i}" for a in ACCTS for i in (1, 2)] + ["*"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

action_pat = st.sampled_from(
    [
        "*",
        "backup:*",
        "backup:Start*",
        "backup:List*",
        "BACKUP:startbackupjob",
        "backup:?tart*",
        "s3:*",
        "backup:DeleteBackupVault",
    ]
)
resource_pat = st.sampled_from(
    [
        "*",
        "arn:aws:backup:*:*:backup-vault:*",
        RESOURCES[0],
        RESOURCES[2],
        "arn:aws:backup:r1:111122223333:*",
        "arn:aws:backup:r?:*:backup-vault:v2",
    ]
)
condition = st.one_of(
    st.just(None),
    st.builds(lambda v: {"StringEquals": {"aws:SourceVpce": v}}, st.sampled_from(["vpce-1", "vpce-2"])),
    st.builds(lambda v: {"StringNotEquals": {"aws:SourceVpce": v}}, st.sampled_from(["vpce-1", "vpce-2"])),
    st.builds(lambda v: {"IpAddress": {"aws:SourceIp": v}}, st.sampled_from(["10.0.0.0/8", "192.0.2.0/24"])),
    st.builds(lambda v: {"BoolIfExists": {"aws:SecureTransport": v}}, st.sampled_from(["true", "false"])),
    st.builds(
        lambda v: {"ForAllValues:StringEquals": {"test:tags": v}},
        st.lists(st.sampled_from("abc"), min_size=1),
    ),
    st.just({"Null": {"aws:SourceIp": "true"}}),
)
principal = st.sampled_from(
    ["*", {"AWS": "*"}, {"AWS": ACCTS[0]}, {"AWS": ACCTS[1]}, {"AWS": f"arn:aws:iam::{ACCTS[0]}:user/alice"}]
)


def statement(effect: str, with_principal: bool) -> st.SearchStrategy[dict[str, Any]]:
    def build(a: str, r: str, c: Any, p: Any, not_action: bool) -> dict[str, Any]:
        s: dict[str, Any] = {"Effect": effect, ("NotAction" if not_action else "Action"): a, "Resource": r}
        if c:
            s["Condition"] = c
        if with_principal:
            s["Principal"] = p
        return s

    return st.builds(build, action_pat, resource_pat, condition, principal, st.booleans())


def policy(with_principal: bool) -> st.SearchStrategy[dict[str, Any]]:
    stmt = st.one_of(statement("Allow", with_principal), statement("Deny", with_principal))
    return st.builds(
        lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(stmt, min_size=1, max_size=4)
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    acct = draw(st.sampled_from(ACCTS))
    ctx: dict[str, Any] = {}
    if draw(st.booleans()):
        ctx["aws:SourceVpce"] = draw(st.sampled_from(["vpce-1", "vpce-2"]))
        ctx["aws:VpcSourceIp"] = "10.1.2.3"
    else:
        ctx["aws:SourceIp"] = draw(st.sampled_from(["10.1.2.3", "192.0.2.9", "198.51.100.1"]))
    if draw(st.booleans()):
        ctx["aws:SecureTransport"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        ctx["test:tags"] = draw(st.lists(st.sampled_from("abcd"), max_size=3))
    return Request(
        f"arn:aws:iam::{acct}:user/{draw(st.sampled_from(['alice', 'bob']))}",
        acct,
        draw(st.sampled_from(ACTIONS)),
        draw(st.sampled_from(RESOURCES)),
        ctx,
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "endpoint": draw(st.one_of(st.none(), policy(True))),
        "identity": draw(st.lists(policy(False), max_size=2)),
        "resource": draw(st.one_of(st.none(), policy(True))),
    }


def decide(req: Request, ps: dict[str, Any]) -> str:
    return evaluate(
        req,
        endpoint_policy=compile_policy(ps["endpoint"], "endpoint") if ps["endpoint"] else None,
        identity_policies=[compile_policy(p, "identity") for p in ps["identity"]],
        resource_policy=compile_policy(ps["resource"], "resource") if ps["resource"] else None,
    ).decision


@SETTINGS
@given(requests(), policy_sets(), st.data())
def test_adding_a_deny_never_turns_a_deny_into_an_allow(req: Request, ps: dict[str, Any], data: Any) -> None:
    before = decide(req, ps)
    where = data.draw(st.sampled_from(["endpoint", "identity", "resource"]))
    deny = data.draw(statement("Deny", where != "identity"))
    ps2 = json.loads(json.dumps(ps))
    if where == "identity":
        ps2["identity"] = [*ps2["identity"], {"Version": "2012-10-17", "Statement": [deny]}]
    elif ps2[where] is None:
        ps2[where] = {"Version": "2012-10-17", "Statement": [deny]}
    else:
        ps2[where]["Statement"].append(deny)
    after = decide(req, ps2)
    if before != "allow":
        assert after != "allow"
    if before == "explicit_deny":
        assert after == "explicit_deny"


@SETTINGS
@given(requests(), policy_sets())
def test_removing_allow_statements_never_grants(req: Request, ps: dict[str, Any]) -> None:
    before = decide(req, ps)
    ps2 = json.loads(json.dumps(ps))
    for p in [ps2["endpoint"], ps2["resource"], *ps2["identity"]]:
        if p is not None:
            kept = [s for s in p["Statement"] if s["Effect"] == "Deny"]
            filler = {"Effect": "Allow", "Action": "nothing:Nothing", "Resource": "*"}
            if "Principal" in p["Statement"][0]:
                filler["Principal"] = "*"
            p["Statement"] = kept or [filler]
    after = decide(req, ps2)
    if before != "allow":
        assert after != "allow"


@SETTINGS
@given(requests(), policy_sets(), st.randoms())
def test_action_matching_is_case_insensitive(req: Request, ps: dict[str, Any], rnd: Any) -> None:
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in req.action)
    req2 = Request(req.principal_arn, req.principal_account, mixed, req.resource, dict(req.context))
    assert decide(req, ps) == decide(req2, ps)


def _glob(p: str, s: str) -> bool:
    """Reference glob: * any run, ? one character (slow, obviously right)."""
    if not p:
        return not s
    if p[0] == "*":
        return any(_glob(p[1:], s[i:]) for i in range(len(s) + 1))
    return bool(s) and (p[0] == "?" or p[0] == s[0]) and _glob(p[1:], s[1:])


@SETTINGS
@given(st.text("ab*?.[", max_size=6), st.text("ab*?.[", max_size=6))
def test_string_like_agrees_with_a_reference_glob(pattern: str, value: str) -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringLike": {"test:v": pattern}},
            }
        ]
    }
    req = Request(
        "arn:aws:iam::111122223333:user/a", "111122223333", "backup:ListTags", "*", {"test:v": value}
    )
    got = evaluate(req, identity_policies=[compile_policy(doc, "identity")]).decision == "allow"
    assert got == _glob(pattern, value)


@SETTINGS
@given(st.text("ab*?:", max_size=8), st.text("ab:", max_size=8))
def test_arn_wildcards_stay_inside_segments(seg_pat: str, seg_val: str) -> None:
    pattern = f"arn:aws:backup:{seg_pat}:111122223333:backup-vault:v"
    value = f"arn:aws:backup:{seg_val}:111122223333:backup-vault:v"
    doc = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": pattern}]}
    problems = [p for p in validate_policy(doc, "identity") if p.severity == "error"]
    if problems:
        return
    req = Request("arn:aws:iam::111122223333:user/a", "111122223333", "backup:ListTags", value, {})
    ipol = [compile_policy(doc, "identity")]
    got = evaluate(req, identity_policies=ipol, resource_account="111122223333").decision == "allow"
    pparts, vparts = pattern.split(":", 5), value.split(":", 5)
    # segment by segment; only the last (resource) segment may contain ':'
    want = len(pparts) == len(vparts) and all(_glob(a, b) for a, b in zip(pparts, vparts, strict=True))
    assert got == want


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
ELEMENT_NAMES = [
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
    "Sid",
    "Extra",
]
VALUE_HINTS = st.one_of(
    json_values,
    st.sampled_from(
        [
            "Allow",
            "Deny",
            "*",
            "backup:*",
            "arn:aws:backup:r1:1:backup-vault:${aws:username}",
            {"AWS": "*"},
            {"StringLike": {"a:b": "x*"}},
            {"ForAllValues:StringEqualsIfExists": {"k": []}},
            {"NumericLessThan": {"k": [1, "2"]}},
            {"IpAddress": {"k": "::/0"}},
            {"Null": {"k": True}},
        ]
    ),
)
fuzz_statement = st.dictionaries(st.sampled_from(ELEMENT_NAMES), VALUE_HINTS, max_size=7)
fuzz_doc = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "Version": st.sampled_from(["2012-10-17", "2008-10-17", 3]),
            "Statement": st.one_of(fuzz_statement, st.lists(fuzz_statement, max_size=3)),
        }
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_doc, st.sampled_from(["endpoint", "identity", "resource"]))
def test_parser_never_crashes_on_random_json(doc: Any, kind: str) -> None:
    problems = validate_policy(doc, kind)
    assert all(p.path and p.message for p in problems)
    try:
        compiled = compile_policy(doc, kind)
    except (PolicyInvalid, PolicyTooLarge) as exc:
        assert exc.details.get("problems") or exc.code == "PolicyTooLarge"
        assert any(p.severity == "error" for p in problems)
        return
    assert not any(p.severity == "error" for p in problems)
    req = Request("arn:aws:iam::111122223333:user/a", "111122223333", "backup:ListTags", "*", {"k": "1"})
    evaluate(
        req,
        identity_policies=[compiled] if kind == "identity" else [],
        resource_policy=compiled if kind == "resource" else None,
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_crashes_on_random_text(text: str) -> None:
    problems = validate_policy(text, "endpoint")
    assert isinstance(problems, list)
