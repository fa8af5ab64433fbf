"""The one authentication path: a credential (already parsed by the transport, exactly one per request)
to the ``Caller`` it authenticates, cached until anything changes.

Four kinds, told apart by prefix: API keys ``vlk_…``, vault registration secrets ``vlr_…``,
container credentials ``vlc_…`` and backup gateway credentials ``vlgw_…`` (``service/gateways.py``).
The cache is keyed by the service's change generation (``svc.generation``): revoking a key, changing
a role or removing an endpoint bumps it. Role and identity-policy lookups for the data plane are cached the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from vaultlink import errors as E
from vaultlink.domain.identity import Scope
from vaultlink.domain.records import read_principal
from vaultlink.domain.throttle import Throttle
from vaultlink.policy import compile_policy
from vaultlink.service.aws_keys import aws_key
from vaultlink.service.core import Caller, Service, allowed
from vaultlink.service.dataplane.credentials import (
    CONTAINER_PREFIX,
    REGISTRATION_PREFIX,
    authenticate_container,
    check_registration,
)
from vaultlink.service.gateways import authenticate_gateway
from vaultlink.service.identity import KEY_PREFIX, authenticate

MAX_CACHED = 50_000
MAX_SEEN = 100_000  # (caller, source address, TLS) triples kept
GATEWAY_PREFIX = "vlgw"


def authenticate_token(svc: Service, token: str) -> Caller:
    """The caller ``token`` authenticates; ``InvalidApiKey`` (or ``CredentialsExpired``) otherwise."""
    if token.startswith("AWS4-HMAC-SHA256 "):
        raise E.InvalidApiKey("an AWS SigV4 signature is accepted by the AWS APIs only (AWS Backup, EC2, STS); "
                              "this route takes a vaultlink API key (Authorization: Bearer vlk_…).")
    prefix = token.split("_", 1)[0]
    if prefix == KEY_PREFIX:
        return authenticate(svc, token)
    if prefix == CONTAINER_PREFIX:
        found = authenticate_container(svc, token)
        if found is not None:
            c, p, ends = found
            return Caller(p["id"], p["account_id"], p["arn"], p["name"], kind="container", credential_id=c["id"],
                          vault_id=c["vault_id"], container_id=c["id"],
                          reregistration_required=bool(c.get("reregistration_required")), expires=ends)
    if prefix == GATEWAY_PREFIX:
        gw = authenticate_gateway(svc, token)
        if gw is not None:
            return gw
    if prefix == REGISTRATION_PREFIX:
        reg = check_registration(svc, token)
        if reg is not None:
            r, p = reg
            return Caller(p["id"], p["account_id"], p["arn"], p["name"], kind="registration",
                          credential_id=r["id"], vault_id=r["vault_id"])
    raise E.InvalidApiKey(
        "the credential is not a vaultlink API key (vlk_…), vault registration secret (vlr_…), container "
        "credential (vlc_…) or gateway credential (vlgw_…); check what you send."
    )


class Authenticator:
    """Cached ``authenticate_token`` plus the role and identity-policy lookups of the data plane."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        # DESIGN.md §5 step 5a: unauthenticated and failed-authentication traffic, per source address,
        # throttled before any key lookup (the management API and the data plane share the bucket)
        self.anonymous = Throttle(svc.config.anon_throttle_rate, svc.config.anon_throttle_burst)
        self._gen = -1
        self._lock = threading.Lock()
        self._tokens: dict[str, Caller] = {}
        self._roles: dict[tuple[str, str, str], bool] = {}
        self._policies: dict[str, tuple[Any, ...]] = {}
        self._aws: dict[str, tuple[str, Caller] | None] = {}
        self._seen: dict[tuple[int, str, bool], tuple[Caller, Caller]] = {}

    def _fresh(self) -> None:
        gen = self.svc.generation
        if gen != self._gen:
            with self._lock:
                self._tokens.clear()
                self._roles.clear()
                self._policies.clear()
                self._aws.clear()
                self._seen.clear()
                self._gen = gen

    def seen_from(self, caller: Caller, source_ip: str, secure: bool) -> Caller:
        """``caller`` as it called this time: from ``source_ip``, over TLS or not (the data plane's
        ``aws:SourceIp``/``aws:SecureTransport``); one object per cached caller and address, not a copy per
        request."""
        key = (id(caller), source_ip, secure)
        hit = self._seen.get(key)
        if hit is not None and hit[0] is caller:  # the very object (an id may be reused once it is gone)
            return hit[1]
        seen = replace(caller, source_ip=source_ip, secure_transport=secure)
        with self._lock:
            if len(self._seen) >= MAX_SEEN:
                self._seen.clear()
            self._seen[key] = (caller, seen)
        return seen

    def count_anonymous(self, source_ip: str | None) -> None:
        """Take a token of ``source_ip``'s anonymous bucket; ``RequestLimitExceeded`` when it is empty."""
        if source_ip is not None and not self.anonymous.allow(source_ip, time.monotonic()):
            raise E.RequestLimitExceeded(
                f"too many unauthenticated or failed-authentication requests from {source_ip}; send a valid "
                "credential, and slow down."
            )

    def authenticate(self, token: str | None, source_ip: str | None = None) -> Caller:
        """The caller of ``token``; a request from ``source_ip`` with no credential, a bad one, or while that
        address's anonymous bucket is empty takes from (or is refused by) that bucket first."""
        if not token or (source_ip is not None and self.anonymous.empty(source_ip, time.monotonic())):
            self.count_anonymous(source_ip)
        if not token:
            raise E.Unauthenticated(
                "no credential was sent: send an API key (Authorization: Bearer vlk_…) or the agent's "
                "container credential."
            )
        self._fresh()
        hit = self._tokens.get(token)
        if hit is not None and (not hit.expires or self.svc.clock.now() < hit.expires):
            return hit
        try:
            caller = authenticate_token(self.svc, token)
        except E.VaultlinkError:
            self.count_anonymous(source_ip)
            raise
        if len(self._tokens) > MAX_CACHED:
            self._tokens.clear()
        self._tokens[token] = caller
        return caller

    def aws_key(self, key_id: str) -> tuple[str, Caller] | None:
        """(secret access key, caller) of an active AWS access key, cached until anything changes."""
        self._fresh()
        if key_id not in self._aws:
            if len(self._aws) > MAX_CACHED:
                self._aws.clear()
            self._aws[key_id] = aws_key(self.svc, key_id)
        return self._aws[key_id]

    def role_allows(self, caller: Caller, permission: str, account_id: str, vault_id: str) -> bool:
        self._fresh()
        key = (caller.principal_id, permission, vault_id)
        hit = self._roles.get(key)
        if hit is None:
            with self.svc.store.transaction() as txn:
                hit = allowed(txn, caller, permission, Scope(account_id, "vault", vault_id))
            self._roles[key] = hit
        return hit

    def identity_policies(self, caller: Caller) -> tuple[Any, ...]:
        """The compiled identity policies attached to the principal (none by default)."""
        self._fresh()
        hit = self._policies.get(caller.principal_id)
        if hit is None:
            with self.svc.store.transaction() as txn:
                rec = read_principal(txn, caller.principal_id)
            docs = (rec.get("policies") or []) if rec else []
            hit = tuple(compile_policy(d, "identity") for d in docs)
            self._policies[caller.principal_id] = hit
        return hit
