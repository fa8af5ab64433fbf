"""The two endpoint-policy examples of the AWS seed document, verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultlink.policy import Request, compile_policy, evaluate, validate_policy

SEED = Path("/work/shared/seeds/aws-backup-privatelink.txt")
EXAMPLE_1 = '{ "Statement":[ { "Action":"backup:*", "Effect":"Allow", "Principal":"*", "Resource":"*" } ] }'
EXAMPLE_2 = (
    '{ "Id":"Policy1645236617225", "Version":"2012-10-17", "Statement":[ { "Sid":"Stmt1645236612384", '
    '"Action":"backup:*", "Effect":"Deny", "Resource":"*", "Principal":{ "AWS":[ "123456789012" ] } } ] }'
)
ALLOW_ALL = compile_policy({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "identity")


def req(action: str, account: str, user: str = "alice") -> Request:
    return Request(
        f"arn:aws:iam::{account}:user/{user}",
        account,
        action,
        f"arn:aws:backup:us-east-1:{account}:backup-vault:v1",
        {"aws:SourceVpce": "vpce-1"},
    )


def test_examples_are_copied_verbatim_from_the_seed() -> None:
    if not SEED.exists():
        pytest.skip("seed document not present")
    text = SEED.read_text(encoding="utf-8")
    assert EXAMPLE_1 in text
    assert EXAMPLE_2 in text


@pytest.mark.parametrize("doc", [EXAMPLE_1, EXAMPLE_2])
def test_examples_are_valid_endpoint_policies(doc: str) -> None:
    assert validate_policy(doc, "endpoint") == []


def test_example_1_grants_backup_actions_to_everyone_on_everything() -> None:
    ep = compile_policy(EXAMPLE_1, "endpoint")
    for action in ("backup:StartBackupJob", "backup:DeleteBackupVault", "Backup:listbackupvaults"):
        for account in ("111122223333", "123456789012"):
            assert evaluate(req(action, account), endpoint_policy=ep, identity_policies=[ALLOW_ALL]).allowed
    d = evaluate(req("s3:GetObject", "111122223333"), endpoint_policy=ep, identity_policies=[ALLOW_ALL])
    assert d.decision == "implicit_deny"


def test_example_2_denies_account_123456789012_all_access_through_the_endpoint() -> None:
    ep = compile_policy(EXAMPLE_2, "endpoint")
    d = evaluate(
        req("backup:StartBackupJob", "123456789012"), endpoint_policy=ep, identity_policies=[ALLOW_ALL]
    )
    assert d.decision == "explicit_deny"
    assert d.matched == [{"policy": "endpoint", "statement": 0, "sid": "Stmt1645236612384", "effect": "Deny"}]


def test_example_2_alone_has_no_allow_so_other_accounts_are_implicitly_denied() -> None:
    # The seed says the policy "allows all actions from other accounts"; under AWS's
    # evaluation logic that holds only alongside an Allow (a custom endpoint policy
    # replaces the default full-access one), which is what vaultlink implements.
    ep = compile_policy(EXAMPLE_2, "endpoint")
    d = evaluate(
        req("backup:StartBackupJob", "111122223333"), endpoint_policy=ep, identity_policies=[ALLOW_ALL]
    )
    assert d.decision == "implicit_deny"
    both = compile_policy(
        EXAMPLE_2.replace("} } ] }", "} }, " + EXAMPLE_1[len('{ "Statement":[ ') : -4] + " ] }"), "endpoint"
    )
    assert evaluate(
        req("backup:StartBackupJob", "111122223333"), endpoint_policy=both, identity_policies=[ALLOW_ALL]
    ).allowed
    assert (
        evaluate(
            req("backup:StartBackupJob", "123456789012"), endpoint_policy=both, identity_policies=[ALLOW_ALL]
        ).decision
        == "explicit_deny"
    )
