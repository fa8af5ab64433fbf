"""SigV4 checked server-side: requests signed by botocore's own client-side signer verify; any change to what
was signed, another secret, a stale or future date, a malformed header is refused with its code."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from vaultlink import errors as E
from vaultlink.compat.aws import sigv4

KEY, SECRET = "AKIAABCDEFGHIJKLMNOP", "s3cr3t/with+chars=="


def signed(method: str = "PUT", url: str = "http://127.0.0.1:8470/backup-vaults/my-vault", body: bytes = b"{}",
           service: str = "backup", region: str = "us-east-1", secret: str = SECRET,
           headers: dict[str, str] | None = None) -> tuple[list[tuple[bytes, bytes]], bytes, bytes]:
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY, secret), service, region).add_auth(req)
    p = req.prepare()
    hdrs = [(k.lower().encode(), (v if isinstance(v, str) else v.decode()).encode()) for k, v in p.headers.items()]
    hdrs.append((b"host", urlsplit(url).netloc.encode()))
    parts = urlsplit(p.url)
    return hdrs, parts.path.encode(), parts.query.encode()


def auth(hdrs: list[tuple[bytes, bytes]]) -> sigv4.SigV4:
    return sigv4.parse(dict(hdrs)[b"authorization"])


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8470/backup-vaults/my-vault",
    "http://127.0.0.1:8470/backup-vaults/v/recovery-points/arn%3Aaws%3Abackup%3Aus-east-1%3A1%3Arecovery-point%3Arp-1",
    "http://backup.us-east-1.vaultlink.internal:8470/backup-jobs/?maxResults=5&byState=RUNNING",
    "http://127.0.0.1/tags/arn%3Aaws%3Abackup%3Aus-east-1%3A1%3Abackup-vault%3Ax/?nextToken=a%2Fb%20c",
])
def test_botocore_signed_requests_verify(url: str) -> None:
    hdrs, path, query = signed(url=url, body=b'{"BackupVaultTags": {"a": "b"}}')
    sigv4.verify(auth(hdrs), SECRET, "PUT", path, query, hdrs, b'{"BackupVaultTags": {"a": "b"}}', time.time())


def test_a_query_protocol_form_post_verifies() -> None:
    body = b"Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vnet-1"
    hdrs, path, query = signed("POST", "http://127.0.0.1:8470/", body, "ec2",
                               headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    sig = auth(hdrs)
    assert (sig.service, sig.region, sig.access_key) == ("ec2", "us-east-1", KEY)
    sigv4.verify(sig, SECRET, "POST", path, query, hdrs, body, time.time())


@pytest.mark.parametrize("change", ["body", "secret", "method", "path", "query", "header", "dropped-header"])
def test_anything_changed_after_signing_is_refused(change: str) -> None:
    hdrs, path, query = signed(url="http://127.0.0.1:8470/backup-vaults/v?x=1")
    body, secret, method = b"{}", SECRET, "PUT"
    if change == "body":
        body = b'{"BackupVaultTags": {"evil": "1"}}'
    elif change == "secret":
        secret = "another secret"
    elif change == "method":
        method = "DELETE"
    elif change == "path":
        path = b"/backup-vaults/other"
    elif change == "query":
        query = b"x=2"
    elif change == "header":
        hdrs = [(k, b"text/plain" if k == b"content-type" else v) for k, v in hdrs]
    else:
        hdrs = [(k, v) for k, v in hdrs if k != b"content-type"]
    with pytest.raises(E.SignatureDoesNotMatch):
        sigv4.verify(auth(hdrs), secret, method, path, query, hdrs, body, time.time())


def test_a_declared_payload_hash_must_be_the_body_s() -> None:
    hdrs, path, query = signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(E.SignatureDoesNotMatch, match="SHA-256"):
        sigv4.verify(auth(hdrs), SECRET, "PUT", path, query, hdrs, b"{}", time.time())


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60, -24 * 3600])
def test_a_request_outside_the_fifteen_minute_window_is_expired(offset: float) -> None:
    hdrs, path, query = signed()
    with pytest.raises(E.RequestExpired):
        sigv4.verify(auth(hdrs), SECRET, "PUT", path, query, hdrs, b"{}", time.time() + offset)
    sigv4.verify(auth(hdrs), SECRET, "PUT", path, query, hdrs, b"{}", time.time() + 14 * 60)  # a replay inside


@pytest.mark.parametrize("value", [
    b"AWS4-HMAC-SHA256 Credential=AKIA/20261130/us-east-1/backup/aws4_request",
    b"AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20261130/us-east-1/backup/aws4_request, SignedHeaders=host, "
    b"Signature=" + b"0" * 64,  # x-amz-date not signed
    b"AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/2026/us-east-1/backup/aws4_request, "
    b"SignedHeaders=host;x-amz-date, Signature=" + b"0" * 64,
    b"AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20261130/us-east-1/backup/aws4_request, "
    b"SignedHeaders=host;x-amz-date, Signature=zz",
    b"AWS4-HMAC-SHA256 " + b"A" * 5000,
])
def test_malformed_authorization_headers_are_incomplete(value: bytes) -> None:
    with pytest.raises(E.IncompleteSignature):
        sigv4.parse(value)


def test_the_scope_date_must_be_the_signing_day() -> None:
    hdrs, path, query = signed()
    sig = auth(hdrs)
    other = sigv4.SigV4(sig.access_key, "20000101", sig.region, sig.service, sig.signed_headers, sig.signature)
    with pytest.raises(E.IncompleteSignature):
        sigv4.verify(other, SECRET, "PUT", path, query, hdrs, b"{}", time.time())
