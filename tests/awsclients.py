"""Unmodified boto3 clients for the AWS tests: explicit credentials, no instance metadata, and (loopback
mode) their connections bound to a VM's source address through botocore's own event hooks."""

from __future__ import annotations

import os
from typing import Any

import boto3
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def session(key: dict[str, Any], region: str = "us-east-1") -> boto3.Session:
    return boto3.Session(aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
                         region_name=region)


def client(key: dict[str, Any], service: str, url: str, region: str = "us-east-1",
           source_ip: str | None = None, ca: str | bool = True) -> Any:
    """A boto3 client of ``service`` at ``url`` that verifies the server with ``ca`` (the deployment's
    ``ca.pem``, as ``AWS_CA_BUNDLE`` would); with ``source_ip``, every request leaves from that address
    (a ``before-send`` handler sends it, as a VM at that address would)."""
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    c = session(key, region).client(service, endpoint_url=url, config=cfg, verify=ca)
    if source_ip is not None:
        tls = {"ca_certs": ca, "cert_reqs": "CERT_REQUIRED"} if isinstance(ca, str) else {}
        pool = urllib3.PoolManager(source_address=(source_ip, 0), retries=False, **tls)

        def send(request: Any, **_: Any) -> AWSResponse:
            r = pool.request(request.method, request.url, body=request.body, headers=dict(request.headers),
                             preload_content=True, redirect=False)
            return AWSResponse(request.url, r.status, dict(r.headers), _Raw(r.data))

        c.meta.events.register_first("before-send", send)
    return c


class _Raw:
    """What botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, *_: Any, **__: Any) -> Any:
        yield self.data


def signed_request(key: dict[str, Any], method: str, url: str, body: bytes = b"", service: str = "backup",
                   region: str = "us-east-1", at: float | None = None, secret: str | None = None,
                   headers: dict[str, str] | None = None) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of a request signed by botocore's own signer, at time ``at`` (default: now) and
    with ``secret`` (default: the key's), for the tests that forge what an SDK would not send."""
    import datetime
    from unittest import mock

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    when = datetime.datetime.fromtimestamp(at, datetime.UTC).replace(tzinfo=None) if at is not None else None
    signer = SigV4Auth(Credentials(key["access_key_id"], secret or key["secret_access_key"]), service, region)
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(req)
    p = req.prepare()
    return p.url, {k: (v if isinstance(v, str) else v.decode()) for k, v in p.headers.items()}, body
