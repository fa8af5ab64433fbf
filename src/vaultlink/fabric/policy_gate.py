"""Steps 9 and 10 of the request pipeline (DESIGN.md §5): the endpoint policy and identity authorization.

``PolicyGate`` evaluates an endpoint's policy (with ``aws:SourceVpce``, ``aws:SourceVpc`` and
``aws:VpcSourceIp`` set, as AWS does; decisions of policies that read no clock are cached per view)
and a caller's roles, identity policies and the vault's access policy by IAM's rules. A refusal says
which layer refused, by which statement (Sid), for which action on which resource ARN.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from vaultlink import errors as E
from vaultlink.fabric.actions import is_read
from vaultlink.fabric.view import EndpointView, NetworkView, VaultView
from vaultlink.policy import compile_policy, evaluate, evaluate_one
from vaultlink.policy.context import EndpointInfo, build_request
from vaultlink.service.authn import Authenticator
from vaultlink.service.core import Caller


class PolicyGate:
    def __init__(self, auth: Authenticator, fabric_view: Callable[[], NetworkView]) -> None:
        self.auth = auth
        self.fabric_view = fabric_view
        self._cache: tuple[NetworkView | None, dict[tuple[str, ...], Any]] = (None, {})
        self._clocked: dict[int, tuple[Any, bool]] = {}  # id(compiled policy) -> (it, reads the clock)

    def reads_clock(self, policy: Any) -> bool:
        """Does ``policy`` use a time key or a Date operator (so its decision can change without edits)?"""
        hit = self._clocked.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit[1]
        if len(self._clocked) > 10_000:
            self._clocked.clear()
        answer = _reads_clock(policy)
        self._clocked[id(policy)] = (policy, answer)
        return answer

    def pure(self, ep: EndpointView | None, caller: Caller, vault: VaultView | None) -> bool:
        """Would steps 9 and 10 decide ``caller``'s requests the same way until the view or the service's
        generation changes? Not when a policy they read reads the clock (``admission.py``)."""
        if ep is not None and ep.policy is not None and self.reads_clock(ep.policy):
            return False
        if vault is None:  # step 10 reads no policy
            return True
        if vault.access_policy is not None and self.reads_clock(vault.access_policy):
            return False
        return not any(self.reads_clock(p) for p in self.auth.identity_policies(caller))

    def request(
        self, caller: Caller, action: str, resource: str, source_ip: str, region: str, ep: EndpointView | None
    ) -> Any:
        return build_request(
            principal_arn=caller.arn,
            principal_account=caller.account_id,
            action=action,
            resource=resource,
            source_ip=source_ip,
            now=datetime.now(UTC),
            requested_region=region,
            secure_transport=caller.secure_transport,
            endpoint=EndpointInfo(ep.id, ep.vnet_id) if ep is not None else None,
        )

    def endpoint_policy(
        self, ep: EndpointView, caller: Caller, action: str, resource: str, source_ip: str, region: str
    ) -> None:
        # Decisions of a policy that reads no clock are a pure function of who/what/where: cache them
        # (per view generation, so a policy change is seen at once).
        key = (ep.id, caller.arn, caller.account_id, action, resource, source_ip, region,
               "tls" if caller.secure_transport else "")
        view, cache = self._cache
        if view is not self.fabric_view():
            view, cache = self._cache = (self.fabric_view(), {})
        decision = cache.get(key)
        if decision is None:
            req = self.request(caller, action, resource, source_ip, region, ep)
            decision = evaluate_one(req, ep.policy)
            if not self.reads_clock(ep.policy):
                if len(cache) > 50_000:
                    cache.clear()
                cache[key] = decision
        if not decision.allowed:
            raise E.EndpointPolicyDenied(
                f"{action} on {resource} for {caller.arn} was denied by the endpoint policy of "
                f"{ep.id}: {describe_denial(decision)}; change it with `vaultlink endpoint policy set {ep.id} FILE`.",
                matched=decision.matched,
                layer="endpoint_policy",
                resource=resource,
            )

    def authorize(
        self,
        caller: Caller,
        vault: VaultView | None,
        action: str,
        resource: str,
        ep: EndpointView | None,
        source_ip: str,
        region: str,
    ) -> None:
        if vault is None:
            return
        if caller.kind != "api_key":  # an agent credential, bound to this vault (checked at step 6)
            role_ok = True
        else:
            permission = "backup.read" if is_read(action) else "backup.operate"
            role_ok = self.auth.role_allows(caller, permission, vault.account_id, vault.id)
        policies = self.auth.identity_policies(caller)
        if not policies and vault.access_policy is None:
            if not role_ok:
                raise E.AccessDenied(
                    f"{action} on {resource} for {caller.arn} was denied by role assignments: no role "
                    f"allows it on vault {vault.name}; ask its Owner for Backup Operator (`vaultlink role assign`).",
                    layer="role",
                )
            return
        req = self.request(caller, action, resource, source_ip, region, ep)
        ids = list(policies) + ([_ALLOW_ALL()] if role_ok else [])
        decision = evaluate(
            req,
            identity_policies=ids,
            resource_policy=vault.access_policy,
            resource_account=vault.account_id if not role_ok else caller.account_id,
        )
        if not decision.allowed:
            layer = _LAYER_KEYS.get(str(decision.matched[0].get("policy"))) if decision.matched else None
            raise E.AccessDenied(
                f"{action} on {resource} for {caller.arn} was denied: {describe_denial(decision)}"
                + ("" if role_ok else " (and no role of the principal allows it on this vault)") + ".",
                matched=decision.matched,
                layer=layer or ("role" if not role_ok else "identity_policy"),
            )


_LAYER_NAMES = {"endpoint": "the endpoint policy", "identity": "an identity policy of the principal",
                "resource": "the vault access policy"}
_LAYER_KEYS = {"endpoint": "endpoint_policy", "identity": "identity_policy", "resource": "vault_access_policy"}


def describe_denial(decision: Any) -> str:
    """Which layer refused and by which statement (Sid), in words."""
    if decision.decision == "explicit_deny" and decision.matched:
        parts = []
        for m in decision.matched[:3]:
            sid = f"Sid {m['sid']!r}" if m.get("sid") else f"statement #{int(m.get('statement', 0)) + 1}"
            parts.append(f"{sid} of {_LAYER_NAMES.get(str(m.get('policy')), 'a policy')}")
        return "an explicit Deny in " + ", ".join(parts)
    return f"implicit deny ({decision.reason})"


_CLOCK_KEYS = ("aws:currenttime", "aws:epochtime", "aws:tokenissuetime", "date")


def _reads_clock(policy: Any) -> bool:
    """Does the policy use a time key or a Date operator (so its decision can change without edits)?"""
    text = json.dumps(getattr(policy, "document", None) or {}).lower()
    return any(k in text for k in _CLOCK_KEYS)


_ALLOW_ALL_CACHE: list[Any] = []


def _ALLOW_ALL() -> Any:
    if not _ALLOW_ALL_CACHE:
        _ALLOW_ALL_CACHE.append(
            compile_policy({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "identity")
        )
    return _ALLOW_ALL_CACHE[0]
