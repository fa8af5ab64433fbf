"""Agent credentials: vault registration secrets (in vault credentials files) and container credentials.

- A **registration secret** ``vlr_<id>_<secret>`` is created by ``vaultlink vault credentials``; it
  expires, is good for one vault, and acts for the principal who created it. Only
  ``backup:RegisterContainer`` accepts it.
- A **container credential** ``vlc_<container-id>_<secret>`` is issued at registration (and replaced at
  every re-registration or rotation, once the new one is first used); it acts for the container's owner on its
  own vault only.

Only SHA-256 hashes of the secrets are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from vaultlink.domain import rotation as R
from vaultlink.domain.records import ContainerRecord, VaultRecord, read_container
from vaultlink.errors import CredentialsExpired, InvalidApiKey, InvalidInput
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.events import KeysChanged
from vaultlink.service.vaults import find_vault, vault_scope

REGISTRATION_PREFIX = "vlr"
CONTAINER_PREFIX = "vlc"
DEFAULT_VALID_HOURS = 240.0  # ten days, like Azure's vault credentials files
MAX_VALID_HOURS = 24.0 * 30


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str, prefix: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def new_secret() -> tuple[str, str]:
    """``(secret, sha256 hex)``."""
    s = secrets.token_urlsafe(32)
    return s, _hash(s)


def secret_matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, _hash(secret))


SCOPES = ("backup-restore", "backup", "restore")


def check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}.", field="scope")
    return str(scope)


def create_registration_secret(
    svc: Service, caller: Caller, vault_ref: str, valid_hours: float = DEFAULT_VALID_HOURS,
    scope: str = "backup-restore",
) -> tuple[VaultRecord, str, dict[str, Any]]:
    """``(vault record, token, secret record)``; needs ``backup.operate`` on the vault. ``scope``: what a
    machine registered with it may do (``backup-restore``, ``backup`` only, ``restore`` only)."""
    scope = check_scope(scope)
    if not 0 < valid_hours <= MAX_VALID_HOURS:
        raise InvalidInput(
            f"valid_hours must be between 0 and {MAX_VALID_HOURS:g} (30 days).", field="valid_hours"
        )
    with svc.store.transaction() as txn:
        vault = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "backup.operate", vault_scope(vault))
        rid = "R" + secrets.token_hex(8).upper()
        secret, digest = new_secret()
        now = svc.clock.now()
        rec = {
            "id": rid,
            "account_id": vault["account_id"],
            "parent_id": vault["id"],
            "name": None,
            "vault_id": vault["id"],
            "principal_id": caller.principal_id,
            "principal": caller.arn,
            "secret_hash": digest,
            "created": now,
            "expires": now + valid_hours * 3600.0,
            "scope": scope,
        }
        txn.insert("registration_secret", rid, rec)
        return vault, f"{REGISTRATION_PREFIX}_{rid}_{secret}", rec


def _principal(txn: Any, principal_id: str) -> dict[str, Any]:
    p = txn.get("principal", principal_id)
    if p is None:
        raise InvalidApiKey(
            "the principal that issued this agent's vault credentials was deleted; download new vault "
            "credentials (`vaultlink vault credentials`) and register again."
        )
    return dict(p)


def check_registration(svc: Service, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(registration secret record, principal)`` for a valid ``vlr_`` token; None for other tokens."""
    parts = split_token(token, REGISTRATION_PREFIX)
    if parts is None:
        return None
    with svc.store.transaction() as txn:
        rec = txn.get("registration_secret", parts[0])
        if rec is None or not secret_matches(rec["secret_hash"], parts[1]):
            raise InvalidApiKey(
                "the registration secret in this vault credentials file is not valid; download a new file "
                "with `vaultlink vault credentials VAULT -o FILE`."
            )
        if svc.clock.now() > float(rec["expires"]):
            raise CredentialsExpired()
        return rec, _principal(txn, rec["principal_id"])


def credential_match(rec: ContainerRecord, secret: str) -> str | None:
    """Which of the machine's credentials ``secret`` is: ``secret_hash`` (current), ``rotation.NEXT`` (issued by a
    re-registration or a rotation, not used yet: the current one works until it is), ``rotation.RETIRED`` (the one
    the last rotation replaced), or None (``domain/rotation.py``)."""
    return R.which(rec, _hash(secret), "secret_hash")


def authenticate_container(svc: Service, token: str) -> tuple[ContainerRecord, dict[str, Any], float] | None:
    """``(container record, owner principal record, when it stops working or 0.0)`` for a valid ``vlc_`` token;
    None for other tokens.

    A re-registration (or ``vaultlink agent rotate-credential``) issues the next credential without ending the
    current one, so an agent that dies before it saved the new one still holds a working credential; the first
    request with the new one makes it current and ends the old one (a copy of it stops working then).

    Raises ``InvalidApiKey`` for a ``vlc_`` token that is unknown or was replaced (a replaced one still works for
    ``rotation.GRACE`` seconds: requests already on their way). Does NOT raise for ``reregistration_required`` (the
    record carries the flag; the pipeline and the handlers refuse every action but ``backup:RegisterContainer``).
    """
    parts = split_token(token, CONTAINER_PREFIX)
    if parts is None:
        return None
    now = svc.clock.now()
    with svc.store.transaction() as txn:
        rec = read_container(txn, parts[0])
        found = credential_match(rec, parts[1]) if rec is not None else None
        if rec is None or found is None:
            raise InvalidApiKey(
                "this agent's container credential is not valid (the container was deleted, registered again "
                "from another state directory, or its credential was replaced twice since this one); run "
                "`vaultlink agent register` again."
            )
        ends = R.works_until(rec, found, now)
        if ends is None:
            raise InvalidApiKey(
                f"this container credential of {rec['id']} was replaced by a newer one "
                f"({_when(rec.get('rotated') or 0.0)}, `vaultlink agent rotate-credential` or a "
                "re-registration), which the machine's agent saved in its state directory: restart an agent that "
                "still runs with the old one. If none does, a copy of this credential is in use elsewhere; it "
                "works no more."
            )
        if found == R.NEXT:
            R.promote(rec, "secret_hash", now)
            txn.update("container", rec["id"], rec)
        principal = _principal(txn, rec["owner_id"])
    if found == R.NEXT:
        svc.fire(KeysChanged())  # every server's credential cache forgets the replaced one (nothing else follows)
    return rec, principal, ends


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
