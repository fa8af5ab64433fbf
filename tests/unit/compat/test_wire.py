"""The AWS wire protocols read from botocore's models: every AWS Backup operation's request line routes back
to it, input is checked against the shapes (types, required members, bounds), EC2's flattened form keys
rebuild lists and structures, outputs carry only what the shapes name, and errors map to the codes botocore
raises."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

from vaultlink import errors as E
from vaultlink.compat.aws import query, restjson
from vaultlink.compat.aws.errors import aws_error
from vaultlink.compat.aws.shapes import operation, service_model


def _render(template: str) -> str:
    path, _, q = template.partition("?")
    path = re.sub(r"\{([^}+]+)\+?\}", lambda m: quote(f"arn:aws:backup:x:{m.group(1)}", safe=""), path)
    return path + ("?" + q if q else "")


def test_every_backup_operation_routes_back_to_itself() -> None:
    model = service_model("backup")
    router = restjson.Router(model)
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, q = _render(http["requestUri"]).partition("?")
        hit = router.match(http["method"], path, q)
        assert hit is not None and hit[0] == name, (name, http, hit)
    assert router.match("GET", "/no-such-thing", "") is None
    assert router.serves("/backup-vaults/") and not router.serves("/v1/vaults")


def test_labels_are_percent_decoded() -> None:
    router = restjson.Router(service_model("backup"))
    arn = "arn:aws:backup:us-east-1:1:recovery-point:rp-1"
    hit = router.match("GET", f"/backup-vaults/v/recovery-points/{quote(arn, safe='')}", "")
    assert hit == ("DescribeRecoveryPoint", {"backupVaultName": "v", "recoveryPointArn": arn})


def test_rest_json_input_from_path_query_and_body() -> None:
    op = operation("backup", "ListBackupJobs")
    got = restjson.parse_input(op, {}, "maxResults=5&state=RUNNING", {}, b"")
    assert got == {"MaxResults": 5, "ByState": "RUNNING"}
    op = operation("backup", "CreateBackupVault")
    got = restjson.parse_input(op, {"backupVaultName": "v"}, "", {}, b'{"BackupVaultTags": {"a": "b"}, "x": 1}')
    assert got == {"BackupVaultName": "v", "BackupVaultTags": {"a": "b"}}


@pytest.mark.parametrize(("body", "query_string", "error"), [
    (b"{not json", "", E.MalformedJSON),
    (b"[1, 2]", "", E.MalformedJSON),
    (b'{"BackupVaultTags": "nope"}', "", E.InvalidType),
    (b'{"BackupVaultTags": {"a": 1}}', "", E.InvalidType),
])
def test_bad_rest_json_input_is_refused(body: bytes, query_string: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        restjson.parse_input(operation("backup", "CreateBackupVault"), {"backupVaultName": "v"}, query_string, {},
                             body)


def test_missing_required_members_and_bad_numbers() -> None:
    with pytest.raises(E.MissingField):
        restjson.parse_input(operation("backup", "StartBackupJob"), {}, "", {}, b'{"BackupVaultName": "v"}')
    with pytest.raises(E.InvalidType):
        restjson.parse_input(operation("backup", "ListBackupVaults"), {}, "maxResults=many", {}, b"")
    with pytest.raises(E.InvalidInput):
        restjson.parse_input(operation("backup", "ListBackupVaults"), {}, "maxResults=0", {}, b"")
    with pytest.raises(E.InvalidInput):
        restjson.parse_input(operation("backup", "ListBackupVaults"), {}, "&".join(["a=1"] * 200), {}, b"")


def test_ec2_flattened_form_keys_rebuild_the_input() -> None:
    op = operation("ec2", "CreateVpcEndpoint")
    pairs = query.form(b"Action=CreateVpcEndpoint&Version=2016-11-15&VpcId=vnet-1&ServiceName=com.x.backup"
                       b"&SubnetId.1=subnet-a&SecurityGroupId.1=sg-1&SecurityGroupId.2=sg-2&PrivateDnsEnabled=true"
                       b"&TagSpecification.1.ResourceType=vpc-endpoint&TagSpecification.1.Tag.1.Key=Name"
                       b"&TagSpecification.1.Tag.1.Value=pe")
    assert query.action_of(pairs) == "CreateVpcEndpoint"
    got = query.parse_input(op, pairs)
    assert got["SubnetIds"] == ["subnet-a"] and got["SecurityGroupIds"] == ["sg-1", "sg-2"]
    assert got["PrivateDnsEnabled"] is True
    assert got["TagSpecifications"] == [{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "pe"}]}]


@pytest.mark.parametrize("body", [
    b"Action=CreateVpc&Version=2016-11-15&CidrBlock=1&CidrBlock.1=2",
    b"Action=DescribeVpcs&VpcId.x=1",
    b"Action=DescribeVpcs&VpcId.100000=1",
    b"Action=DescribeVpcs&DryRun=maybe",
])
def test_bad_ec2_forms_are_refused(body: bytes) -> None:
    op = operation("ec2", query.action_of(query.form(body)))
    with pytest.raises(E.InvalidInput):
        query.parse_input(op, query.form(body))


def test_unknown_or_missing_actions() -> None:
    with pytest.raises(E.UnknownOperation):
        query.action_of(query.form(b"Version=1"))
    with pytest.raises(E.UnknownOperation):
        query.action_of(query.form(b"Action=A&Action=B"))
    with pytest.raises(E.MalformedXml):
        query.form(b"\xff\xfe")


def test_outputs_carry_only_the_shape_s_members() -> None:
    status, _headers, body = restjson.response(operation("backup", "CreateBackupVault"), {
        "BackupVaultName": "v", "BackupVaultArn": "arn", "CreationDate": 1.5, "secret": "x"})
    assert status == 200 and json.loads(body) == {"BackupVaultName": "v", "BackupVaultArn": "arn",
                                                  "CreationDate": 1.5}
    _, _, xml = query.response(operation("ec2", "DescribeVpcs"), {"Vpcs": [{"VpcId": "vnet-1", "Bad": "<x>"}]},
                               "rid", "ec2")
    text = xml.decode()
    assert "<vpcSet><item><vpcId>vnet-1</vpcId></item></vpcSet>" in text and "Bad" not in text
    _, _, sts = query.response(operation("sts", "GetCallerIdentity"), {"Account": "1"}, "rid", "query")
    assert "<GetCallerIdentityResult><Account>1</Account></GetCallerIdentityResult>" in sts.decode()


@pytest.mark.parametrize(("err", "service", "expected"), [
    (E.AlreadyExists(), "backup", ("AlreadyExistsException", 400)),
    (E.RecoveryPointNotFound(), "backup", ("ResourceNotFoundException", 400)),
    (E.EndpointPolicyDenied(), "backup", ("AccessDeniedException", 403)),
    (E.MissingField(), "backup", ("MissingParameterValueException", 400)),
    (E.SignatureDoesNotMatch(), "backup", ("InvalidSignatureException", 403)),
    (E.InvalidClientTokenId(), "backup", ("UnrecognizedClientException", 403)),
    (E.UnknownOperation(), "backup", ("UnknownOperationException", 404)),
    (E.RequestLimitExceeded(), "backup", ("ThrottlingException", 400)),
    (E.NotFound("x", aws_code="InvalidVpcID.NotFound"), "ec2", ("InvalidVpcID.NotFound", 400)),
    (E.InvalidCidr(), "ec2", ("InvalidParameterValue", 400)),
    (E.UnknownOperation(), "ec2", ("InvalidAction", 400)),
    (E.SignatureDoesNotMatch(), "ec2", ("SignatureDoesNotMatch", 403)),
    (E.InvalidClientTokenId(), "sts", ("InvalidClientTokenId", 403)),
    (E.StorageFull(), "backup", ("DependencyFailureException", 507)),  # 507: not retried by botocore
    (E.StoreError(), "backup", ("DependencyFailureException", 500)),
    (E.StorageFull(), "ec2", ("InternalError", 507)),
    (E.StorageFull(), "sts", ("InternalFailure", 507)),
    (E.StorageFull(), "backup-gateway", ("InternalServerException", 507)),
])
def test_errors_map_to_what_botocore_raises(err: E.VaultlinkError, service: str, expected: tuple[str, int]) -> None:
    assert aws_error(err, service) == expected
