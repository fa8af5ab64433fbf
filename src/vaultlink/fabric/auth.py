"""Authentication and role lookups for the data plane, cached until anything changes.

The caches are keyed by the service's change generation (``svc.generation``):
revoking a key, changing a role or removing an endpoint bumps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vaultlink import errors as E
from vaultlink.domain.identity import Scope
from vaultlink.fabric.contract import DATA_AUTHENTICATORS, DataIdentity
from vaultlink.fabric.view import VaultView
from vaultlink.service.core import Caller, Service, allowed
from vaultlink.service.identity import authenticate


@dataclass(frozen=True, slots=True)
class Identity:
    principal_arn: str
    principal_id: str
    account_id: str
    vault_id: str | None = None  # agent credentials are bound to one vault
    container_id: str | None = None
    kind: str = "api_key"  # api_key | container | registration
    reregistration_required: bool = False


class Authenticator:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self._gen = -1
        self._tokens: dict[str, Identity] = {}
        self._roles: dict[tuple[str, str, str], bool] = {}
        self._policies: dict[str, tuple[Any, ...]] = {}

    def _fresh(self) -> None:
        gen = self.svc.generation
        if gen != self._gen:
            self._tokens.clear()
            self._roles.clear()
            self._policies.clear()
            self._gen = gen

    def authenticate(self, token: str | None) -> Identity:
        if not token:
            raise E.Unauthenticated(
                "no credential was sent: send an API key (Authorization: Bearer vlk_…) or the agent's "
                "container credential."
            )
        self._fresh()
        hit = self._tokens.get(token)
        if hit is not None:
            return hit
        ident = self._authenticate_uncached(token)
        if len(self._tokens) > 50_000:
            self._tokens.clear()
        self._tokens[token] = ident
        return ident

    def _authenticate_uncached(self, token: str) -> Identity:
        for fn in DATA_AUTHENTICATORS:
            di = fn(self.svc, token)  # type: ignore[operator]
            if isinstance(di, DataIdentity):
                return Identity(
                    di.principal_arn,
                    di.principal_id,
                    di.account_id,
                    di.vault_id,
                    di.container_id,
                    di.kind,
                    di.reregistration_required,
                )
        caller = authenticate(self.svc, token)
        return Identity(caller.arn, caller.principal_id, caller.account_id)

    def role_allows(self, ident: Identity, permission: str, vault: VaultView) -> bool:
        self._fresh()
        key = (ident.principal_id, permission, vault.id)
        hit = self._roles.get(key)
        if hit is None:
            caller = Caller(ident.principal_id, ident.account_id, ident.principal_arn, "")
            with self.svc.store.transaction() as txn:
                hit = allowed(txn, caller, permission, Scope(vault.account_id, "vault", vault.id))
            self._roles[key] = hit
        return hit

    def identity_policies(self, ident: Identity) -> tuple[Any, ...]:
        """The compiled identity policies attached to the principal (none by default)."""
        self._fresh()
        hit = self._policies.get(ident.principal_id)
        if hit is None:
            with self.svc.store.transaction() as txn:
                rec = txn.get("principal", ident.principal_id) or {}
            docs = rec.get("policies") or []
            if docs:
                from vaultlink.policy import compile_policy

                hit = tuple(compile_policy(d, "identity") for d in docs)
            else:
                hit = ()
            self._policies[ident.principal_id] = hit
        return hit
