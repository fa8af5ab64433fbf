"""The backup gateway's records and rules (pure): activation keys, gateways, hypervisors, virtual machines.

An on-premises appliance (``vaultlink gateway`` on the appliance machine) activates through a
``backup-gateway`` endpoint: it asks for an **activation key**, which the operator gives to
``CreateGateway`` (boto3's ``backup-gateway`` client, or ``vaultlink gateway create``); the appliance
then claims its **gateway credential** (``vlgw_…``) with the claim secret only it holds, and keeps a
heartbeat with it. A **hypervisor** is a directory of VM disk images (raw or qcow2) on the appliance's
machine, imported by the operator and associated with a gateway; the appliance reports the images it
finds there as **virtual machines**.

ARNs as AWS forms them: ``arn:<partition>:backup-gateway:<region>:<account>:gateway/bgw-…``,
``…:hypervisor/hype-…``, ``…:vm/vm-…``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from typing import Any

from vaultlink.errors import InvalidInput, InvalidName

SERVICE = "backup-gateway"
GATEWAY_TYPES = ("BACKUP_VM",)
ACTIVATION_TTL = 30 * 60.0  # an activation key not given to CreateGateway within this expires
CLAIM_TTL = 24 * 3600.0  # a created gateway whose appliance never claimed it: the key expires too
MAX_PENDING = 1000  # pending activations in all (anonymous: each takes from its address's bucket too)
MAX_PENDING_PER_SOURCE = 20
HEARTBEAT_SECONDS = 60.0  # the appliance's beat; a gateway silent for 3 beats is OFFLINE
MAX_VMS = 5000  # virtual machines an appliance may report per heartbeat
IMAGE_FORMATS = ("raw", "qcow2")
CREDENTIAL_PREFIX = "vlgw"
ROTATE_SECONDS = 86400.0  # a heartbeat gives the appliance a new credential when its current one is a day old

_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: typed by hand
_KEY = re.compile(r"^[A-Z2-9]{5}(-[A-Z2-9]{5}){4}$")
_NAME = re.compile(r"^[a-zA-Z0-9-]{1,100}$")
_VM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_activation_key() -> str:
    """``ABCDE-FGHJK-…``: five groups of five, about 125 bits."""
    raw = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(25))
    return "-".join(raw[i:i + 5] for i in range(0, 25, 5))


def check_activation_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.match(key.strip().upper()):
        raise InvalidInput("an activation key is five groups of five letters and digits (ABCDE-FGHJK-…), as "
                           "`vaultlink gateway activate` prints it on the appliance.", field="ActivationKey")
    return key.strip().upper()


def claim_hash(secret: str) -> str:
    """What the service keeps of the appliance's claim secret (the secret never leaves the appliance
    except in the one claim request)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_of(gateway_id: str, token: str) -> str:
    return f"{CREDENTIAL_PREFIX}_{gateway_id}.{token}"


def next_credential(gw: dict[str, Any], now: float) -> str | None:
    """A new credential when the current one is ``ROTATE_SECONDS`` old (its hash stored as the next one, which
    the appliance's first use of it makes current: ``domain/rotation.py``), else None."""
    if now - float(gw.get("rotated") or gw.get("claimed") or now) < ROTATE_SECONDS:
        return None
    token = secrets.token_urlsafe(32)
    gw["next_hash"] = claim_hash(token)
    return credential_of(gw["id"], token)


def check_claim_secret(secret: object) -> str:
    if not isinstance(secret, str) or not 32 <= len(secret) <= 128 or not secret.isascii():
        raise InvalidInput("the claim secret is 32-128 ASCII characters.", field="claim_secret")
    return secret


def check_display_name(name: object, field: str = "GatewayDisplayName") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidName(f"name {name!r} is not valid: 1-100 letters, digits and hyphens.", field=field)
    return name


def check_gateway_type(value: object) -> str:
    if value not in GATEWAY_TYPES:
        raise InvalidInput(f"gateway type {value!r} is not supported; use BACKUP_VM.", field="GatewayType")
    return str(value)


def check_host(host: object) -> str:
    """A hypervisor's host: the directory of VM images on the appliance (``/srv/vms`` or
    ``file:///srv/vms``), as an absolute, normalized path."""
    if not isinstance(host, str) or not 3 <= len(host) <= 128:
        raise InvalidInput("a hypervisor host is an absolute directory of the appliance (3-128 characters).",
                           field="Host")
    path = host[len("file://"):] if host.startswith("file://") else host
    if not path.startswith("/") or "\x00" in path:
        raise InvalidInput(f"hypervisor host {host!r} is not an absolute directory: vaultlink's hypervisor is a "
                           "directory of raw or qcow2 disk images on the appliance (e.g. /srv/vms or "
                           "file:///srv/vms).", field="Host")
    return os.path.normpath(path)


