"""The public API other parts of vaultlink call: errors, Decision, context building."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vaultlink.errors import InvalidInput, PolicyInvalid, PolicyTooLarge
from vaultlink.policy import (
    DEFAULT_ENDPOINT_POLICY,
    EndpointInfo,
    Request,
    build_context,
    build_request,
    compile_policy,
    evaluate,
    evaluate_one,
    validate_policy,
)
from vaultlink.policy.actions import lookup, parse_backup_arn, recovery_point_arn, vault_arn

ALICE = "arn:aws:iam::111122223333:user/alice"
NOW = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def test_invalid_policy_raises_policy_invalid_with_every_problem_and_its_path() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Permit",
                "Action": "backup:*",
                "Resource": "*",
                "Condition": {"StringLikee": {"a:b": "x"}},
            }
        ]
    }
    with pytest.raises(PolicyInvalid) as ei:
        compile_policy(doc, "endpoint")
    err = ei.value
    assert err.code == "PolicyInvalid" and err.http_status == 400 and err.exit_code == 2
    problems = err.details["problems"]
    assert any(p.startswith("Statement[0].Effect: ") for p in problems)
    assert any(p.startswith("Statement[0].Principal: ") for p in problems)
    assert "Statement[0].Condition.StringLikee: unknown operator (did you mean StringLike?)" in problems
    assert err.to_dict()["details"]["problems"] == problems


def test_malformed_json_is_policy_invalid() -> None:
    with pytest.raises(PolicyInvalid) as ei:
        compile_policy('{"Statement": [', "identity")
    assert ei.value.details["problems"][0].startswith("(document): not valid JSON (line 1")


def test_over_20480_characters_is_policy_too_large() -> None:
    doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Sid": "x"}]})
    padded = doc[:-1] + " " * (20_481 - len(doc)) + "}"
    assert len(padded) == 20_481
    with pytest.raises(PolicyTooLarge) as ei:
        compile_policy(padded, "identity")
    assert ei.value.code == "PolicyTooLarge"
    exact = doc[:-1] + " " * (20_480 - len(doc)) + "}"
    compile_policy(exact, "identity")  # exactly at the limit is fine


def test_unknown_kind_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        compile_policy(DEFAULT_ENDPOINT_POLICY, "session")


def test_warnings_do_not_block_compilation_but_are_kept() -> None:
    p = compile_policy(
        {"Statement": [{"Effect": "Allow", "Action": "backup:Teleport", "Resource": "*"}]}, "identity"
    )
    assert [str(w) for w in p.warnings] == [
        "Statement[0].Action: 'backup:Teleport' matches no known backup action"
    ]
    assert [w.severity for w in validate_policy(p.document, "identity")] == ["warning"]


def test_default_endpoint_policy_allows_everything_through_the_endpoint() -> None:
    ep = compile_policy(DEFAULT_ENDPOINT_POLICY, "endpoint")
    r = Request(
        ALICE, "111122223333", "backup:DeleteBackupVault", vault_arn("aws", "r1", "111122223333", "v")
    )
    assert evaluate_one(r, ep).allowed
    assert evaluate(r, endpoint_policy=ep).decision == "implicit_deny"  # nothing on the identity side


def test_decision_to_dict_is_what_the_cli_prints() -> None:
    ep = compile_policy(DEFAULT_ENDPOINT_POLICY, "endpoint")
    d = evaluate_one(Request(ALICE, "111122223333", "backup:ListTags", "*"), ep)
    assert d.to_dict() == {
        "decision": "allow",
        "reason": "allowed by the endpoint policy",
        "matched": [{"policy": "endpoint", "statement": 0, "sid": None, "effect": "Allow"}],
    }


def test_context_through_an_endpoint_has_vpc_keys_and_no_source_ip() -> None:
    ctx = build_context(
        principal_arn=ALICE,
        principal_account="111122223333",
        source_ip="127.10.1.5",
        now=NOW,
        requested_region="r1",
        endpoint=EndpointInfo("pe-123", "vnet-9"),
    )
    assert ctx["aws:SourceVpce"] == "pe-123"
    assert ctx["aws:SourceVpc"] == "vnet-9"
    assert ctx["aws:VpcSourceIp"] == "127.10.1.5"
    assert "aws:SourceIp" not in ctx
    for k in (
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SecureTransport",
        "aws:CurrentTime",
        "aws:RequestedRegion",
    ):
        assert k in ctx
    assert ctx["aws:CurrentTime"] == "2026-11-23T09:00:00Z"
    assert ctx["aws:username"] == "alice"


def test_context_on_the_public_endpoint_has_source_ip_only() -> None:
    ctx = build_context(
        principal_arn=ALICE,
        principal_account="111122223333",
        source_ip="127.0.0.1",
        now=NOW,
        requested_region="r1",
        secure_transport=False,
        extra={"aws:SourceVpce": "spoofed", "backup:Tag": "x"},
    )
    assert ctx["aws:SourceIp"] == "127.0.0.1"
    assert ctx["aws:SecureTransport"] == "false"
    assert not {"aws:SourceVpce", "aws:SourceVpc", "aws:VpcSourceIp"} & set(ctx)
    assert ctx["backup:Tag"] == "x"


def test_endpoint_policy_conditions_see_the_built_context() -> None:
    ep = compile_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "backup:*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceVpce": "pe-123"},
                        "IpAddress": {"aws:VpcSourceIp": "127.10.0.0/16"},
                    },
                }
            ]
        },
        "endpoint",
    )
    common = dict(
        principal_arn=ALICE,
        principal_account="111122223333",
        action="backup:ListTags",
        resource="*",
        now=NOW,
        requested_region="r1",
    )
    through = build_request(source_ip="127.10.1.5", endpoint=EndpointInfo("pe-123", "vnet-9"), **common)
    public = build_request(source_ip="127.10.1.5", **common)
    assert evaluate_one(through, ep).allowed
    assert evaluate_one(public, ep).decision == "implicit_deny"


def test_catalog_and_arns() -> None:
    assert lookup("BACKUP:startbackupjob") is not None
    assert lookup("backup:StartBackupJob").resource_types == ("backupVault",)  # type: ignore[union-attr]
    rp = recovery_point_arn("aws-cn", "cn-north-1", "111122223333", "rp-1")
    assert rp == "arn:aws-cn:backup:cn-north-1:111122223333:recovery-point:rp-1"
    parsed = parse_backup_arn(rp)
    assert parsed is not None and parsed.resource_type == "recoveryPoint" and parsed.name == "rp-1"
    assert parse_backup_arn("arn:aws:s3:::bucket") is None


def test_compiled_policy_is_reused_without_reparsing() -> None:
    p = compile_policy(
        {"Statement": [{"Effect": "Allow", "Action": "backup:List*", "Resource": "*"}]}, "identity"
    )
    r = Request(ALICE, "111122223333", "backup:ListTags", "*")
    for _ in range(3):
        assert evaluate(r, identity_policies=[p]).allowed
    assert "backup:listtags" in p._by_action  # per-action candidates are cached
