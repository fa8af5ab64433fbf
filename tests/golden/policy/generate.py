"""Write the policy golden vectors (``*.jsonl``) from the hand-written tables below.

Every expected value here is written by hand from AWS's documented rules; the
evaluator is never consulted. Regenerate after editing a table:

    .venv/bin/python tests/golden/policy/generate.py

Each line: ``{"id", "rule", "request", "policies": {"endpoint"?, "identity"?, "resource"?},
"resource_account"?, "expect", "expect_matched"?}``; validation lines:
``{"id", "rule", "kind", "doc", "expect_errors": [paths], "expect_warnings": [paths]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ACCT = "111122223333"
OTHER = "444455556666"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
VAULT = f"arn:aws:backup:r1:{ACCT}:backup-vault:v1"
RP = f"arn:aws:backup:r1:{ACCT}:recovery-point:rp-1"
MISSING = object()
V12 = "2012-10-17"


def req(
    action: str = "backup:StartBackupJob",
    resource: str = VAULT,
    ctx: dict[str, Any] | None = None,
    arn: str = ALICE,
    account: str = ACCT,
) -> dict[str, Any]:
    return {
        "principal": {"arn": arn, "account": account},
        "action": action,
        "resource": resource,
        "context": ctx or {},
    }


def allow_all_identity() -> dict[str, Any]:
    return {
        "Version": V12,
        "Statement": [{"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"}],
    }


def cond_policy(op: str, key: str, values: Any, version: str | None = V12) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {op: {key: values}}}]
    }
    if version:
        doc["Version"] = version
    return doc


# (operator, policy values, context value or MISSING, condition expected true?)
CONDITIONS: list[tuple[str, Any, Any, bool]] = [
    ("StringEquals", "abc", "abc", True),
    ("StringEquals", "abc", "ABC", False),
    ("StringEquals", "abc", MISSING, False),
    ("StringEquals", ["x", "abc"], "abc", True),
    ("StringEquals", "abc", "abcd", False),
    ("StringEquals", "abc", "", False),
    ("StringEquals", "", "", True),
    ("StringEquals", "a*", "abc", False),
    ("StringEquals", "a*", "a*", True),
    ("StringEquals", 10, "10", True),
    ("StringEquals", True, "true", True),
    ("StringNotEquals", "abc", "abc", False),
    ("StringNotEquals", "abc", "abd", True),
    ("StringNotEquals", "abc", MISSING, True),
    ("StringNotEquals", ["a", "b"], "a", False),
    ("StringNotEquals", ["a", "b"], "c", True),
    ("StringNotEquals", "abc", "ABC", True),
    ("StringEqualsIgnoreCase", "AbC", "abc", True),
    ("StringEqualsIgnoreCase", "AbC", "ABC", True),
    ("StringEqualsIgnoreCase", "AbC", "abd", False),
    ("StringEqualsIgnoreCase", "AbC", MISSING, False),
    ("StringNotEqualsIgnoreCase", "AbC", "ABC", False),
    ("StringNotEqualsIgnoreCase", "AbC", "x", True),
    ("StringNotEqualsIgnoreCase", "AbC", MISSING, True),
    ("StringLike", "ab*", "abc", True),
    ("StringLike", "ab*", "ab", True),
    ("StringLike", "ab*", "xab", False),
    ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "ac", False),
    ("StringLike", "a?c", "abbc", False),
    ("StringLike", "*", "", True),
    ("StringLike", "*", "anything at all", True),
    ("StringLike", "ab*", MISSING, False),
    ("StringLike", "AB*", "abc", False),
    ("StringLike", "a*c*e", "abcde", True),
    ("StringLike", "a*c*e", "abcdx", False),
    ("StringLike", "a.c", "abc", False),
    ("StringLike", "a+b", "a+b", True),
    ("StringLike", "[ab]", "a", False),
    ("StringLike", "[ab]", "[ab]", True),
    ("StringLike", "home/*", "home/alice/docs", True),
    ("StringLike", ["x*", "y*"], "yes", True),
    ("StringNotLike", "ab*", "abc", False),
    ("StringNotLike", "ab*", "xyz", True),
    ("StringNotLike", "ab*", MISSING, True),
    ("StringNotLike", ["a*", "b*"], "bz", False),
    ("StringNotLike", ["a*", "b*"], "cz", True),
    ("StringEqualsIfExists", "abc", MISSING, True),
    ("StringEqualsIfExists", "abc", "abc", True),
    ("StringEqualsIfExists", "abc", "x", False),
    ("StringNotEqualsIfExists", "abc", MISSING, True),
    ("StringNotEqualsIfExists", "abc", "abc", False),
    ("StringLikeIfExists", "a*", MISSING, True),
    ("StringLikeIfExists", "a*", "b", False),
    ("NumericEquals", "10", "10", True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", "10", "11", False),
    ("NumericEquals", "10", "abc", False),
    ("NumericEquals", "10", MISSING, False),
    ("NumericEquals", 10, "10", True),
    ("NumericEquals", "1.5", "1.50", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericNotEquals", "10", "11", True),
    ("NumericNotEquals", "10", MISSING, True),
    ("NumericLessThan", "10", "9", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThan", "10", "-1", True),
    ("NumericLessThan", "10", "1e1", False),
    ("NumericLessThan", ["5", "20"], "10", True),
    ("NumericLessThan", "10", MISSING, False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericLessThanEquals", "10", "10.5", False),
    ("NumericGreaterThan", "10", "11", True),
    ("NumericGreaterThan", "10", "10", False),
    ("NumericGreaterThanEquals", "10", "10", True),
    ("NumericGreaterThanEquals", "10", "9.99", False),
    ("NumericLessThanIfExists", "10", MISSING, True),
    ("NumericLessThanIfExists", "10", "20", False),
    ("DateLessThan", "2027-01-01T00:00:00Z", "2026-12-31T23:59:59Z", True),
    ("DateLessThan", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", False),
    ("DateLessThan", "1798761600", "2026-12-31T23:59:59Z", True),
    ("DateLessThan", "2027-01-01T00:00:00Z", "1798761599", True),
    ("DateLessThan", "2027-01-01T00:00:00Z", "yesterday", False),
    ("DateLessThan", "2027-01-01T00:00:00Z", MISSING, False),
    ("DateLessThanIfExists", "2027-01-01T00:00:00Z", MISSING, True),
    ("DateGreaterThan", "2026-01-01", "2026-01-01T00:00:01Z", True),
    ("DateGreaterThan", "2026-01-01", "2025-12-31T23:59:59Z", False),
    ("DateEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:00+00:00", True),
    ("DateEquals", "2026-06-01T12:00:00Z", "2026-06-01T14:00:00+02:00", True),
    ("DateEquals", "1798761600", "2027-01-01T00:00:00Z", True),
    ("DateEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:01Z", False),
    ("DateNotEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z", False),
    ("DateNotEquals", "2026-06-01T12:00:00Z", "2026-06-02T12:00:00Z", True),
    ("DateNotEquals", "2026-06-01T12:00:00Z", MISSING, True),
    ("DateLessThanEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z", True),
    ("DateLessThanEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:01Z", False),
    ("DateGreaterThanEquals", "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z", True),
    ("DateGreaterThanEquals", "2026-06-01T12:00:00Z", "2026-06-01T11:59:59Z", False),
    ("Bool", "true", "true", True),
    ("Bool", "true", "false", False),
    ("Bool", "true", "True", True),
    ("Bool", True, "true", True),
    ("Bool", "false", "false", True),
    ("Bool", False, "true", False),
    ("Bool", "true", MISSING, False),
    ("BoolIfExists", "true", MISSING, True),
    ("BoolIfExists", "true", "false", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWF=", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", MISSING, False),
    ("IpAddress", "203.0.113.0/24", "203.0.113.5", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.5", False),
    ("IpAddress", ["127.10.0.0/16"], "127.10.1.5", True),
    ("IpAddress", "10.0.0.1", "10.0.0.1", True),
    ("IpAddress", "10.0.0.1", "10.0.0.2", False),
    ("IpAddress", "10.0.0.1/32", "10.0.0.1", True),
    ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "2001:db8::/32", "2001:db9::1", False),
    ("IpAddress", "10.0.0.0/8", "::ffff:0a00:0001", False),
    ("IpAddress", "0.0.0.0/0", "2001:db8::1", False),
    ("IpAddress", "0.0.0.0/0", "198.51.100.7", True),
    ("IpAddress", "10.0.0.0/8", MISSING, False),
    ("IpAddress", "10.0.0.0/8", "not-an-ip", False),
    ("NotIpAddress", "10.0.0.0/8", "10.1.2.3", False),
    ("NotIpAddress", "10.0.0.0/8", "11.0.0.1", True),
    ("NotIpAddress", "10.0.0.0/8", MISSING, True),
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], "192.168.1.1", False),
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], "172.16.0.1", True),
    ("IpAddressIfExists", "10.0.0.0/8", MISSING, True),
    ("IpAddressIfExists", "10.0.0.0/8", "11.0.0.1", False),
    ("ArnEquals", ALICE, ALICE, True),
    ("ArnEquals", ALICE, f"arn:aws:iam::{ACCT}:user/bob", False),
    ("ArnEquals", "arn:aws:iam::*:root", "arn:aws:iam::123456789012:root", True),
    ("ArnLike", "arn:aws:iam::*:user/*", ALICE, True),
    ("ArnLike", "arn:aws:iam::*:user/*", f"arn:aws:iam::{ACCT}:role/ops", False),
    ("ArnLike", "arn:aws:iam::1*3:user/alice", ALICE, True),
    ("ArnLike", "arn:aws:iam::1?1122223333:user/alice", ALICE, True),
    ("ArnLike", "arn:aws:*:user/alice", ALICE, False),
    ("ArnLike", f"arn:aws:backup:r1:{ACCT}:*", VAULT, True),
    ("ArnLike", "arn:aws:iam::*:user/Alice", ALICE, False),
    ("ArnLike", "arn:aws:iam::*:user/*", MISSING, False),
    ("ArnLike", ["arn:aws:iam::*:role/*", "arn:aws:iam::*:user/al*"], ALICE, True),
    ("ArnNotEquals", ALICE, ALICE, False),
    ("ArnNotEquals", ALICE, f"arn:aws:iam::{ACCT}:user/bob", True),
    ("ArnNotEquals", ALICE, MISSING, True),
    ("ArnNotLike", "arn:aws:iam::*:user/*", ALICE, False),
    ("ArnNotLike", "arn:aws:iam::*:user/*", f"arn:aws:iam::{ACCT}:role/ops", True),
    ("ArnLikeIfExists", "arn:aws:iam::*:user/*", MISSING, True),
    ("ArnLikeIfExists", "arn:aws:iam::*:user/*", f"arn:aws:iam::{ACCT}:role/ops", False),
    # multi-valued context without a set qualifier: any value may match
    ("StringEquals", "a", ["b", "a"], True),
    ("StringEquals", "a", ["b", "c"], False),
    ("StringNotEquals", "a", ["b", "a"], False),
    ("StringNotEquals", "a", ["b", "c"], True),
    ("StringEquals", "a", [], False),
    ("StringNotEquals", "a", [], True),
    # set qualifiers
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "a"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "d"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], MISSING, False),
    ("ForAnyValue:StringEquals", ["a", "b"], [], False),
    ("ForAnyValue:StringEquals", ["a", "b"], "a", True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a", "b"], MISSING, True),
    ("ForAllValues:StringEquals", ["a", "b"], [], True),
    ("ForAllValues:StringEquals", ["a", "b"], "a", True),
    ("ForAnyValue:StringNotEquals", "a", ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", "a", ["a"], False),
    ("ForAnyValue:StringNotEquals", "a", MISSING, False),
    ("ForAllValues:StringNotEquals", "a", ["b", "c"], True),
    ("ForAllValues:StringNotEquals", "a", ["a", "b"], False),
    ("ForAllValues:StringNotEquals", "a", MISSING, True),
    ("ForAllValues:StringLike", "key1*", ["key1:x", "key1:y"], True),
    ("ForAllValues:StringLike", "key1*", ["key1:x", "key2"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key1:legal"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key2:audit"], True),
    ("ForAllValues:StringNotLike", "key1*", MISSING, True),
    ("ForAnyValue:StringEqualsIfExists", "team", MISSING, False),
    ("ForAllValues:StringEqualsIfExists", "team", MISSING, True),
    ("ForAnyValue:StringLike", ["Owner:*", "State:??"], ["owner:Mktg", "State:NewYork"], False),
    ("ForAnyValue:StringLike", ["Owner:*", "State:??"], ["Owner:Legal", "owner:Mktg"], True),
    ("ForAnyValue:StringLike", ["Owner:*", "State:??"], ["x", "State:NY"], True),
    ("ForAnyValue:IpAddress", "10.0.0.0/8", ["11.0.0.1", "10.1.1.1"], True),
    ("ForAllValues:NumericLessThan", "10", ["1", "5"], True),
    ("ForAllValues:NumericLessThan", "10", ["1", "50"], False),
    ("ForAnyValue:StringEqualsIgnoreCase", "ADMIN", ["dev", "admin"], True),
    ("ForAllValues:ArnLike", "arn:aws:iam::*:user/*", [ALICE, f"arn:aws:iam::{ACCT}:role/x"], False),
    # Null
    ("Null", "true", MISSING, True),
    ("Null", "true", "x", False),
    ("Null", "true", [], True),
    ("Null", "false", "x", True),
    ("Null", "false", MISSING, False),
    ("Null", "false", "", True),
    ("Null", True, MISSING, True),
    ("Null", False, ["a"], True),
]

_RULE_OF = {
    "String": "string operators",
    "Numeric": "numeric operators",
    "Date": "date operators",
    "Bool": "Bool",
    "Binar": "BinaryEquals",
    "IpAdd": "IP operators",
    "NotIp": "IP operators",
    "ArnEq": "ARN operators",
    "ArnLi": "ARN operators",
    "ArnNo": "ARN operators",
    "ForAn": "ForAnyValue",
    "ForAl": "ForAllValues",
    "Null": "Null",
}


def condition_cases() -> list[dict[str, Any]]:
    out = []
    for i, (op, values, ctxv, truth) in enumerate(CONDITIONS):
        ctx = {} if ctxv is MISSING else {"test:Key": ctxv}
        family = next((v for k, v in _RULE_OF.items() if op.startswith(k)), op)
        shown = "missing" if ctxv is MISSING else json.dumps(ctxv)
        rule = f"{family}: {op} {json.dumps(values)} vs {shown} is {str(truth).lower()}"
        if ctxv is MISSING:
            rule += " (absent key)"
        out.append(
            {
                "id": f"cond-{i:03d}",
                "rule": rule,
                "request": req(ctx=ctx),
                "policies": {"identity": [cond_policy(op, "test:Key", values)]},
                "expect": "allow" if truth else "implicit_deny",
            }
        )
    return out


def simple(cid: str, rule: str, expect: str, request: dict[str, Any], **policies: Any) -> dict[str, Any]:
    ra = policies.pop("resource_account", None)
    matched = policies.pop("matched", None)
    case: dict[str, Any] = {
        "id": cid,
        "rule": rule,
        "request": request,
        "policies": policies,
        "expect": expect,
    }
    if ra is not None:
        case["resource_account"] = ra
    if matched is not None:
        case["expect_matched"] = matched
    return case


def ident(stmt: dict[str, Any], version: str | None = V12) -> dict[str, Any]:
    doc: dict[str, Any] = {"Statement": [stmt]}
    if version:
        doc["Version"] = version
    return doc


def allow_action(pattern: Any, key: str = "Action") -> dict[str, Any]:
    return ident({"Effect": "Allow", key: pattern, "Resource": "*"})


ACTIONS: list[tuple[Any, str, bool, str]] = [
    ("backup:StartBackupJob", "backup:startbackupjob", True, "action names are case-insensitive"),
    ("backup:StartBackupJob", "BACKUP:STARTBACKUPJOB", True, "action names are case-insensitive"),
    ("backup:startbackupjob", "backup:StartBackupJob", True, "policy action case does not matter"),
    ("backup:Start*", "backup:StartRestoreJob", True, "* matches any suffix"),
    ("backup:Start*", "backup:ListBackupJobs", False, "* prefix pattern"),
    ("backup:*Job", "backup:StartBackupJob", True, "* in the middle of the name"),
    ("backup:*Job", "backup:ListBackupJobs", False, "* then literal suffix must match to the end"),
    ("backup:?tartBackupJob", "backup:StartBackupJob", True, "? matches one character"),
    ("backup:Start?", "backup:StartBackupJob", False, "? matches exactly one character"),
    ("*", "backup:DeleteBackupVault", True, "* alone matches every action"),
    ("backup:*", "backup:DeleteBackupVault", True, "service:* matches the whole service"),
    ("s3:*", "backup:DeleteBackupVault", False, "another service never matches"),
    (["s3:GetObject", "backup:List*"], "backup:ListBackupVaults", True, "a list of actions is OR"),
    ("backup:List.*", "backup:ListX", False, "regex characters are literal"),
    ("backup:StartBackupJob", "backup:StartBackupJobs", False, "an exact action does not match a longer one"),
    ("backup:*Backup*", "backup:StartBackupJob", True, "several * in one pattern"),
]


def action_cases() -> list[dict[str, Any]]:
    out = []
    for i, (pat, action, ok, why) in enumerate(ACTIONS):
        out.append(
            simple(
                f"action-{i:03d}",
                f"Action: {why}",
                "allow" if ok else "implicit_deny",
                req(action=action),
                identity=[allow_action(pat)],
            )
        )
    notact = ident({"Effect": "Allow", "NotAction": "backup:Delete*", "Resource": "*"})
    out.append(
        simple(
            "action-notaction-1",
            "NotAction: Allow everything except the listed actions",
            "implicit_deny",
            req(action="backup:DeleteBackupVault"),
            identity=[notact],
        )
    )
    out.append(
        simple(
            "action-notaction-2",
            "NotAction: an unlisted action is covered",
            "allow",
            req(action="backup:StartBackupJob"),
            identity=[notact],
        )
    )
    deny_not = {
        "Version": V12,
        "Statement": [
            {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Sid": "OnlyReads",
                "Effect": "Deny",
                "NotAction": ["backup:List*", "backup:Describe*"],
                "Resource": "*",
            },
        ],
    }
    out.append(
        simple(
            "action-notaction-3",
            "Deny with NotAction denies everything not listed",
            "explicit_deny",
            req(action="backup:StartBackupJob"),
            identity=[deny_not],
            matched=[{"policy": "identity", "sid": "OnlyReads", "effect": "Deny"}],
        )
    )
    out.append(
        simple(
            "action-notaction-4",
            "Deny with NotAction leaves listed actions to the Allow",
            "allow",
            req(action="backup:listbackupvaults"),
            identity=[deny_not],
        )
    )
    return out


RESOURCES: list[tuple[Any, str, bool, str]] = [
    ("*", VAULT, True, "* matches every resource"),
    (VAULT, VAULT, True, "exact ARN"),
    (VAULT, f"arn:aws:backup:r1:{ACCT}:backup-vault:v2", False, "exact ARN, other vault"),
    (VAULT, f"arn:aws:backup:r1:{ACCT}:backup-vault:V1", False, "ARNs are case-sensitive"),
    ("arn:aws:backup:*:*:backup-vault:*", VAULT, True, "wildcards per segment"),
    ("arn:aws:backup:*:*:backup-vault:*", RP, False, "the resource type must match"),
    (f"arn:aws:backup:r1:{ACCT}:*", VAULT, True, "* in the resource segment spans ':'"),
    (f"arn:aws:backup:r?:{ACCT}:backup-vault:v1", VAULT, True, "? in a segment"),
    (
        f"arn:aws:backup:r?:{ACCT}:backup-vault:v1",
        f"arn:aws:backup:r10:{ACCT}:backup-vault:v1",
        False,
        "? matches exactly one character",
    ),
    (f"arn:aws:backup:*:{ACCT}:backup-vault:v*", VAULT, True, "prefix wildcard in the resource segment"),
    ("arn:aws:backup:*:backup-vault:v1", VAULT, False, "a wildcard never spans segments"),
    (f"arn:aws-cn:backup:r1:{ACCT}:backup-vault:v1", VAULT, False, "the partition must match"),
    (f"arn:*:backup:r1:{ACCT}:backup-vault:v1", VAULT, True, "wildcard partition"),
    (f"arn:aws:backup:r1:{OTHER}:backup-vault:v1", VAULT, False, "the account segment must match"),
    ([f"arn:aws:backup:r1:{ACCT}:backup-vault:v2", VAULT], VAULT, True, "a list of resources is OR"),
    (VAULT, "*", False, "an ARN pattern does not match a request on '*'"),
    (f"arn:aws:backup:r1:{ACCT}:backup-vault:v1*", f"{VAULT}-prod", True, "* matches '-prod'"),
    (f"arn:aws:backup:r1:{ACCT}:recovery-point:*", RP, True, "recovery point ARNs"),
    (
        f"arn:aws:backup:r1:{ACCT}:backup-vault:v.1",
        f"arn:aws:backup:r1:{ACCT}:backup-vault:vx1",
        False,
        "'.' is literal",
    ),
]


def resource_cases() -> list[dict[str, Any]]:
    out = []
    for i, (pat, res, ok, why) in enumerate(RESOURCES):
        pol = ident({"Effect": "Allow", "Action": "*", "Resource": pat})
        out.append(
            simple(
                f"resource-{i:03d}",
                f"Resource: {why}",
                "allow" if ok else "implicit_deny",
                req(resource=res),
                identity=[pol],
            )
        )
    notres = ident({"Effect": "Allow", "Action": "*", "NotResource": VAULT})
    out.append(
        simple(
            "resource-notresource-1",
            "NotResource: the listed resource is excluded",
            "implicit_deny",
            req(resource=VAULT),
            identity=[notres],
        )
    )
    out.append(
        simple(
            "resource-notresource-2",
            "NotResource: other resources are covered",
            "allow",
            req(resource=RP),
            identity=[notres],
        )
    )
    notall = ident({"Effect": "Allow", "Action": "*", "NotResource": "*"})
    out.append(
        simple(
            "resource-notresource-3",
            "NotResource '*' covers nothing",
            "implicit_deny",
            req(resource=RP),
            identity=[notall],
        )
    )
    return out


PRINCIPALS: list[tuple[Any, str, bool, str, str]] = [
    ("*", ALICE, True, "Principal", "'*' matches everyone"),
    ({"AWS": "*"}, ALICE, True, "Principal", "{AWS: *} matches everyone"),
    # same account: naming the account (bare id or root ARN) delegates to identity policies, so on its own
    # (no identity policy allows) it grants nothing; see the account-delegation cases below
    ({"AWS": ACCT}, ALICE, False, "Principal", "an account id alone delegates to identity policies"),
    ({"AWS": OTHER}, ALICE, False, "Principal", "another account id"),
    (
        {"AWS": f"arn:aws:iam::{ACCT}:root"},
        ALICE,
        False,
        "Principal",
        "the account root ARN alone delegates to identity policies",
    ),
    ({"AWS": ALICE}, ALICE, True, "Principal", "exact principal ARN"),
    ({"AWS": f"arn:aws:iam::{ACCT}:user/bob"}, ALICE, False, "Principal", "another principal ARN"),
    (
        {"AWS": f"arn:aws:iam::{ACCT}:user/Alice"},
        ALICE,
        False,
        "Principal",
        "principal ARNs are case-sensitive",
    ),
    ({"AWS": [OTHER, ALICE]}, ALICE, True, "Principal", "a list of principals is OR"),
    (
        {"AWS": f"arn:aws:iam::{ACCT}:user/bob"},
        ALICE,
        True,
        "NotPrincipal",
        "NotPrincipal: others are covered",
    ),
    ({"AWS": ALICE}, ALICE, False, "NotPrincipal", "NotPrincipal: the listed principal is excluded"),
    ({"AWS": ACCT}, ALICE, False, "NotPrincipal", "NotPrincipal: the listed account is excluded"),
    ({"AWS": "*"}, ALICE, False, "NotPrincipal", "NotPrincipal '*' excludes everyone"),
]


def principal_cases() -> list[dict[str, Any]]:
    out = []
    for i, (p, arn, ok, elem, why) in enumerate(PRINCIPALS):
        pol = {
            "Version": V12,
            "Statement": [{"Sid": "S", "Effect": "Allow", elem: p, "Action": "*", "Resource": "*"}],
        }
        out.append(
            simple(
                f"principal-{i:03d}",
                f"{elem}: {why}",
                "allow" if ok else "implicit_deny",
                req(arn=arn),
                resource=pol,
                resource_account=ACCT,
            )
        )
    # IAM's same-account rule: a resource policy that names the account delegates to identity policies
    for j, who in enumerate((ACCT, f"arn:aws:iam::{ACCT}:root")):
        pol = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": who}, "Action": "*", "Resource": "*"}]}
        out.append(simple(f"principal-account-{j}a", "same account, account named, no identity allow",
                          "implicit_deny", req(), resource=pol, resource_account=ACCT))
        out.append(simple(f"principal-account-{j}b", "same account, account named, identity policy allows",
                          "allow", req(), resource=pol, resource_account=ACCT,
                          identity=[allow_action("backup:*")]))
        out.append(simple(f"principal-account-{j}c", "other account's resource names ours: identity allows too",
                          "allow", req(), resource=pol, resource_account=OTHER,
                          identity=[allow_action("backup:*")]))
    own = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "*", "Resource": "*"}]}
    out.append(simple("principal-account-user", "same account, the user's own ARN named: grants on its own",
                      "allow", req(), resource=own, resource_account=ACCT))
    svc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "backup.amazonaws.com"},
                "Action": "*",
                "Resource": "*",
            }
        ]
    }
    out.append(
        simple(
            "principal-service-1",
            "Principal: a Service principal matches that service",
            "allow",
            req(arn="backup.amazonaws.com", account="", resource="*"),
            resource=svc,
        )
    )
    out.append(
        simple(
            "principal-service-2",
            "Principal: a Service principal does not match a user",
            "implicit_deny",
            req(resource="*"),
            resource=svc,
        )
    )
    return out


def var_case(
    cid: str, why: str, ok: bool, request: dict[str, Any], stmt: dict[str, Any], version: str | None = V12
) -> dict[str, Any]:
    return simple(
        cid,
        f"policy variables: {why}",
        "allow" if ok else "implicit_deny",
        request,
        identity=[ident(stmt, version)],
    )


def vault(name: str) -> str:
    return f"arn:aws:backup:r1:{ACCT}:backup-vault:{name}"


def res_stmt(resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": resource}


def cond_stmt(op: str, key: str, value: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {op: {key: value}}}


def variable_cases() -> list[dict[str, Any]]:
    u = {"aws:username": "alice"}
    own = res_stmt(vault("${aws:username}"))
    c = [
        var_case("var-001", "${aws:username} in Resource", True, req(resource=vault("alice"), ctx=u), own),
        var_case(
            "var-002",
            "${aws:username} in Resource, other vault",
            False,
            req(resource=vault("bob"), ctx=u),
            own,
        ),
        var_case(
            "var-003", "an unresolvable variable matches nothing", False, req(resource=vault("alice")), own
        ),
        var_case(
            "var-004",
            "no variables under Version 2008-10-17: literal text",
            True,
            req(resource=vault("${aws:username}"), ctx=u),
            own,
            version="2008-10-17",
        ),
        var_case(
            "var-005",
            "no variables under Version 2008-10-17: not substituted",
            False,
            req(resource=vault("alice"), ctx=u),
            own,
            version="2008-10-17",
        ),
        var_case(
            "var-006",
            "no variables without a Version: literal text",
            True,
            req(resource=vault("${aws:username}"), ctx=u),
            own,
            version=None,
        ),
        var_case(
            "var-007",
            "default value when the key is absent",
            True,
            req(resource=vault("anonymous")),
            res_stmt(vault("${aws:username, 'anonymous'}")),
        ),
        var_case(
            "var-008",
            "the value wins over the default when present",
            False,
            req(resource=vault("anonymous"), ctx=u),
            res_stmt(vault("${aws:username, 'anonymous'}")),
        ),
        var_case(
            "var-009",
            "'' in a default is a quote",
            True,
            req(ctx={"test:v": "it's"}),
            cond_stmt("StringEquals", "test:v", "${test:missing, 'it''s'}"),
        ),
        var_case(
            "var-010",
            "${*} is a literal * in StringLike",
            True,
            req(ctx={"test:v": "a*b"}),
            cond_stmt("StringLike", "test:v", "a${*}b"),
        ),
        var_case(
            "var-011",
            "${*} is not a wildcard",
            False,
            req(ctx={"test:v": "axb"}),
            cond_stmt("StringLike", "test:v", "a${*}b"),
        ),
        var_case(
            "var-012",
            "${?} is a literal ?",
            True,
            req(ctx={"test:v": "why?"}),
            cond_stmt("StringLike", "test:v", "why${?}"),
        ),
        var_case(
            "var-013",
            "${?} is not a wildcard",
            False,
            req(ctx={"test:v": "whyx"}),
            cond_stmt("StringLike", "test:v", "why${?}"),
        ),
        var_case(
            "var-014",
            "${$} is a literal $",
            True,
            req(ctx={"test:v": "cost$"}),
            cond_stmt("StringEquals", "test:v", "cost${$}"),
        ),
        var_case(
            "var-015",
            "a substituted value is literal, not a wildcard",
            False,
            req(ctx={"test:k": "*", "test:v": "pre-zzz"}),
            cond_stmt("StringLike", "test:v", "pre-${test:k}"),
        ),
        var_case(
            "var-016",
            "a substituted value matches itself",
            True,
            req(ctx={"test:k": "*", "test:v": "pre-*"}),
            cond_stmt("StringLike", "test:v", "pre-${test:k}"),
        ),
        var_case(
            "var-017",
            "variable inside a StringEquals value",
            True,
            req(ctx=u),
            cond_stmt("StringEquals", "aws:PrincipalArn", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"),
        ),
        var_case(
            "var-018",
            "variable inside a StringEquals value, mismatch",
            False,
            req(ctx={"aws:username": "bob"}),
            cond_stmt("StringEquals", "aws:PrincipalArn", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"),
        ),
        var_case(
            "var-019",
            "variable key names are case-insensitive",
            True,
            req(resource=vault("alice"), ctx=u),
            res_stmt(vault("${AWS:UserName}")),
        ),
        var_case(
            "var-020",
            "a multi-valued key cannot be a variable",
            False,
            req(resource=vault("a"), ctx={"test:m": ["a"]}),
            res_stmt(vault("${test:m}")),
        ),
        var_case(
            "var-021",
            "a multi-valued key falls back to the default",
            True,
            req(resource=vault("d"), ctx={"test:m": ["a", "b"]}),
            res_stmt(vault("${test:m, 'd'}")),
        ),
        var_case(
            "var-022",
            "variable in ArnLike",
            True,
            req(ctx=u),
            cond_stmt("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:user/${aws:username}"),
        ),
        var_case(
            "var-023",
            "variable with a wildcard in the Resource",
            True,
            req(resource=vault("alice-prod"), ctx=u),
            res_stmt(vault("${aws:username}-*")),
        ),
        var_case(
            "var-024",
            "variable with a wildcard in the Resource, other user",
            False,
            req(resource=vault("bob-prod"), ctx=u),
            res_stmt(vault("${aws:username}-*")),
        ),
        var_case(
            "var-025",
            "${*} in a Resource is a literal *",
            True,
            req(resource=vault("v*")),
            res_stmt(vault("v${*}")),
        ),
        var_case(
            "var-026",
            "${*} in a Resource is not a wildcard",
            False,
            req(resource=vault("vx")),
            res_stmt(vault("v${*}")),
        ),
        var_case(
            "var-027",
            "StringEqualsIgnoreCase with a variable",
            True,
            req(ctx={"test:v": "ALICE", **u}),
            cond_stmt("StringEqualsIgnoreCase", "test:v", "${aws:username}"),
        ),
        var_case(
            "var-028",
            "an empty value substitutes as empty",
            True,
            req(resource=vault("x-"), ctx={"aws:username": ""}),
            res_stmt(vault("x-${aws:username}")),
        ),
    ]
    return c


def combination_cases() -> list[dict[str, Any]]:
    allow = allow_all_identity()
    deny_all = {"Statement": [{"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}]}
    ep_default = {"Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}
    ep_reads = {
        "Statement": [
            {"Sid": "Reads", "Effect": "Allow", "Principal": "*", "Action": "backup:List*", "Resource": "*"}
        ]
    }
    ep_deny = {
        "Statement": [
            {"Sid": "All", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {
                "Sid": "NoDelete",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "backup:Delete*",
                "Resource": "*",
            },
        ]
    }
    rp_allow_alice = {
        "Statement": [
            {
                "Sid": "Alice",
                "Effect": "Allow",
                "Principal": {"AWS": ALICE},
                "Action": "backup:*",
                "Resource": "*",
            }
        ]
    }
    rp_deny = {
        "Statement": [{"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]
    }
    bob_other = f"arn:aws:iam::{OTHER}:user/bob"
    rp_allow_bob = {
        "Statement": [
            {
                "Sid": "Bob",
                "Effect": "Allow",
                "Principal": {"AWS": bob_other},
                "Action": "backup:*",
                "Resource": "*",
            }
        ]
    }
    xr = req(arn=bob_other, account=OTHER)
    cond_deny = {
        "Version": V12,
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Sid": "D",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}},
            },
        ],
    }
    cases = [
        simple(
            "comb-001",
            "combination: the endpoint policy alone grants nothing (no identity/resource Allow)",
            "implicit_deny",
            req(),
            endpoint=ep_default,
        ),
        simple(
            "comb-002",
            "combination: default endpoint policy + identity Allow",
            "allow",
            req(),
            endpoint=ep_default,
            identity=[allow],
            matched=[{"policy": "endpoint", "effect": "Allow"}, {"policy": "identity", "sid": "AllowAll"}],
        ),
        simple(
            "comb-003", "combination: no endpoint (public) + identity Allow", "allow", req(), identity=[allow]
        ),
        simple(
            "comb-004",
            "combination: explicit Deny in a second identity policy wins",
            "explicit_deny",
            req(),
            identity=[allow, deny_all],
            matched=[{"policy": "identity", "sid": "DenyAll", "policy_index": 1}],
        ),
        simple(
            "comb-005",
            "combination: endpoint Deny wins over identity Allow",
            "explicit_deny",
            req(action="backup:DeleteBackupVault"),
            endpoint=ep_deny,
            identity=[allow],
            matched=[{"policy": "endpoint", "sid": "NoDelete", "effect": "Deny"}],
        ),
        simple(
            "comb-006",
            "combination: endpoint policy must also allow",
            "implicit_deny",
            req(),
            endpoint=ep_reads,
            identity=[allow],
        ),
        simple(
            "comb-007",
            "combination: endpoint allows the read",
            "allow",
            req(action="backup:ListBackupVaults"),
            endpoint=ep_reads,
            identity=[allow],
        ),
        simple(
            "comb-008",
            "combination: resource-policy Deny wins",
            "explicit_deny",
            req(),
            identity=[allow],
            resource=rp_deny,
            matched=[{"policy": "resource", "sid": "NoOne"}],
        ),
        simple(
            "comb-009",
            "combination: same account, resource-policy Allow suffices",
            "allow",
            req(),
            resource=rp_allow_alice,
            matched=[{"policy": "resource", "sid": "Alice"}],
        ),
        simple(
            "comb-010",
            "combination: same account, identity Allow suffices",
            "allow",
            req(),
            identity=[allow],
            resource=rp_allow_bob,
        ),
        simple(
            "comb-011",
            "combination: same account, neither allows",
            "implicit_deny",
            req(),
            resource=rp_allow_bob,
        ),
        simple(
            "comb-012",
            "combination: cross-account, identity Allow alone is not enough",
            "implicit_deny",
            xr,
            identity=[allow],
        ),
        simple(
            "comb-013",
            "combination: cross-account, resource Allow alone is not enough",
            "implicit_deny",
            xr,
            resource=rp_allow_bob,
        ),
        simple(
            "comb-014",
            "combination: cross-account, both sides allow",
            "allow",
            xr,
            identity=[allow],
            resource=rp_allow_bob,
            matched=[{"policy": "identity", "sid": "AllowAll"}, {"policy": "resource", "sid": "Bob"}],
        ),
        simple(
            "comb-015",
            "combination: cross-account, both allow but the endpoint does not",
            "implicit_deny",
            xr,
            endpoint=ep_reads,
            identity=[allow],
            resource=rp_allow_bob,
        ),
        simple(
            "comb-016",
            "combination: cross-account, endpoint Deny wins",
            "explicit_deny",
            req(action="backup:DeleteBackupVault", arn=bob_other, account=OTHER),
            endpoint=ep_deny,
            identity=[allow],
            resource=rp_allow_bob,
        ),
        simple(
            "comb-017",
            "combination: resource_account overrides the ARN's account (cross-account)",
            "implicit_deny",
            req(),
            identity=[allow],
            resource_account=OTHER,
        ),
        simple(
            "comb-018",
            "combination: a resource of '*' is same-account",
            "allow",
            req(resource="*"),
            resource={"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]},
        ),
        simple(
            "comb-019",
            "combination: Deny in the same policy wins over Allow",
            "explicit_deny",
            req(ctx={"aws:SourceVpce": "vpce-2"}),
            identity=[cond_deny],
        ),
        simple(
            "comb-020",
            "combination: Deny whose condition is false does not apply",
            "allow",
            req(ctx={"aws:SourceVpce": "vpce-1"}),
            identity=[cond_deny],
        ),
        simple(
            "comb-021",
            "combination: negated condition on an absent key is true, so the Deny applies",
            "explicit_deny",
            req(),
            identity=[cond_deny],
        ),
        simple("comb-022", "combination: no policies at all", "implicit_deny", req()),
        simple(
            "comb-023",
            "combination: two identity policies, the second allows",
            "allow",
            req(),
            identity=[{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, allow],
            matched=[{"policy": "identity", "policy_index": 1}],
        ),
        simple(
            "comb-024",
            "combination: cross-account Deny in the identity side wins",
            "explicit_deny",
            xr,
            identity=[deny_all],
            resource=rp_allow_bob,
        ),
        simple(
            "comb-025",
            "combination: all Deny statements are reported",
            "explicit_deny",
            req(action="backup:DeleteBackupVault"),
            endpoint=ep_deny,
            identity=[deny_all],
            resource=rp_deny,
            matched=[
                {"policy": "endpoint", "sid": "NoDelete"},
                {"policy": "identity", "sid": "DenyAll"},
                {"policy": "resource", "sid": "NoOne"},
            ],
        ),
    ]
    multi = {
        "Version": V12,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"test:a": "1", "test:b": "2"},
                    "Bool": {"aws:SecureTransport": "true"},
                },
            }
        ],
    }
    for i, (ctx, ok, why) in enumerate(
        [
            (
                {"test:a": "1", "test:b": "2", "aws:SecureTransport": "true"},
                True,
                "all operators and keys hold",
            ),
            (
                {"test:a": "1", "test:b": "3", "aws:SecureTransport": "true"},
                False,
                "keys under one operator AND",
            ),
            ({"test:a": "1", "test:b": "2", "aws:SecureTransport": "false"}, False, "operators AND"),
            ({"test:a": "1", "aws:SecureTransport": "true"}, False, "a missing key fails its condition"),
            (
                {"TEST:A": "1", "Test:B": "2", "AWS:SECURETRANSPORT": "true"},
                True,
                "context keys are case-insensitive",
            ),
        ]
    ):
        cases.append(
            simple(
                f"comb-multi-{i}",
                f"conditions: {why}",
                "allow" if ok else "implicit_deny",
                req(ctx=ctx),
                identity=[multi],
            )
        )
    keycase = ident(cond_stmt("StringEquals", "AWS:SourceVPCE", "vpce-1"))
    cases.append(
        simple(
            "comb-keycase",
            "conditions: policy key names are case-insensitive",
            "allow",
            req(ctx={"aws:SourceVpce": "vpce-1"}),
            identity=[keycase],
        )
    )
    cases.append(
        simple(
            "comb-principal-ctx",
            "context: aws:PrincipalAccount comes from the principal",
            "allow",
            req(),
            identity=[ident(cond_stmt("StringEquals", "aws:PrincipalAccount", ACCT))],
        )
    )
    return cases


SEED_1 = '{ "Statement":[ { "Action":"backup:*", "Effect":"Allow", "Principal":"*", "Resource":"*" } ] }'
SEED_2 = (
    '{ "Id":"Policy1645236617225", "Version":"2012-10-17", "Statement":[ { "Sid":"Stmt1645236612384", '
    '"Action":"backup:*", "Effect":"Deny", "Resource":"*", "Principal":{ "AWS":[ "123456789012" ] } } ] }'
)


def seed_cases() -> list[dict[str, Any]]:
    s1, s2 = json.loads(SEED_1), json.loads(SEED_2)
    blocked = "arn:aws:iam::123456789012:user/eve"
    allow = allow_all_identity()
    return [
        simple(
            "seed-1a",
            "seed example 1: backup:* through the endpoint",
            "allow",
            req(),
            endpoint=s1,
            identity=[allow],
        ),
        simple(
            "seed-1b",
            "seed example 1: any backup action, any principal",
            "allow",
            req(action="backup:DeleteRecoveryPoint", resource=RP, arn=blocked, account="123456789012"),
            endpoint=s1,
            identity=[allow],
            resource_account="123456789012",
        ),
        simple(
            "seed-1c",
            "seed example 1: other services are not allowed through the endpoint",
            "implicit_deny",
            req(action="s3:GetObject", resource="*"),
            endpoint=s1,
            identity=[allow],
        ),
        simple(
            "seed-2a",
            "seed example 2: account 123456789012 is denied",
            "explicit_deny",
            req(arn=blocked, account="123456789012", resource="*"),
            endpoint=s2,
            identity=[allow],
            matched=[{"policy": "endpoint", "sid": "Stmt1645236612384", "effect": "Deny"}],
        ),
        simple(
            "seed-2b",
            "seed example 2: the account root is denied too",
            "explicit_deny",
            req(arn="arn:aws:iam::123456789012:root", account="123456789012", resource="*"),
            endpoint=s2,
            identity=[allow],
        ),
        simple(
            "seed-2c",
            "seed example 2 alone has no Allow: other accounts are implicitly denied "
            "(a custom endpoint policy replaces the default full-access one)",
            "implicit_deny",
            req(),
            endpoint=s2,
            identity=[allow],
        ),
        simple(
            "seed-2d",
            "seed example 2 with the default Allow added: other accounts pass",
            "allow",
            req(),
            endpoint={**s2, "Statement": [*s2["Statement"], *s1["Statement"]]},
            identity=[allow],
        ),
        simple(
            "seed-2e",
            "seed example 2: non-backup actions are not covered by the Deny",
            "implicit_deny",
            req(action="s3:GetObject", arn=blocked, account="123456789012", resource="*"),
            endpoint=s2,
            identity=[allow],
        ),
    ]


def st(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "backup:StartBackupJob", "Resource": "*"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def doc(*stmts: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Version": V12, **top, "Statement": list(stmts)}


P = {"Principal": "*"}
# (kind, document (dict, or str for raw text), error paths, warning paths, rule)
VALIDATION: list[tuple[str, Any, list[str], list[str], str]] = [
    ("identity", doc(st()), [], [], "a minimal identity policy is valid"),
    ("endpoint", json.loads(SEED_1), [], [], "seed example 1 is a valid endpoint policy"),
    ("endpoint", json.loads(SEED_2), [], [], "seed example 2 is a valid endpoint policy"),
    (
        "endpoint",
        {"Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]},
        [],
        [],
        "the default endpoint policy is valid",
    ),
    ("identity", "{not json", ["(document)"], [], "malformed JSON is refused"),
    ("identity", "[]", ["(document)"], [], "a policy must be an object"),
    ("identity", '"text"', ["(document)"], [], "a policy must be an object"),
    ("identity", {"Version": V12}, ["Statement"], [], "Statement is required"),
    ("identity", {"Statement": []}, ["Statement"], [], "Statement must not be empty"),
    ("identity", {"Statement": "x"}, ["Statement"], [], "Statement must be an object or a list"),
    ("identity", {"Statement": [1]}, ["Statement[0]"], [], "a statement must be an object"),
    ("identity", {"Statement": st()}, [], [], "Statement may be a single object"),
    ("identity", {"Statement": st(Effect="allow")}, ["Statement.Effect"], [], "Effect is case-sensitive"),
    ("identity", doc(st(Effect=None)), ["Statement[0].Effect"], [], "Effect is required"),
    ("identity", doc(st(Effect="Permit")), ["Statement[0].Effect"], [], "Effect is Allow or Deny"),
    ("identity", doc(st(), st(Effect=1)), ["Statement[1].Effect"], [], "paths name the statement index"),
    ("identity", {"Version": "2020-01-01", "Statement": [st()]}, ["Version"], [], "unknown Version"),
    ("identity", {"Version": V12, "Statement": [st()], "Foo": 1}, ["Foo"], [], "unknown top-level element"),
    ("identity", {"Version": V12, "Id": 5, "Statement": [st()]}, ["Id"], [], "Id must be a string"),
    ("identity", doc(st(Extra=1)), ["Statement[0].Extra"], [], "unknown statement element"),
    ("identity", doc(st(Sid=5)), ["Statement[0].Sid"], [], "Sid must be a string"),
    ("identity", doc(st(Sid="A"), st(Sid="A")), ["Statement[1].Sid"], [], "Sids must be unique"),
    ("identity", doc(st(Action=None)), ["Statement[0].Action"], [], "Action or NotAction is required"),
    ("identity", doc(st(NotAction="backup:List*", Action=None)), [], [], "NotAction instead of Action"),
    (
        "identity",
        doc(st(NotAction="backup:List*", Action="*")),
        ["Statement[0].NotAction"],
        [],
        "Action and NotAction together are refused",
    ),
    ("identity", doc(st(Action=[])), ["Statement[0].Action"], [], "Action must not be an empty list"),
    ("identity", doc(st(Action=5)), ["Statement[0].Action"], [], "Action must be strings"),
    (
        "identity",
        doc(st(Action=["backup:List*", 3])),
        ["Statement[0].Action"],
        [],
        "every action is a string",
    ),
    ("identity", doc(st(Action="StartBackupJob")), ["Statement[0].Action"], [], "an action needs service:"),
    ("identity", doc(st(Action="backup:")), ["Statement[0].Action"], [], "an action needs a name"),
    (
        "identity",
        doc(st(Action="back*:List*")),
        ["Statement[0].Action"],
        [],
        "no wildcard in the service prefix",
    ),
    (
        "endpoint",
        doc(st(Action="*:List*", **P)),
        ["Statement[0].Action"],
        [],
        "endpoint policies: no wildcard in the service segment",
    ),
    (
        "identity",
        doc(st(Action=["backup:List*", "b?ckup:Get*"])),
        ["Statement[0].Action[1]"],
        [],
        "list items have their own path",
    ),
    ("identity", doc(st(Action="backup:FlyToTheMoon")), [], ["Statement[0].Action"], "unknown actions warn"),
    (
        "identity",
        doc(st(Action="backup:Fly*")),
        [],
        ["Statement[0].Action"],
        "patterns matching nothing warn",
    ),
    ("identity", doc(st(Action="s3:GetObject")), [], ["Statement[0].Action"], "other services warn"),
    ("identity", doc(st(Action="BACKUP:startbackupjob")), [], [], "known actions in any case do not warn"),
    (
        "identity",
        doc(st(Resource=None)),
        ["Statement[0].Resource"],
        [],
        "Resource or NotResource is required",
    ),
    (
        "identity",
        doc(st(Resource="*", NotResource="*")),
        ["Statement[0].NotResource"],
        [],
        "Resource and NotResource together are refused",
    ),
    ("identity", doc(st(Resource="vault-1")), ["Statement[0].Resource"], [], "a resource is * or an ARN"),
    (
        "identity",
        doc(st(Resource="arn:aws:backup:r1")),
        ["Statement[0].Resource"],
        [],
        "an ARN has 6 segments",
    ),
    (
        "identity",
        doc(st(Resource="arn:aws:back*:r1:1:backup-vault:v")),
        ["Statement[0].Resource"],
        [],
        "the service segment of a resource cannot have wildcards",
    ),
    ("identity", doc(st(Resource=[VAULT, 7])), ["Statement[0].Resource"], [], "resources are strings"),
    ("identity", doc(st(Resource=VAULT)), [], [], "an ARN resource is valid"),
    (
        "identity",
        doc(st(Resource="arn:aws:backup:${aws:username}:1:backup-vault:v")),
        [],
        ["Statement[0].Resource"],
        "variables outside the resource segment warn",
    ),
    (
        "identity",
        doc(st(Resource="arn:aws:backup:r1:1:backup-vault:${aws:username")),
        [],
        [],
        "an unterminated ${ is literal text",
    ),
    (
        "identity",
        doc(st(Resource="arn:aws:backup:r1:1:backup-vault:${bad key}")),
        ["Statement[0].Resource"],
        [],
        "an invalid variable is refused",
    ),
    (
        "identity",
        doc(st(Principal="*")),
        ["Statement[0].Principal"],
        [],
        "identity policies take no Principal",
    ),
    ("resource", doc(st()), ["Statement[0].Principal"], [], "resource policies need a Principal"),
    ("endpoint", doc(st()), ["Statement[0].Principal"], [], "endpoint policies need a Principal"),
    (
        "endpoint",
        doc(st(Principal="someone")),
        ["Statement[0].Principal"],
        [],
        "a string Principal must be *",
    ),
    (
        "endpoint",
        doc(st(Principal={"AWS": "arn:aws:iam::111122223333:user/*"})),
        ["Statement[0].Principal.AWS"],
        [],
        "no partial wildcards in principals",
    ),
    (
        "endpoint",
        doc(st(Principal={"AWS": "12345"})),
        ["Statement[0].Principal.AWS"],
        [],
        "an account id has 12 digits",
    ),
    (
        "endpoint",
        doc(st(Principal={"Robot": "x"})),
        ["Statement[0].Principal.Robot"],
        [],
        "unknown principal type",
    ),
    ("endpoint", doc(st(Principal={})), ["Statement[0].Principal"], [], "an empty Principal object"),
    (
        "endpoint",
        doc(st(Principal={"AWS": ["111122223333", 4]})),
        ["Statement[0].Principal.AWS"],
        [],
        "principal values are strings",
    ),
    (
        "endpoint",
        doc(st(Principal={"AWS": ["111122223333", "bad"]})),
        ["Statement[0].Principal.AWS[1]"],
        [],
        "principal list items have their own path",
    ),
    (
        "endpoint",
        doc(st(NotPrincipal={"AWS": "111122223333"})),
        [],
        ["Statement[0].NotPrincipal"],
        "NotPrincipal with Allow warns",
    ),
    (
        "endpoint",
        doc(st(Effect="Deny", NotPrincipal={"AWS": "111122223333"})),
        [],
        [],
        "NotPrincipal with Deny is fine",
    ),
    (
        "endpoint",
        doc(st(Principal="*", NotPrincipal="*")),
        ["Statement[0].NotPrincipal"],
        [],
        "Principal and NotPrincipal together are refused",
    ),
    (
        "identity",
        doc(st(Condition={"StringLikee": {"a:b": "x"}})),
        ["Statement[0].Condition.StringLikee"],
        [],
        "unknown operator",
    ),
    (
        "identity",
        doc(st(), st(), st(Condition={"StringLikee": {"a:b": "x"}})),
        ["Statement[2].Condition.StringLikee"],
        [],
        "the issue's example path",
    ),
    (
        "identity",
        doc(st(Condition={"ForSomeValues:StringLike": {"a:b": "x"}})),
        ["Statement[0].Condition.ForSomeValues:StringLike"],
        [],
        "unknown set qualifier",
    ),
    (
        "identity",
        doc(st(Condition={"NullIfExists": {"a:b": "true"}})),
        ["Statement[0].Condition.NullIfExists"],
        [],
        "Null cannot take IfExists",
    ),
    ("identity", doc(st(Condition="x")), ["Statement[0].Condition"], [], "Condition must be an object"),
    (
        "identity",
        doc(st(Condition={"StringEquals": "x"})),
        ["Statement[0].Condition.StringEquals"],
        [],
        "an operator maps keys to values",
    ),
    (
        "identity",
        doc(st(Condition={"StringEquals": {}})),
        ["Statement[0].Condition.StringEquals"],
        [],
        "an operator needs at least one key",
    ),
    (
        "identity",
        doc(st(Condition={"StringEquals": {"a:b": []}})),
        ["Statement[0].Condition.StringEquals.a:b"],
        [],
        "a key needs at least one value",
    ),
    (
        "identity",
        doc(st(Condition={"StringEquals": {"a:b": {"x": 1}}})),
        ["Statement[0].Condition.StringEquals.a:b"],
        [],
        "values are scalars",
    ),
    (
        "identity",
        doc(st(Condition={"NumericLessThan": {"a:b": "ten"}})),
        ["Statement[0].Condition.NumericLessThan.a:b"],
        [],
        "numeric values must be numbers",
    ),
    (
        "identity",
        doc(st(Condition={"DateLessThan": {"a:b": "tomorrow"}})),
        ["Statement[0].Condition.DateLessThan.a:b"],
        [],
        "date values must be dates",
    ),
    (
        "identity",
        doc(st(Condition={"Bool": {"a:b": "yes"}})),
        ["Statement[0].Condition.Bool.a:b"],
        [],
        "Bool values are true or false",
    ),
    (
        "identity",
        doc(st(Condition={"Null": {"a:b": "maybe"}})),
        ["Statement[0].Condition.Null.a:b"],
        [],
        "Null values are true or false",
    ),
    (
        "identity",
        doc(st(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})),
        ["Statement[0].Condition.IpAddress.aws:SourceIp"],
        [],
        "IP values are CIDRs",
    ),
    (
        "identity",
        doc(st(Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "nope"]}})),
        ["Statement[0].Condition.IpAddress.aws:SourceIp[1]"],
        [],
        "each value has its own path",
    ),
    (
        "identity",
        doc(st(Condition={"BinaryEquals": {"a:b": "***"}})),
        ["Statement[0].Condition.BinaryEquals.a:b"],
        [],
        "binary values are base64",
    ),
    (
        "identity",
        doc(st(Condition={"StringEquals": {"a:b": "${bad key}"}})),
        ["Statement[0].Condition.StringEquals.a:b"],
        [],
        "invalid variables in condition values",
    ),
    (
        "identity",
        doc(
            st(
                Condition={
                    "ForAllValues:StringLikeIfExists": {"a:b": ["x*"]},
                    "DateGreaterThan": {"aws:CurrentTime": 1798761600},
                }
            )
        ),
        [],
        [],
        "every operator form parses",
    ),
    (
        "identity",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*",'
        '"Resource":"*"}]}',
        ["Statement[0].Effect"],
        [],
        "duplicate keys are refused",
    ),
    (
        "identity",
        {"Statement": [st(Action="backup:" + "x" * 21000)]},
        ["(document)"],
        [],
        "documents over 20,480 characters are refused",
    ),
]


def validation_cases() -> list[dict[str, Any]]:
    out = []
    for i, (kind, d, errs, warns, rule) in enumerate(VALIDATION):
        out.append(
            {
                "id": f"validate-{i:03d}",
                "rule": f"validation: {rule}",
                "kind": kind,
                "doc": d,
                "expect_errors": errs,
                "expect_warnings": warns,
            }
        )
    return out


def main() -> None:
    files = {
        "conditions.jsonl": condition_cases(),
        "matching.jsonl": action_cases() + resource_cases() + principal_cases(),
        "variables.jsonl": variable_cases(),
        "combination.jsonl": combination_cases() + seed_cases(),
        "validation.jsonl": validation_cases(),
    }
    total = 0
    for name, cases in files.items():
        ids = [c["id"] for c in cases]
        assert len(ids) == len(set(ids)), name
        with open(HERE / name, "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, sort_keys=True) + "\n")
        total += len(cases)
        print(f"{name}: {len(cases)}")
    print(f"total: {total}")


if __name__ == "__main__":
    main()
