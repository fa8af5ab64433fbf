"""The AWS seed's story with the unmodified AWS CLI and boto3 run as a VM would (issue #17): netns mode, the
VPC a network namespace, the tools inside it through ``vaultlink vnet exec``, resolving the regional name
``backup.us-east-1.vaultlink.internal`` through the VPC's own DNS address to the endpoint's IP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VAULTLINK, Server

AWS = str(Path(sys.executable).parent / "aws")
REGION = "us-east-1"


@pytest.fixture
def server(aws_netns_server: Server) -> Server:
    return aws_netns_server


def aws_env(s: Server, key: dict[str, Any], home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {**s.env(), "AWS_ACCESS_KEY_ID": key["access_key_id"], "AWS_SECRET_ACCESS_KEY": key["secret_access_key"],
            "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_MAX_ATTEMPTS": "1", "AWS_CA_BUNDLE": str(s.data_dir / "ca.pem")}


def aws(s: Server, env: dict[str, str], *args: str, vm: str | None = None,
        url: str | None = None) -> subprocess.CompletedProcess[str]:
    where = [VAULTLINK, "vnet", "exec", vm, "--"] if vm else []
    argv = [*s.prefix, *where, AWS, *args, "--endpoint-url", url or s.url, "--output", "json"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def ok(r: subprocess.CompletedProcess[str]) -> Any:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_the_aws_seed_story_with_the_aws_cli_inside_the_vpc(server: Server, tmp_path: Path) -> None:
    s = server
    key = s.ok("key", "create", "--aws")
    partner = s.ok("account", "create", "partner")
    partner_key = s.ok("key", "create", "--aws", api_key=partner["owner_api_key"])
    env, penv = aws_env(s, key, tmp_path / "me"), aws_env(s, partner_key, tmp_path / "partner")
    assert ok(aws(s, env, "sts", "get-caller-identity"))["Account"] == key["account_id"]

    vpc = ok(aws(s, env, "ec2", "create-vpc", "--cidr-block", "10.30.0.0/16", "--tag-specifications",
                 "ResourceType=vpc,Tags=[{Key=Name,Value=app}]"))["Vpc"]["VpcId"]
    sub = ok(aws(s, env, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.1.0/24"))["Subnet"]
    ep = ok(aws(s, env, "ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--vpc-endpoint-type", "Interface",
                "--subnet-ids", sub["SubnetId"], "--service-name", f"com.amazonaws.{REGION}.backup",
                "--private-dns-enabled"))["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    ok(aws(s, env, "backup", "create-backup-vault", "--backup-vault-name", "app-vault"))
    ok(aws(s, penv, "backup", "create-backup-vault", "--backup-vault-name", "partner-vault"))

    # inside the VPC, by the regional name its DNS answers with the endpoint's IP
    inside = f"https://backup.{REGION}.vaultlink.internal:{s.info['api_port']}"
    dig = subprocess.run([*s.prefix, VAULTLINK, "vnet", "exec", "app", "--", "dig", "+short",
                          f"backup.{REGION}.vaultlink.internal"], env=s.env(), capture_output=True, text=True,
                         timeout=30)
    assert dig.stdout.split() == [s.ok("endpoint", "show", eid)["ips"][0]]
    listed = ok(aws(s, env, "backup", "list-backup-vaults", vm="app", url=inside))["BackupVaultList"]
    assert [v["BackupVaultName"] for v in listed] == ["app-vault"]

    # the seed's deny-account policy: this account denied through the endpoint, the partner allowed
    deny = {"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": key["account_id"]}, "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ok(aws(s, env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", eid, "--policy-document", json.dumps(deny)))
    denied = aws(s, env, "backup", "list-backup-vaults", vm="app", url=inside)
    assert denied.returncode != 0 and "AccessDeniedException" in denied.stderr and "endpoint policy" in denied.stderr
    listed = ok(aws(s, penv, "backup", "list-backup-vaults", vm="app", url=inside))["BackupVaultList"]
    assert [v["BackupVaultName"] for v in listed] == ["partner-vault"]
    # the public endpoint is not subject to the endpoint's policy
    assert ok(aws(s, env, "backup", "list-backup-vaults"))["BackupVaultList"][0]["BackupVaultName"] == "app-vault"
    audit = s.ok("audit", "list", "--endpoint", eid, "--action", "backup:ListBackupVaults")
    assert {e["decision"] for e in audit} == {"allowed", "denied"}
    assert {e["source_ip"] for e in audit} == {"10.30.0.1"}  # the VM, at its VPC's base + 1

    # unmodified boto3 in the same VM, by the same name
    ok(aws(s, env, "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", eid, "--reset-policy"))
    script = ("import boto3, json, sys; c = boto3.client('backup', endpoint_url=sys.argv[1]);"
              "print(json.dumps([v['BackupVaultName'] for v in c.list_backup_vaults()['BackupVaultList']]))")
    r = subprocess.run([*s.prefix, VAULTLINK, "vnet", "exec", "app", "--", sys.executable, "-c", script, inside],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout) == ["app-vault"], r.stderr

    # a machine of the VPC backs up; the AWS CLI in the VPC queues a backup and a restore job on it
    creds = tmp_path / "app.creds"
    assert s.cli("vault", "credentials", "app-vault", "-o", str(creds), json_out=False).exit_code == 0
    (tmp_path / "pw").write_text("correct horse battery staple\n")
    agent = ("--state-dir", str(tmp_path / "agent"), "--passphrase-file", str(tmp_path / "pw"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("kept by a job the AWS CLI started\n" * 1000)

    def vm(*args: str) -> None:
        r = subprocess.run([*s.prefix, VAULTLINK, "vnet", "exec", "app", "--", VAULTLINK, *args], env=s.env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    vm("agent", "register", "--credentials", str(creds), "--hostname", "app-vm", *agent)
    vm("agent", "backup", str(src), *agent)
    resource = ok(aws(s, env, "backup", "list-protected-resources", vm="app", url=inside))["Results"][0]
    role = f"arn:aws:iam::{key['account_id']}:role/backup"
    job = ok(aws(s, env, "backup", "start-backup-job", "--backup-vault-name", "app-vault", "--resource-arn",
                 resource["ResourceArn"], "--iam-role-arn", role, vm="app", url=inside))["BackupJobId"]
    vm("agent", "run", "--once", *agent)
    done = ok(aws(s, env, "backup", "describe-backup-job", "--backup-job-id", job, vm="app", url=inside))
    assert done["State"] == "COMPLETED", done
    target = tmp_path / "restored"
    restore = ok(aws(s, env, "backup", "start-restore-job", "--recovery-point-arn", done["RecoveryPointArn"],
                     "--iam-role-arn", role, "--metadata", f"target={target}", vm="app", url=inside))["RestoreJobId"]
    vm("agent", "run", "--once", *agent)
    assert ok(aws(s, env, "backup", "describe-restore-job", "--restore-job-id", restore, vm="app",
                  url=inside))["Status"] == "COMPLETED"
    assert (target / "src" / "a.txt").read_text() == (src / "a.txt").read_text()
    points = ok(aws(s, env, "backup", "list-recovery-points-by-backup-vault", "--backup-vault-name", "app-vault",
                    vm="app", url=inside))["RecoveryPoints"]
    assert done["RecoveryPointArn"] in [p["RecoveryPointArn"] for p in points] and len(points) == 2
