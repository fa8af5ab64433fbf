"""Accounts, principals, roles and what each role may do (pure)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from vaultlink.errors import InvalidInput, InvalidName

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")

ROLES = ("Owner", "Contributor", "Backup Operator", "Reader", "Network Contributor")

# Permissions are "<area>.<verb>". Roles grant sets of them; scopes narrow where.
READ = {
    "account.read",
    "principal.read",
    "role.read",
    "vault.read",
    "network.read",
    "dns.read",
    "audit.read",
    "backup.read",
    "region.read",
}
_ROLE_PERMS: dict[str, set[str]] = {
    "Owner": {"*"},
    "Contributor": READ
    | {
        "vault.write",
        "vault.delete",
        "connection.approve",
        "network.write",
        "dns.write",
        "backup.operate",
        "policy.write",
    },
    "Backup Operator": READ | {"backup.operate"},
    "Reader": set(READ),
    "Network Contributor": READ | {"network.write", "dns.write", "policy.write"},
}


def role_allows(role: str, permission: str) -> bool:
    perms = _ROLE_PERMS.get(role, set())
    return "*" in perms or permission in perms


def check_name(value: object, field: str = "name", what: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidName(
            f"{what} {value!r} is not valid: use 1-63 characters, lower-case letters, digits and hyphens, "
            "starting with a letter (e.g. 'prod-vault').",
            field=field,
        )
    return value


def check_role(value: object) -> str:
    if value not in ROLES:
        raise InvalidInput(f"unknown role {value!r}; choose one of: {', '.join(ROLES)}.", field="role")
    return str(value)


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def new_id(prefix: str, nbytes: int = 6) -> str:
    return f"{prefix}{secrets.token_hex(nbytes)}"


@dataclass(frozen=True)
class Scope:
    """Where a role assignment applies: a whole account, or one vault or vnet in it."""

    account_id: str
    kind: str = "account"  # account | vault | vnet | dns_zone
    resource_id: str | None = None

    def __str__(self) -> str:
        if self.kind == "account":
            return f"/accounts/{self.account_id}"
        return f"/accounts/{self.account_id}/{self.kind}s/{self.resource_id}"

    def covers(self, other: Scope) -> bool:
        if self.account_id != other.account_id:
            return False
        if self.kind == "account":
            return True
        return self.kind == other.kind and self.resource_id == other.resource_id

    @staticmethod
    def parse(text: str) -> Scope:
        parts = [p for p in text.strip().split("/") if p]
        if len(parts) == 2 and parts[0] == "accounts" and ACCOUNT_RE.match(parts[1]):
            return Scope(parts[1])
        if (
            len(parts) == 4
            and parts[0] == "accounts"
            and ACCOUNT_RE.match(parts[1])
            and parts[2] in ("vaults", "vnets", "dns_zones")
            and parts[3]
        ):
            return Scope(parts[1], parts[2][:-1], parts[3])
        raise InvalidInput(
            f"scope {text!r} is not valid; use /accounts/<id>, /accounts/<id>/vaults/<vault-id>, "
            "/accounts/<id>/vnets/<vnet-id> or /accounts/<id>/dns_zones/<zone-id>.",
            field="scope",
        )


def principal_arn(partition: str, account_id: str, kind: str, name: str) -> str:
    path = "user" if kind == "user" else "role"
    return f"arn:{partition}:iam::{account_id}:{path}/{name}"


def arn_resource(ref: str, resource_type: str) -> tuple[str, str] | None:
    """``(account, resource id)`` of an ARN ``arn:PART:SERVICE:REGION:ACCOUNT:TYPE/ID`` of ``resource_type``
    (``vpc``, ``vpc-endpoint``); None when ``ref`` is not such an ARN."""
    parts = ref.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    rtype, sep, rid = parts[5].partition("/")
    if not sep or rtype != resource_type or not rid:
        return None
    return parts[4], rid
