"""`vaultlink policy simulate` and `vaultlink policy validate`, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from vaultlink.cli.policy import app

runner = CliRunner()
ACCT = "111122223333"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"
VAULT = f"arn:aws:backup:r1:{ACCT}:backup-vault:v1"
SEED_2 = (
    '{ "Id":"Policy1645236617225", "Version":"2012-10-17", "Statement":[ { "Sid":"Stmt1645236612384", '
    '"Action":"backup:*", "Effect":"Deny", "Resource":"*", "Principal":{ "AWS":[ "123456789012" ] } } ] }'
)


def write(tmp_path: Path, name: str, data: Any) -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(p)


def request(tmp_path: Path, account: str = ACCT, **ctx: str) -> str:
    return write(
        tmp_path,
        "req.json",
        {
            "principal": {"arn": f"arn:aws:iam::{account}:user/alice", "account": account},
            "action": "backup:StartBackupJob",
            "resource": VAULT,
            "context": ctx,
        },
    )


IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "backup:*", "Resource": "*"}],
}
ENDPOINT = {
    "Statement": [
        {
            "Sid": "OnlyVpce1",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "backup:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}},
        }
    ]
}


def test_simulate_allow_prints_decision_and_matched(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "simulate",
            "--request",
            request(tmp_path, **{"aws:SourceVpce": "vpce-1"}),
            "--endpoint-policy",
            write(tmp_path, "ep.json", ENDPOINT),
            "--identity-policy",
            write(tmp_path, "id.json", IDENTITY),
            "--output",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["decision"] == "allow"
    assert [(m["policy"], m["sid"]) for m in out["matched"]] == [
        ("endpoint", "OnlyVpce1"),
        ("identity", "All"),
    ]


def test_simulate_implicit_deny_when_the_endpoint_policy_does_not_allow(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "simulate",
            "--request",
            request(tmp_path, **{"aws:SourceVpce": "vpce-2"}),
            "--endpoint-policy",
            write(tmp_path, "ep.json", ENDPOINT),
            "--identity-policy",
            write(tmp_path, "id.json", IDENTITY),
            "-o",
            "json",
        ],
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {
        "decision": "implicit_deny",
        "matched": [],
        "reason": "the endpoint policy does not allow this request",
    }


def test_simulate_seed_example_2_denies_the_account(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "simulate",
            "--request",
            request(tmp_path, account="123456789012"),
            "--endpoint-policy",
            write(tmp_path, "ep.json", SEED_2),
            "--identity-policy",
            write(tmp_path, "id.json", IDENTITY),
            "-o",
            "json",
        ],
    )
    out = json.loads(res.stdout)
    assert out["decision"] == "explicit_deny"
    assert out["matched"][0]["sid"] == "Stmt1645236612384"


def test_simulate_cross_account_needs_the_resource_policy(tmp_path: Path) -> None:
    rp = {
        "Statement": [
            {
                "Sid": "Partner",
                "Effect": "Allow",
                "Principal": {"AWS": "444455556666"},
                "Action": "backup:*",
                "Resource": "*",
            }
        ]
    }
    args = [
        "simulate",
        "--request",
        request(tmp_path, account="444455556666"),
        "--identity-policy",
        write(tmp_path, "id.json", IDENTITY),
        "-o",
        "json",
    ]
    assert json.loads(runner.invoke(app, args).stdout)["decision"] == "implicit_deny"
    res = runner.invoke(app, [*args, "--resource-policy", write(tmp_path, "rp.json", rp)])
    assert json.loads(res.stdout)["decision"] == "allow"


def test_simulate_table_output(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "simulate",
            "--request",
            request(tmp_path),
            "--identity-policy",
            write(tmp_path, "id.json", IDENTITY),
        ],
    )
    assert res.exit_code == 0
    assert "allow" in res.stdout


def test_simulate_invalid_policy_exits_with_policy_invalid(tmp_path: Path) -> None:
    bad = {"Statement": [{"Effect": "Allow", "Action": "backup:*", "Resource": "*", "Principal": "*"}]}
    res = runner.invoke(
        app,
        [
            "simulate",
            "--request",
            request(tmp_path),
            "--identity-policy",
            write(tmp_path, "id.json", bad),
            "-o",
            "json",
        ],
    )
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert err["code"] == "PolicyInvalid"
    assert err["details"]["problems"] == [
        "Statement[0].Principal: not allowed in an identity policy (it applies to its holder)"
    ]


def test_simulate_bad_request_file(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["simulate", "--request", write(tmp_path, "r.json", {"action": "x"}), "-o", "json"]
    )
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["code"] == "MissingField"
    res = runner.invoke(app, ["simulate", "--request", str(tmp_path / "nope.json"), "-o", "json"])
    assert json.loads(res.stdout)["error"]["code"] == "NotFound"


def test_validate_prints_every_problem_with_its_path(tmp_path: Path) -> None:
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": "backup:*", "Resource": "*", "Principal": "*"},
            {"Effect": "Allow", "Action": "backup:*", "Resource": "*", "Principal": "*"},
            {
                "Effect": "Allow",
                "Action": "backup:Teleport",
                "Resource": "*",
                "Principal": "*",
                "Condition": {"StringLikee": {"aws:SourceVpce": "x"}},
            },
        ]
    }
    f = write(tmp_path, "p.json", doc)
    res = runner.invoke(app, ["validate", f, "--kind", "endpoint", "-o", "json"])
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert err["code"] == "PolicyInvalid"
    assert err["details"]["problems"] == [
        "warning: Statement[2].Action: 'backup:Teleport' matches no known backup action",
        "Statement[2].Condition.StringLikee: unknown operator (did you mean StringLike?)",
    ]
    res = runner.invoke(app, ["validate", f, "--kind", "endpoint"])
    assert res.exit_code == 2
    assert "Statement[2].Condition.StringLikee: unknown operator" in res.stderr


def test_validate_clean_and_warning_only_documents_exit_zero(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", write(tmp_path, "a.json", SEED_2), "-o", "json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"valid": True, "kind": "endpoint", "problems": []}
    warn = {"Statement": [{"Effect": "Allow", "Action": "backup:Teleport", "Resource": "*"}]}
    res = runner.invoke(
        app, ["validate", write(tmp_path, "b.json", warn), "--kind", "identity", "-o", "json"]
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["problems"][0]["severity"] == "warning"


def test_validate_malformed_and_oversized_files(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", write(tmp_path, "m.json", '{"Statement": [}'), "-o", "json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["details"]["problems"][0].startswith("(document): not valid JSON")
    res = runner.invoke(app, ["validate", write(tmp_path, "big.json", " " * 20_481), "-o", "json"])
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert err["code"] == "PolicyTooLarge" and "limit is 20,480" in err["message"]
