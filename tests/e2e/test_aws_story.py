"""The AWS seed's story with unmodified boto3 (issue #17): a VPC and subnet, the ``backup`` interface
endpoint with private DNS, a vault, an endpoint policy, calls through the endpoint from inside the VPC
(allowed), the seed's deny-account policy (that account denied, another allowed), a backup job and a
restore job on a registered agent, and the recovery points listed — each effect seen by a later read,
the native CLI included.

Loopback mode: a VM is a source address inside the VPC's range; boto3's connections leave from it
through botocore's own ``before-send`` hook (``tests/awsclients.py``), the library itself unmodified.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from botocore.exceptions import ClientError
from tests.awsclients import client
from tests.conftest import VAULTLINK, Server, start_server, stop_server
from tests.e2e.test_private_backup import Vm, make_data, tree

REGION = "us-east-1"
VM = "127.30.1.10"
OUTSIDE = "127.0.5.5"  # the internet


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("aws")
    s = start_server(tmp / "data", extra_args=("--regions", "aws"))
    try:
        yield s
    finally:
        stop_server(s)


def aws_key(s: Server, api_key: str | None = None) -> dict[str, Any]:
    key: dict[str, Any] = s.ok("key", "create", "--aws", api_key=api_key)
    assert key["access_key_id"].startswith("AKIA") and len(key["secret_access_key"]) == 40
    return key


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_the_aws_seed_story_with_boto3(aws: Server, tmp_path: Path) -> None:
    s = aws
    key = aws_key(s)
    other = s.ok("account", "create", "partner")
    other_key = aws_key(s, other["owner_api_key"])
    url = s.url
    ec2 = client(key, "ec2", url, ca=s.ca)
    sts = client(key, "sts", url, ca=s.ca)
    assert sts.get_caller_identity()["Account"] == key["account_id"]

    # VPC, subnet, the backup service's interface endpoint with private DNS
    services = ec2.describe_vpc_endpoint_services()["ServiceNames"]
    assert f"com.amazonaws.{REGION}.backup" in services and f"com.amazonaws.{REGION}.backup-gateway" in services
    vpc = ec2.create_vpc(CidrBlock="127.30.0.0/16",
                         TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "app"}]}])["Vpc"]
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == "127.30.0.0/16"
    sub = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="127.30.1.0/24")["Subnet"]
    assert [x["SubnetId"] for x in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"]] == [sub["SubnetId"]]
    ep = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc["VpcId"], SubnetIds=[sub["SubnetId"]],
                                 ServiceName=f"com.amazonaws.{REGION}.backup", PrivateDnsEnabled=True)["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    names = {e["DnsName"] for e in ep["DnsEntries"]}
    assert f"backup.{REGION}.vaultlink.internal" in names
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["PrivateDnsEnabled"] is True
    assert s.ok("vnet", "show", "app")["id"] == vpc["VpcId"]  # the same objects as the native API
    ip = s.ok("endpoint", "show", eid)["ips"][0]

    # private DNS: inside the VPC the regional name is the endpoint's IP; outside, the public address
    def resolve(name: str, source: str) -> list[str]:
        ans = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=s.info["dns_port"], source=source,
                            timeout=5)
        return [r.address for rr in ans.answer for r in rr if rr.rdtype == 1]

    assert resolve(f"backup.{REGION}.vaultlink.internal", VM) == [ip]
    assert resolve(f"backup.{REGION}.vaultlink.internal", OUTSIDE) != [ip]

    port = s.info["api_port"]
    inside = client(key, "backup", f"https://{ip}:{port}", source_ip=VM, ca=s.ca)
    made = inside.create_backup_vault(BackupVaultName="app-vault", BackupVaultTags={"team": "platform"})
    assert made["BackupVaultArn"] == f"arn:aws:backup:{REGION}:{key['account_id']}:backup-vault:app-vault"
    assert "app-vault" in [v["name"] for v in s.ok("vault", "list")]
    assert inside.list_tags(ResourceArn=made["BackupVaultArn"])["Tags"] == {"team": "platform"}
    # the endpoint answers its own VPC only
    with pytest.raises(ClientError) as out:
        client(key, "backup", f"https://{ip}:{port}", source_ip=OUTSIDE, ca=s.ca).list_backup_vaults()
    assert code(out.value) == "AccessDeniedException"

    # an endpoint policy that allows listing only
    read_only = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "backup:List*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, PolicyDocument=json.dumps(read_only))
    assert json.loads(ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["PolicyDocument"]) == \
        read_only
    assert [v["BackupVaultName"] for v in inside.list_backup_vaults()["BackupVaultList"]] == ["app-vault"]
    with pytest.raises(ClientError) as out:
        inside.create_backup_vault(BackupVaultName="not-through-here")
    assert code(out.value) == "AccessDeniedException" and "endpoint policy" in str(out.value)
    assert "not-through-here" not in [v["name"] for v in s.ok("vault", "list")]
    # the public endpoint is not subject to it
    client(key, "backup", url, ca=s.ca).create_backup_vault(BackupVaultName="made-outside")
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, ResetPolicy=True)
    assert json.loads(ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["PolicyDocument"])[
        "Statement"][0]["Effect"] == "Allow"

    # the seed's example: deny one account, allow everyone else (an Allow beside the Deny)
    deny = {"Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": [key["account_id"]]}}},
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, PolicyDocument=json.dumps(deny))
    with pytest.raises(ClientError) as out:
        inside.list_backup_vaults()
    assert code(out.value) == "AccessDeniedException" and f"endpoint policy of {eid}" in str(out.value)
    partner = client(other_key, "backup", f"https://{ip}:{port}", source_ip=VM, ca=s.ca)
    partner.create_backup_vault(BackupVaultName="partner-vault")
    assert [v["BackupVaultName"] for v in partner.list_backup_vaults()["BackupVaultList"]] == ["partner-vault"]
    denied = s.ok("audit", "list", "--action", "backup:ListBackupVaults", "--decision", "denied")
    assert any(e.get("endpoint") == eid and e.get("code") == "EndpointPolicyDenied" for e in denied)
    allowed = s.ok("audit", "list", "--action", "backup:ListBackupVaults", "--decision", "allowed")
    assert any(e.get("endpoint") == eid and e.get("principal") == other["owner_arn"] for e in allowed)
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, ResetPolicy=True)

    # a registered agent: its item is a protected resource; StartBackupJob queues a backup on it
    creds = tmp_path / "app.creds"
    assert s.cli("vault", "credentials", "app-vault", "-o", str(creds), json_out=False).exit_code == 0
    vm = Vm(s, tmp_path, "app-vm", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 4)
    first = vm.ok("backup", str(src))["recovery_point"]
    resources = inside.list_protected_resources()["Results"]
    assert len(resources) == 1 and resources[0]["LastBackupVaultArn"] == made["BackupVaultArn"]
    arn = resources[0]["ResourceArn"]
    assert inside.describe_protected_resource(ResourceArn=arn)["ResourceArn"] == arn
    (src / "later.txt").write_text("a change\n")
    role = f"arn:aws:iam::{key['account_id']}:role/backup"
    job = inside.start_backup_job(BackupVaultName="app-vault", ResourceArn=arn, IamRoleArn=role)["BackupJobId"]
    assert inside.describe_backup_job(BackupJobId=job)["State"] == "CREATED"
    run_agent(s, vm)
    done = inside.describe_backup_job(BackupJobId=job)
    assert done["State"] == "COMPLETED", done
    assert job in [j["BackupJobId"] for j in inside.list_backup_jobs(ByState="COMPLETED")["BackupJobs"]]
    hour = datetime.timedelta(hours=1)
    now = datetime.datetime.now(datetime.UTC)
    assert job in [j["BackupJobId"] for j in inside.list_backup_jobs(
        ByCreatedAfter=now - hour, ByCompleteBefore=now + hour)["BackupJobs"]]
    assert inside.list_backup_jobs(ByCreatedBefore=now - hour)["BackupJobs"] == []  # nothing older here
    assert inside.list_backup_jobs(ByCompleteAfter=now + hour)["BackupJobs"] == []
    points = inside.list_recovery_points_by_backup_vault(BackupVaultName="app-vault")["RecoveryPoints"]
    assert len(points) == 2 and done["RecoveryPointArn"] in [p["RecoveryPointArn"] for p in points]
    by_resource = inside.list_recovery_points_by_resource(ResourceArn=arn)["RecoveryPoints"]
    assert {p["RecoveryPointArn"] for p in by_resource} == {p["RecoveryPointArn"] for p in points}
    rp = inside.describe_recovery_point(BackupVaultName="app-vault", RecoveryPointArn=done["RecoveryPointArn"])
    assert rp["Status"] == "COMPLETED" and rp["ResourceArn"] == arn
    meta = inside.get_recovery_point_restore_metadata(BackupVaultName="app-vault",
                                                      RecoveryPointArn=done["RecoveryPointArn"])["RestoreMetadata"]
    assert meta["machine"] == "app-vm"

    # a restore job onto the same machine, into a new directory
    target = tmp_path / "restored"
    restore = inside.start_restore_job(RecoveryPointArn=done["RecoveryPointArn"], IamRoleArn=role,
                                       Metadata={"target": str(target)})["RestoreJobId"]
    assert restore in [j["RestoreJobId"] for j in inside.list_restore_jobs()["RestoreJobs"]]
    run_agent(s, vm)
    assert inside.describe_restore_job(RestoreJobId=restore)["Status"] == "COMPLETED"
    assert tree(target / "src") == tree(src)
    item = tmp_path / "item-level"  # AWS's item-level restore: Metadata.ItemsToRestore, a JSON array of paths
    restore = inside.start_restore_job(RecoveryPointArn=done["RecoveryPointArn"], IamRoleArn=role, Metadata={
        "target": str(item), "ItemsToRestore": json.dumps(["/src/notes.txt"])})["RestoreJobId"]
    run_agent(s, vm)
    assert inside.describe_restore_job(RestoreJobId=restore)["Status"] == "COMPLETED"
    assert sorted(str(p.relative_to(item)) for p in item.rglob("*")) == ["src", "src/notes.txt"]
    with pytest.raises(ClientError) as bad:
        inside.start_restore_job(RecoveryPointArn=done["RecoveryPointArn"], IamRoleArn=role,
                                 Metadata={"target": str(item), "ItemsToRestore": "/src/notes.txt"})
    assert bad.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert first["id"] in {p["RecoveryPointArn"].rsplit(":", 1)[-1] for p in points}

    # lifecycle and deletion through the API, seen by the native CLI
    inside.update_recovery_point_lifecycle(BackupVaultName="app-vault", RecoveryPointArn=done["RecoveryPointArn"],
                                           Lifecycle={"DeleteAfterDays": 30})
    assert s.ok("recovery-point", "show", done["RecoveryPointArn"].rsplit(":", 1)[-1])["expires"]
    inside.delete_recovery_point(BackupVaultName="app-vault", RecoveryPointArn=first["arn"])
    left = inside.list_recovery_points_by_backup_vault(BackupVaultName="app-vault")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in left] == [done["RecoveryPointArn"]]


def run_agent(s: Server, vm: Vm) -> None:
    """The machine's ``vaultlink agent run --once``: takes what is queued for it now."""
    p = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm.state), "--passphrase-file",
                        str(vm.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    time.sleep(0.1)
