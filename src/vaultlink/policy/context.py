"""Build the request context the way AWS does for VPC endpoints.

Through a private endpoint: ``aws:SourceVpce`` (the endpoint id),
``aws:SourceVpc`` (its virtual network id) and ``aws:VpcSourceIp`` (the
client's private address) are present and ``aws:SourceIp`` is absent.
On the public endpoint: ``aws:SourceIp`` only. Always: ``aws:PrincipalAccount``,
``aws:PrincipalArn``, ``aws:SecureTransport``, ``aws:CurrentTime``,
``aws:EpochTime`` and ``aws:RequestedRegion`` (plus ``aws:username`` for user
principals, usable as ``${aws:username}``).

Pure: the caller passes the clock's reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from vaultlink.policy.evaluate import Request


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """The private endpoint a request arrived on."""

    endpoint_id: str  # aws:SourceVpce
    vnet_id: str  # aws:SourceVpc


def iso_time(now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_context(
    *,
    principal_arn: str,
    principal_account: str,
    source_ip: str,
    now: datetime,
    requested_region: str,
    secure_transport: bool = True,
    endpoint: EndpointInfo | None = None,
    extra: Mapping[str, str | list[str]] | None = None,
) -> dict[str, str | list[str]]:
    """The context keys of one request (keys in AWS's spelling)."""
    ctx: dict[str, str | list[str]] = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": principal_account,
        "aws:SecureTransport": "true" if secure_transport else "false",
        "aws:CurrentTime": iso_time(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:RequestedRegion": requested_region,
    }
    if ":user/" in principal_arn:
        ctx["aws:username"] = principal_arn.rsplit("/", 1)[-1]
    if endpoint is not None:
        ctx["aws:SourceVpce"] = endpoint.endpoint_id
        ctx["aws:SourceVpc"] = endpoint.vnet_id
        ctx["aws:VpcSourceIp"] = source_ip
    else:
        ctx["aws:SourceIp"] = source_ip
    if extra:
        for k, v in extra.items():
            if k.lower() in _RESERVED:
                continue  # the service sets these; a caller cannot override them
            ctx[k] = v
    return ctx


_RESERVED = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:SecureTransport",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:RequestedRegion",
        "aws:SourceVpce",
        "aws:SourceVpc",
        "aws:VpcSourceIp",
        "aws:SourceIp",
        "aws:username",
    )
)


def build_request(
    *,
    principal_arn: str,
    principal_account: str,
    action: str,
    resource: str,
    source_ip: str,
    now: datetime,
    requested_region: str,
    secure_transport: bool = True,
    endpoint: EndpointInfo | None = None,
    extra: Mapping[str, str | list[str]] | None = None,
) -> Request:
    """A Request with its context built by :func:`build_context`."""
    ctx = build_context(
        principal_arn=principal_arn,
        principal_account=principal_account,
        source_ip=source_ip,
        now=now,
        requested_region=requested_region,
        secure_transport=secure_transport,
        endpoint=endpoint,
        extra=extra,
    )
    return Request(principal_arn, principal_account, action, resource, ctx)
