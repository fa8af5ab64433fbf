"""Every other implemented AWS operation, called with unmodified boto3 and checked by a later read (often the
native CLI's): vault lock, tags, plans and their versions, selections, copy jobs, stopping a job, deleting a
vault; EC2 peering and the teardown of endpoints, subnets and VPCs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
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
    described = b.describe_copy_job(CopyJobId=copy)["CopyJob"]  # queued, then run by the service's copy pass
    assert described["State"] in ("CREATED", "RUNNING", "COMPLETED"), described
    for _ in range(300):
        if described["State"] != "CREATED" and described["State"] != "RUNNING":
            break
        time.sleep(0.1)
        described = b.describe_copy_job(CopyJobId=copy)["CopyJob"]
    assert described["State"] == "COMPLETED" and described["SourceRecoveryPointArn"] == rp["arn"], described
    assert described["BackupSizeInBytes"] > 0 and described["CompletionDate"] >= described["CreationDate"]
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


def test_security_groups_and_private_dns_of_a_vpc_endpoint(aws: Server) -> None:
    s = aws
    key = aws_key(s)
    ec2 = client(key, "ec2", s.url, ca=s.ca)
    vpc = ec2.create_vpc(CidrBlock="127.43.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="127.43.0.0/20")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="https-from-a", Description="443 from 127.43.1.0/24", VpcId=vpc)
    gid = sg["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "127.43.1.0/24"}]}])
    shown = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert shown["VpcId"] == vpc and shown["IpPermissions"][0]["IpRanges"][0]["CidrIp"] == "127.43.1.0/24"
    with pytest.raises(ClientError) as out:
        ec2.create_security_group(GroupName="https-from-a", Description="again", VpcId=vpc)
    assert code(out) == "InvalidGroup.Duplicate"
    ep = ec2.create_vpc_endpoint(VpcId=vpc, SubnetIds=[sub], ServiceName=f"com.amazonaws.{REGION}.backup",
                                 SecurityGroupIds=[gid], PrivateDnsEnabled=True)["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    assert ep["Groups"] == [{"GroupId": gid, "GroupName": "https-from-a"}]
    ip = s.ok("endpoint", "show", eid)["ips"][0]
    url = f"https://{ip}:{s.info['api_port']}"
    a = client(key, "backup", url, source_ip="127.43.1.10", ca=s.ca)
    b = client(key, "backup", url, source_ip="127.43.2.10", ca=s.ca)
    a.list_backup_vaults()
    with pytest.raises(ClientError) as out:
        b.list_backup_vaults()
    assert code(out) == "AccessDeniedException" and "security group" in str(out.value)
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=443, ToPort=443,
                                         CidrIp="127.43.2.0/24")
    b.list_backup_vaults()  # the endpoint follows its group at once
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "127.43.2.0/24"}]}])
    with pytest.raises(ClientError):
        b.list_backup_vaults()
    with pytest.raises(ClientError) as out:
        ec2.delete_security_group(GroupId=gid)  # attached
    assert code(out) == "DependencyViolation"
    other = ec2.create_security_group(GroupName="all-vpc", Description="443 from the VPC", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "127.43.0.0/16"}]}])
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, AddSecurityGroupIds=[other], RemoveSecurityGroupIds=[gid])
    assert [g["GroupId"] for g in ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["Groups"]] \
        == [other]
    b.list_backup_vaults()
    ec2.delete_security_group(GroupId=gid)
    with pytest.raises(ClientError) as out:
        ec2.describe_security_groups(GroupIds=[gid])
    assert code(out) == "InvalidGroup.NotFound"

    # private DNS: the regional name answers the endpoint's IP inside the VPC only while it is enabled
    def regional(source: str) -> list[str]:
        q = dns.message.make_query(f"backup.{REGION}.vaultlink.internal", "A")
        ans = dns.query.udp(q, "127.0.0.1", port=s.info["dns_port"], source=source, timeout=5)
        return [r.address for rr in ans.answer for r in rr if rr.rdtype == 1]

    assert regional("127.43.1.10") == [ip]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, PrivateDnsEnabled=False)
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["PrivateDnsEnabled"] is False
    assert regional("127.43.1.10") != [ip]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, PrivateDnsEnabled=True)
    assert regional("127.43.1.10") == [ip]


def test_endpoint_services_follow_the_region_s_partition(aws: Server) -> None:
    key = aws_key(aws)
    china = client(key, "ec2", aws.url, region="cn-north-1", ca=aws.ca).describe_vpc_endpoint_services()
    assert china["ServiceNames"] == ["cn.com.amazonaws.cn-north-1.backup"]  # no backup gateway there
    assert china["ServiceDetails"][0]["PrivateDnsName"] == "backup.cn-north-1.vaultlink.internal"
    us = client(key, "ec2", aws.url, region="us-east-1", ca=aws.ca).describe_vpc_endpoint_services(
        ServiceNames=["com.amazonaws.us-east-1.backup-gateway"])
    assert us["ServiceNames"] == ["com.amazonaws.us-east-1.backup-gateway"]
