"""Every other implemented AWS operation, called with unmodified boto3 and checked by a later read (often the
native CLI's): vault lock, tags, plans and their versions, selections, copy jobs, stopping a job, deleting a
vault; EC2 peering and the teardown of endpoints, subnets and VPCs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.awsclients import client
from tests.conftest import Server
from tests.e2e.test_aws_story import aws, aws_key
from tests.e2e.test_private_backup import Vm, make_data

__all__ = ["aws"]
REGION = "us-east-1"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_vault_lock_tags_and_deletion(aws: Server) -> None:
    s = aws
    b = client(aws_key(s), "backup", s.url, ca=s.ca)
    arn = b.create_backup_vault(BackupVaultName="locked")["BackupVaultArn"]
    b.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=7, MaxRetentionDays=90,
                                          ChangeableForDays=30)
    shown = b.describe_backup_vault(BackupVaultName="locked")
    assert shown["Locked"] is True and (shown["MinRetentionDays"], shown["MaxRetentionDays"]) == (7, 90)
    assert s.ok("vault", "lock", "show", "locked")["lock"]["min_retention_days"] == 7
    with pytest.raises(ClientError) as out:
        b.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=100, MaxRetentionDays=10)
    assert code(out) == "InvalidParameterValueException"
    b.delete_backup_vault_lock_configuration(BackupVaultName="locked")
    assert b.describe_backup_vault(BackupVaultName="locked")["Locked"] is False

    b.tag_resource(ResourceArn=arn, Tags={"env": "prod", "team": "a"})
    b.untag_resource(ResourceArn=arn, TagKeyList=["team"])
    assert b.list_tags(ResourceArn=arn)["Tags"] == {"env": "prod"}
    assert s.ok("vault", "show", "locked")["tags"] == {"env": "prod"}

    b.delete_backup_vault(BackupVaultName="locked")
    assert "locked" not in [v["name"] for v in s.ok("vault", "list")]
    with pytest.raises(b.exceptions.ResourceNotFoundException):
        b.describe_backup_vault(BackupVaultName="locked")
    # a vault in another region than the client's is not there
    s.ok("vault", "create", "west", "--region", "us-west-2")
    with pytest.raises(b.exceptions.ResourceNotFoundException):
        b.describe_backup_vault(BackupVaultName="west")
    assert "west" not in [v["BackupVaultName"] for v in b.list_backup_vaults()["BackupVaultList"]]


def test_plans_versions_selections_copies_and_stopped_jobs(aws: Server, tmp_path: Path) -> None:
    s = aws
    key = aws_key(s)
    b = client(key, "backup", s.url, ca=s.ca)
    b.create_backup_vault(BackupVaultName="daily")
    dest_arn = b.create_backup_vault(BackupVaultName="copies")["BackupVaultArn"]
    rule: dict[str, Any] = {"RuleName": "nightly", "TargetBackupVaultName": "daily",
                            "ScheduleExpression": "cron(0 5 ? * MON-FRI *)", "StartWindowMinutes": 60,
                            "Lifecycle": {"DeleteAfterDays": 35},
                            "CopyActions": [{"DestinationBackupVaultArn": dest_arn,
                                             "Lifecycle": {"DeleteAfterDays": 90}}]}
    made = b.create_backup_plan(BackupPlan={"BackupPlanName": "office", "Rules": [rule]})
    pid = made["BackupPlanId"]
    got = b.get_backup_plan(BackupPlanId=pid)
    assert got["BackupPlan"]["Rules"][0]["ScheduleExpression"] == "cron(0 5 ? * MON-FRI *)"
    assert got["BackupPlan"]["Rules"][0]["CopyActions"][0]["DestinationBackupVaultArn"] == dest_arn
    assert s.ok("plan", "show", pid)["rules"][0]["delete_after_days"] == 35
    updated = b.update_backup_plan(BackupPlanId=pid, BackupPlan={"BackupPlanName": "office", "Rules": [
        {**rule, "ScheduleExpression": "cron(30 1 * * ? *)"}]})
    assert updated["VersionId"] != made["VersionId"]
    versions = [v["VersionId"] for v in b.list_backup_plan_versions(BackupPlanId=pid)["BackupPlanVersionsList"]]
    assert versions == [updated["VersionId"], made["VersionId"]]
    old = b.get_backup_plan(BackupPlanId=pid, VersionId=made["VersionId"])
    assert old["BackupPlan"]["Rules"][0]["ScheduleExpression"] == "cron(0 5 ? * MON-FRI *)"
    assert b.get_backup_plan(BackupPlanId=pid)["BackupPlan"]["Rules"][0]["ScheduleExpression"] == \
        "cron(30 1 * * ? *)"
    assert [p["BackupPlanId"] for p in b.list_backup_plans()["BackupPlansList"]] == [pid]

    # a machine with a backup: its item is selected by ARN; the plan's scheduler sees the selection
    creds = tmp_path / "daily.creds"
    assert s.cli("vault", "credentials", "daily", "-o", str(creds), json_out=False).exit_code == 0
    vm = Vm(s, tmp_path, "ops-vm", "127.0.9.20")
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    rp = vm.ok("backup", str(make_data(tmp_path / "src", 4)))["recovery_point"]
    resource = b.list_protected_resources()["Results"][0]["ResourceArn"]
    role = f"arn:aws:iam::{key['account_id']}:role/backup"
    sel = b.create_backup_selection(BackupPlanId=pid, BackupSelection={
        "SelectionName": "the-vm", "IamRoleArn": role, "Resources": [resource]})["SelectionId"]
    assert b.get_backup_selection(BackupPlanId=pid, SelectionId=sel)["BackupSelection"]["Resources"] == [resource]
    assert [x["SelectionId"] for x in b.list_backup_selections(BackupPlanId=pid)["BackupSelectionsList"]] == [sel]
    native = s.ok("plan", "show", pid)["selections"]
    assert native == [{"name": f"{sel}-0", "container": rp["container_id"], "paths": [str(tmp_path / "src")]}]
    with pytest.raises(ClientError) as out:
        b.create_backup_selection(BackupPlanId=pid, BackupSelection={
            "SelectionName": "by-tag", "IamRoleArn": role,
            "ListOfTags": [{"ConditionType": "STRINGEQUALS", "ConditionKey": "env", "ConditionValue": "prod"}]})
    assert code(out) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as out:
        b.delete_backup_plan(BackupPlanId=pid)  # selections first, as AWS requires
    assert code(out) == "InvalidRequestException"
    b.delete_backup_selection(BackupPlanId=pid, SelectionId=sel)
    assert s.ok("plan", "show", pid)["selections"] == []
    b.delete_backup_plan(BackupPlanId=pid)
    assert b.list_backup_plans()["BackupPlansList"] == []

    # a copy job to another vault
    copy = b.start_copy_job(RecoveryPointArn=rp["arn"], SourceBackupVaultName="daily",
                            DestinationBackupVaultArn=dest_arn, IamRoleArn=role,
                            Lifecycle={"DeleteAfterDays": 90})["CopyJobId"]
    described = b.describe_copy_job(CopyJobId=copy)["CopyJob"]
    assert described["State"] == "COMPLETED" and described["SourceRecoveryPointArn"] == rp["arn"]
    assert copy in [j["CopyJobId"] for j in b.list_copy_jobs()["CopyJobs"]]
    copied = b.list_recovery_points_by_backup_vault(BackupVaultName="copies")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in copied] == [described["DestinationRecoveryPointArn"]]

    # a queued job stopped before the agent takes it never runs
    job = b.start_backup_job(BackupVaultName="daily", ResourceArn=resource, IamRoleArn=role)["BackupJobId"]
    b.stop_backup_job(BackupJobId=job)
    assert b.describe_backup_job(BackupJobId=job)["State"] == "ABORTED"
    with pytest.raises(ClientError) as out:
        b.stop_backup_job(BackupJobId=job)
    assert code(out) == "InvalidRequestException"
    # deleting a vault that still holds recovery points is refused
    with pytest.raises(ClientError):
        b.delete_backup_vault(BackupVaultName="copies")
    assert "copies" in [v["name"] for v in s.ok("vault", "list")]


def test_peering_and_teardown(aws: Server) -> None:
    s = aws
    ec2 = client(aws_key(s), "ec2", s.url, ca=s.ca)
    a = ec2.create_vpc(CidrBlock="127.41.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="127.42.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    assert pcx["Status"]["Code"] == "active"
    listed = ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
    assert [p["VpcPeeringConnectionId"] for p in listed] == [pcx["VpcPeeringConnectionId"]]
    assert [p["vnet_id"] for p in s.ok("vnet", "show", a)["peerings"]] == [b]
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    assert s.ok("vnet", "show", a)["peerings"] == []

    sub = ec2.create_subnet(VpcId=a, CidrBlock="127.41.1.0/24")["Subnet"]["SubnetId"]
    ep = ec2.create_vpc_endpoint(VpcId=a, SubnetIds=[sub], ServiceName=f"com.amazonaws.{REGION}.backup",
                                 PolicyDocument=json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                                                           "Action": "backup:List*",
                                                                           "Resource": "*"}]}))["VpcEndpoint"]
    assert s.ok("endpoint", "policy", "show", ep["VpcEndpointId"])["policy"]["Statement"][0]["Action"] == \
        "backup:List*"
    with pytest.raises(ClientError) as out:
        ec2.delete_vpc(VpcId=a)  # an endpoint is in it
    assert code(out) == "DependencyViolation"
    gone = ec2.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"], "pe-nothere"])
    assert [u["ResourceId"] for u in gone["Unsuccessful"]] == ["pe-nothere"]
    assert ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [a]}])["VpcEndpoints"] == []
    ec2.delete_subnet(SubnetId=sub)
    with pytest.raises(ClientError) as out:
        ec2.describe_subnets(SubnetIds=[sub])
    assert code(out) == "InvalidSubnetID.NotFound"
    ec2.delete_vpc(VpcId=a)
    ec2.delete_vpc(VpcId=b)
    with pytest.raises(ClientError) as out:
        ec2.describe_vpcs(VpcIds=[a])
    assert code(out) == "InvalidVpcID.NotFound"
