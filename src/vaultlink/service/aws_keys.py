"""AWS access keys (``vaultlink key create --aws``): an id as AWS forms them and a secret that SigV4 needs
back, kept sealed (``service/sealing.py``). They live with the API keys (kind ``api_key``, ``aws``: true), so
listing and revoking them is the same; a vlk_ token never authenticates with one."""

from __future__ import annotations

import secrets

from vaultlink.domain.records import ApiKeyRecord, PrincipalRecord, read_api_key, read_principal
from vaultlink.ports import Txn
from vaultlink.service import sealing
from vaultlink.service.core import Caller, Service

_AWS_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _aws_key_aad(key_id: str) -> bytes:
    return f"api_key/{key_id}".encode()


def key_record(svc: Service, principal: PrincipalRecord, key_id: str, description: str,
               secret_hash: str) -> ApiKeyRecord:
    """A new active key of ``principal`` (an API key, or with the AWS fields added, an AWS access key)."""
    return {"id": key_id, "account_id": principal["account_id"], "parent_id": principal["id"], "name": None,
            "principal": principal["arn"], "description": description, "secret_hash": secret_hash,
            "status": "Active", "created": svc.clock.now()}


def new_aws_key(txn: Txn, svc: Service, principal: PrincipalRecord, description: str) -> tuple[ApiKeyRecord, str]:
    """An AWS access key (``AKIA`` and 16 base32 characters, as AWS forms them) and its 40-character secret,
    kept sealed (``service/sealing.py``): SigV4 needs the secret itself to recompute a signature."""
    key_id = "AKIA" + "".join(secrets.choice(_AWS_ID_CHARS) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    rec = key_record(svc, principal, key_id, description, "")  # no hash: never a vlk_ token, it only signs
    rec["aws"] = True
    rec["secret_sealed"] = sealing.seal(svc.sealing_key, secret.encode(), _aws_key_aad(key_id))
    txn.insert("api_key", key_id, rec)
    return rec, secret


def aws_key(svc: Service, key_id: str) -> tuple[str, Caller] | None:
    """(secret access key, caller) of an active AWS access key; None for an unknown, revoked or orphaned one."""
    with svc.store.transaction() as txn:
        rec = read_api_key(txn, key_id)
        if rec is None or not rec.get("aws") or rec["status"] != "Active":
            return None
        principal = read_principal(txn, rec["parent_id"])
    if principal is None:
        return None
    secret = sealing.unseal(svc.sealing_key, str(rec.get("secret_sealed", "")), _aws_key_aad(key_id)).decode()
    caller = Caller(principal["id"], principal["account_id"], principal["arn"], principal["name"],
                    kind="api_key", credential_id=rec["id"])
    return secret, caller
