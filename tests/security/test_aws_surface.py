"""The AWS surface under attack: forged, stale, replayed, re-targeted and doubled credentials, bodies swapped
after signing, malformed and oversize input, unknown operations. Each gets the AWS error code botocore maps,
an audit event under the AWS action name as a refusal, and nothing stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.awsclients import client, signed_request
from tests.conftest import Server, start_server, stop_server

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    tmp: Path = tmp_path_factory.mktemp("aws-hostile")
    s = start_server(tmp / "data", extra_args=("--regions", "aws"))
    try:
        yield s, s.ok("key", "create", "--aws")
    finally:
        stop_server(s)


def send(s: Server, method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=30, verify=s.verify) as c:
        return c.request(method, url, headers=headers, content=body)


def vault_url(s: Server, name: str) -> str:
    return f"{s.url}/backup-vaults/{name}"


def vaults(s: Server) -> list[str]:
    return [v["name"] for v in s.ok("vault", "list")]


def refused(r: httpx.Response, aws_code: str, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers.get("x-amzn-errortype") == aws_code or f"<Code>{aws_code}</Code>" in r.text, r.text


def audited(s: Server, action: str, code: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if s.ok("audit", "list", "--action", action, "--decision", "denied", "--code", code):
            return
        time.sleep(0.2)
    raise AssertionError(f"no denied audit event {action} {code}")


def test_forged_credentials_store_nothing(aws: tuple[Server, dict[str, Any]]) -> None:
    s, key = aws
    body = b'{"BackupVaultTags": {"a": "b"}}'
    # another secret
    url, h, b = signed_request(key, "PUT", vault_url(s, "forged"), body, secret="x" * 40)
    refused(send(s, "PUT", url, h, b), "InvalidSignatureException", 403)
    audited(s, "backup:CreateBackupVault", "SignatureDoesNotMatch")
    # an access key vaultlink never issued
    url, h, b = signed_request({**key, "access_key_id": "AKIAZZZZZZZZZZZZZZZZ"}, "PUT", vault_url(s, "forged"), body)
    refused(send(s, "PUT", url, h, b), "UnrecognizedClientException", 403)
    audited(s, "backup:CreateBackupVault", "InvalidClientTokenId")
    # signed over one body, sent with another
    url, h, _ = signed_request(key, "PUT", vault_url(s, "forged"), body)
    h.pop("Content-Length", None)
    refused(send(s, "PUT", url, h, b'{"BackupVaultTags": {"evil": "1"}}'), "InvalidSignatureException", 403)
    # signed for one vault, sent for another
    url, h, b = signed_request(key, "PUT", vault_url(s, "forged"), body)
    refused(send(s, "PUT", url.replace("forged", "other"), h, b), "InvalidSignatureException", 403)
    # no signature at all, and a vaultlink API key instead of one
    refused(send(s, "PUT", vault_url(s, "forged"), {}, body), "MissingAuthenticationTokenException", 403)
    refused(send(s, "PUT", vault_url(s, "forged"), {"Authorization": f"Bearer {s.owner_key}"}, body),
            "MissingAuthenticationTokenException", 403)
    assert "forged" not in vaults(s) and "other" not in vaults(s)


def test_stale_and_replayed_requests(aws: tuple[Server, dict[str, Any]]) -> None:
    s, key = aws
    url, h, b = signed_request(key, "PUT", vault_url(s, "stale"), b"{}", at=time.time() - 20 * 60)
    refused(send(s, "PUT", url, h, b), "InvalidSignatureException", 403)
    audited(s, "backup:CreateBackupVault", "RequestExpired")
    url, h, b = signed_request(key, "PUT", vault_url(s, "stale"), b"{}", at=time.time() + 20 * 60)
    refused(send(s, "PUT", url, h, b), "InvalidSignatureException", 403)
    assert "stale" not in vaults(s)
    # a captured request replayed later than the window: refused
    url, h, b = signed_request(key, "DELETE", vault_url(s, "kept"), b"", at=time.time() - 16 * 60)
    s.ok("vault", "create", "kept", "--region", REGION)
    refused(send(s, "DELETE", url, h, b), "InvalidSignatureException", 403)
    assert "kept" in vaults(s)


def test_a_revoked_key_stops_at_once(aws: tuple[Server, dict[str, Any]]) -> None:
    s, _ = aws
    key = s.ok("key", "create", "--aws")
    sts = client(key, "sts", s.url, ca=s.ca)
    assert sts.get_caller_identity()["Account"] == key["account_id"]
    s.ok("key", "revoke", key["access_key_id"])
    url, h, b = signed_request(key, "POST", s.url + "/", b"Action=GetCallerIdentity&Version=2011-06-15", "sts",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    refused(send(s, "POST", url, h, b), "InvalidClientTokenId", 403)
    # an AWS key is never a vaultlink API key, and a signature never opens the native API
    assert s.cli("vault", "list", api_key=f"vlk_{key['access_key_id']}_{key['secret_access_key']}").exit_code != 0
    url, h, b = signed_request(key, "GET", s.url + "/v1/vaults")
    assert send(s, "GET", url, h, b).json()["error"]["code"] == "InvalidApiKey"


def test_two_credentials_and_a_wrong_region(aws: tuple[Server, dict[str, Any]]) -> None:
    s, key = aws
    url, h, b = signed_request(key, "PUT", vault_url(s, "two"), b"{}")
    refused(send(s, "PUT", url, {**h, "X-Api-Key": s.owner_key}, b), "IncompleteSignatureException", 403)
    url, h, b = signed_request(key, "PUT", vault_url(s, "two"), b"{}", region="mars-1")
    refused(send(s, "PUT", url, h, b), "InvalidSignatureException", 403)
    assert "two" not in vaults(s)


@pytest.mark.parametrize(("method", "path", "body", "aws_code", "status", "code"), [
    ("PUT", "/backup-vaults/bad-json", b"{not json", "SerializationException", 400, "MalformedJSON"),
    ("PUT", "/backup-vaults/bad-type", b'{"BackupVaultTags": "x"}', "InvalidParameterValueException", 400,
     "InvalidType"),
    ("PUT", "/backup-jobs", b'{"BackupVaultName": "v"}', "MissingParameterValueException", 400, "MissingField"),
    ("GET", "/backup-vaults/v/no-such-thing", b"", "UnknownOperationException", 404, "UnknownOperation"),
    ("PUT", "/backup-vaults/huge", b'{"x": "' + b"a" * (2 << 20) + b'"}', "RequestEntityTooLargeException", 413,
     "PayloadTooLarge"),
])
def test_bad_backup_input(aws: tuple[Server, dict[str, Any]], method: str, path: str, body: bytes, aws_code: str,
                          status: int, code: str) -> None:
    s, key = aws
    url, h, b = signed_request(key, method, s.url + path, body)
    refused(send(s, method, url, h, b), aws_code, status)
    names = vaults(s)
    assert not {"bad-json", "bad-type", "huge"} & set(names)
    deadline = time.monotonic() + 10
    while not s.ok("audit", "list", "--decision", "denied", "--code", code) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert s.ok("audit", "list", "--decision", "denied", "--code", code)


@pytest.mark.parametrize(("body", "aws_code"), [
    (b"Action=LaunchMissiles&Version=2016-11-15", "InvalidAction"),
    (b"Version=2016-11-15", "InvalidAction"),
    (b"Action=CreateVpc&Version=2016-11-15", "MissingParameter"),
    (b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/33", "InvalidParameterValue"),
    (b"Action=DescribeVpcs&Version=2016-11-15&VpcId.x=1", "InvalidParameterValue"),
    (b"Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vnet-nope", "InvalidVpcID.NotFound"),
    (b"\xff\xfe", "InvalidParameterValue"),
])
def test_bad_ec2_input(aws: tuple[Server, dict[str, Any]], body: bytes, aws_code: str) -> None:
    s, key = aws
    before = s.ok("vnet", "list")
    url, h, b = signed_request(key, "POST", s.url + "/", body, "ec2",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = send(s, "POST", url, h, b)
    assert r.status_code in (400, 404) and f"<Code>{aws_code}</Code>" in r.text, r.text
    assert s.ok("vnet", "list") == before


def test_a_vault_access_policy_is_enforced_on_aws_calls(aws: tuple[Server, dict[str, Any]]) -> None:
    s, key = aws
    backup = client(key, "backup", s.url, ca=s.ca)
    backup.create_backup_vault(BackupVaultName="guarded")
    policy = {"Statement": [{"Sid": "NoDelete", "Effect": "Deny", "Principal": "*",
                             "Action": ["backup:DeleteBackupVault", "backup:DeleteRecoveryPoint"], "Resource": "*"}]}
    backup.put_backup_vault_access_policy(BackupVaultName="guarded", Policy=json.dumps(policy))
    assert json.loads(backup.get_backup_vault_access_policy(BackupVaultName="guarded")["Policy"]) == policy
    with pytest.raises(backup.exceptions.ClientError) as out:
        backup.delete_backup_vault(BackupVaultName="guarded")
    assert out.value.response["Error"]["Code"] == "AccessDeniedException" and "NoDelete" in str(out.value)
    assert "guarded" in vaults(s)
    audited(s, "backup:DeleteBackupVault", "AccessDenied")
    backup.delete_backup_vault_access_policy(BackupVaultName="guarded")
    with pytest.raises(backup.exceptions.ResourceNotFoundException):
        backup.get_backup_vault_access_policy(BackupVaultName="guarded")
    backup.delete_backup_vault(BackupVaultName="guarded")
    assert "guarded" not in vaults(s)