def check_maintenance(hour: object, minute: object, day_of_week: object, day_of_month: object) -> dict[str, int]:
    """A weekly (``DayOfWeek`` 0-6, Sunday 0) or monthly (``DayOfMonth`` 1-31) start time; daily when neither."""
    def num(v: object, lo: int, hi: int, field: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise InvalidInput(f"{field} must be an integer {lo}-{hi}.", field=field)
        return v

    out = {"HourOfDay": num(hour, 0, 23, "HourOfDay"), "MinuteOfHour": num(minute, 0, 59, "MinuteOfHour")}
    if day_of_week is not None and day_of_month is not None:
        raise InvalidInput("give DayOfWeek or DayOfMonth, not both.", field="DayOfWeek")
    if day_of_week is not None:
        out["DayOfWeek"] = num(day_of_week, 0, 6, "DayOfWeek")
    if day_of_month is not None:
        out["DayOfMonth"] = num(day_of_month, 1, 31, "DayOfMonth")
    return out


def vm_id(hypervisor_id: str, name: str) -> str:
    """A virtual machine's id: stable for the same image name under the same hypervisor."""
    return "vm-" + hashlib.sha256(f"{hypervisor_id}/{name}".encode()).hexdigest()[:16]


def check_inventory(raw: object) -> list[dict[str, Any]]:
    """The VMs an appliance reports: ``[{"hypervisor": id, "name", "format", "size", "last_backup"?}]``."""
    if not isinstance(raw, list) or len(raw) > MAX_VMS:
        raise InvalidInput(f"the inventory is a list of at most {MAX_VMS} virtual machines.", field="vms")
    out: list[dict[str, Any]] = []
    for vm in raw:
        if not isinstance(vm, dict):
            raise InvalidInput("each virtual machine is an object.", field="vms")
        name, hyp, fmt, size = vm.get("name"), vm.get("hypervisor"), vm.get("format"), vm.get("size")
        last = vm.get("last_backup")
        if not isinstance(name, str) or not _VM_NAME.match(name):
            raise InvalidInput(f"virtual machine name {str(name)[:40]!r} is not valid.", field="vms.name")
        if not isinstance(hyp, str) or not hyp.startswith("hype-") or len(hyp) > 40:
            raise InvalidInput("each virtual machine names its hypervisor's id.", field="vms.hypervisor")
        if fmt not in IMAGE_FORMATS:
            raise InvalidInput(f"image format {str(fmt)[:20]!r} is not raw or qcow2.", field="vms.format")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 1 << 50:
            raise InvalidInput("a virtual machine's size is a byte count.", field="vms.size")
        if last is not None and (isinstance(last, bool) or not isinstance(last, int | float)):
            raise InvalidInput("last_backup is a time (seconds since the epoch).", field="vms.last_backup")
        out.append({"hypervisor": hyp, "name": name, "format": fmt, "size": size,
                    "last_backup": float(last) if last is not None else None})
    return out


def gateway_state(last_seen: float | None, now: float) -> str:
    """ONLINE while heartbeats arrive; OFFLINE after three missed beats; PENDING before the first one."""
    if last_seen is None:
        return "PENDING"
    return "ONLINE" if now - last_seen <= 3 * HEARTBEAT_SECONDS else "OFFLINE"


def arn(partition: str, region: str, account: str, kind: str, rid: str) -> str:
    return f"arn:{partition}:{SERVICE}:{region}:{account}:{kind}/{rid}"


def id_of_arn(value: object, kind: str) -> str:
    """The id in a gateway, hypervisor or vm ARN (or the bare id)."""
    if not isinstance(value, str) or len(value) > 500:
        raise InvalidInput(f"not a {kind} ARN.", field=f"{kind}_arn")
    tail = value.rsplit(f":{kind}/", 1)[-1] if value.startswith("arn:") else value
    prefix = {"gateway": "bgw-", "hypervisor": "hype-", "vm": "vm-"}[kind]
    if not tail.startswith(prefix) or not re.match(r"^[a-zA-Z0-9-]{4,60}$", tail):
        raise InvalidInput(f"{value[:80]!r} is not a {kind} ARN (…:{kind}/{prefix}…).", field=f"{kind}_arn")
    return tail
