"""The naming scheme of DESIGN.md §4 (pure): build names and parse them back.

With ``D`` the service domain (default ``vaultlink.internal``), region ``R`` and geo code ``G``:

=============================  ===============================  ==============================================
service                        public name                      privatelink name (zone)
=============================  ===============================  ==============================================
vault backup service           ``<vault-id>.<G>.backup.D``      ``<vault-id>.privatelink.<G>.backup.D``
                                                                (``privatelink.<G>.backup.D``)
blob                           ``<account>.blob.D``             ``<account>.privatelink.blob.D``
                                                                (``privatelink.blob.D``)
queue                          ``<account>.queue.D``            ``<account>.privatelink.queue.D``
                                                                (``privatelink.queue.D``)
regional service endpoint      ``backup.<R>.D``,                endpoint-specific
                               ``backup-gateway.<R>.D``         ``<endpoint-id>.backup.<R>.vpce.D``
=============================  ===============================  ==============================================

Every name is returned lower-case, without a trailing dot. Builders raise
:class:`vaultlink.errors.InvalidName` for labels that are not DNS labels or that
are reserved words of the scheme (which would make names ambiguous).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from vaultlink.errors import InvalidName

DEFAULT_DOMAIN = "vaultlink.internal"
DEFAULT_SERVICE_PREFIX = "com.vaultlink"

ServiceKind = Literal["backup", "backup-gateway"]
StorageKind = Literal["blob", "queue"]
SERVICES: tuple[ServiceKind, ...] = ("backup", "backup-gateway")
STORAGE_KINDS: tuple[StorageKind, ...] = ("blob", "queue")

#: labels that carry meaning in the scheme; a geo code or region may not be one of them
RESERVED_LABELS = frozenset({"backup", "backup-gateway", "blob", "queue", "privatelink", "vpce"})

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")

NameKind = Literal[
    "vault",
    "vault-privatelink",
    "blob",
    "blob-privatelink",
    "queue",
    "queue-privatelink",
    "regional-service",
    "endpoint-service",
]


def normalize(name: str) -> str:
    """Lower-case, strip one trailing dot."""
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def is_valid_label(label: str) -> bool:
    return bool(_LABEL.match(label)) and not label.startswith("-")


@functools.lru_cache(maxsize=65536)  # every view rebuild checks every name again: most are known
def is_valid_name(name: str) -> bool:
    """A fully qualified name: 1..127 labels, each a valid label, at most 253 characters."""
    name = normalize(name)
    if not name or len(name) > 253:
        return False
    return all(is_valid_label(label) for label in name.split("."))


def check_name(name: str, what: str = "name") -> str:
    """Normalize ``name`` or raise InvalidName saying what is wrong."""
    norm = normalize(name)
    if not is_valid_name(norm):
        raise InvalidName(
            f"{what} {name!r} is not a valid DNS name: use labels of 1-63 letters, digits and hyphens "
            "separated by dots (at most 253 characters), e.g. 'privatelink.blob.vaultlink.internal'",
            field=what,
        )
    return norm


def _label(value: str, what: str, *, reserved_ok: bool = True) -> str:
    label = value.strip().lower()
    if not is_valid_label(label):
        raise InvalidName(
            f"{what} {value!r} is not a DNS label: use 1-63 letters, digits and hyphens, "
            "not starting or ending with a hyphen",
            field=what,
        )
    if not reserved_ok and label in RESERVED_LABELS:
        raise InvalidName(
            f"{what} {value!r} is a reserved word of the naming scheme "
            f"({', '.join(sorted(RESERVED_LABELS))})",
            field=what,
        )
    return label


def _domain(domain: str) -> str:
    return check_name(domain, "domain")


def is_subdomain(name: str, parent: str) -> bool:
    """True when ``name`` equals ``parent`` or lies below it (both normalized)."""
    return name == parent or name.endswith("." + parent)


# --- vault backup service ----------------------------------------------------
def vault_public_name(vault_id: str, geo: str, domain: str = DEFAULT_DOMAIN) -> str:
    geo = _label(geo, "geo code", reserved_ok=False)
    return f"{_label(vault_id, 'vault id')}.{geo}.backup.{_domain(domain)}"


def vault_privatelink_zone(geo: str, domain: str = DEFAULT_DOMAIN) -> str:
    return f"privatelink.{_label(geo, 'geo code', reserved_ok=False)}.backup.{_domain(domain)}"


def vault_privatelink_name(vault_id: str, geo: str, domain: str = DEFAULT_DOMAIN) -> str:
    return f"{_label(vault_id, 'vault id')}.{vault_privatelink_zone(geo, domain)}"


# --- storage (blob, queue) ---------------------------------------------------
def _kind(kind: str) -> StorageKind:
    if kind == "blob":
        return "blob"
    if kind == "queue":
        return "queue"
    raise InvalidName(f"storage kind {kind!r} is not one of blob, queue", field="kind")


SECONDARY_SUFFIX = "-secondary"


def secondary_account(account: str) -> str:
    """The name of a storage account's copy in the vault's paired region (Azure's ``-secondary`` names)."""
    return account + SECONDARY_SUFFIX


def storage_public_name(account: str, kind: StorageKind, domain: str = DEFAULT_DOMAIN) -> str:
    return f"{_label(account, 'storage account')}.{_kind(kind)}.{_domain(domain)}"


def storage_privatelink_zone(kind: StorageKind, domain: str = DEFAULT_DOMAIN) -> str:
    return f"privatelink.{_kind(kind)}.{_domain(domain)}"


def storage_privatelink_name(account: str, kind: StorageKind, domain: str = DEFAULT_DOMAIN) -> str:
    return f"{_label(account, 'storage account')}.{storage_privatelink_zone(kind, domain)}"


def blob_public_name(account: str, domain: str = DEFAULT_DOMAIN) -> str:
    return storage_public_name(account, "blob", domain)


def blob_privatelink_zone(domain: str = DEFAULT_DOMAIN) -> str:
    return storage_privatelink_zone("blob", domain)


def blob_privatelink_name(account: str, domain: str = DEFAULT_DOMAIN) -> str:
    return storage_privatelink_name(account, "blob", domain)


def queue_public_name(account: str, domain: str = DEFAULT_DOMAIN) -> str:
    return storage_public_name(account, "queue", domain)


def queue_privatelink_zone(domain: str = DEFAULT_DOMAIN) -> str:
    return storage_privatelink_zone("queue", domain)


def queue_privatelink_name(account: str, domain: str = DEFAULT_DOMAIN) -> str:
    return storage_privatelink_name(account, "queue", domain)


# --- regional service endpoints ------------------------------------------------
def _service(service: str) -> ServiceKind:
    if service == "backup":
        return "backup"
    if service == "backup-gateway":
        return "backup-gateway"
    raise InvalidName(f"service {service!r} is not one of backup, backup-gateway", field="service")


def regional_service_name(service: ServiceKind, region: str, domain: str = DEFAULT_DOMAIN) -> str:
    """``backup.<R>.D`` or ``backup-gateway.<R>.D``."""
    return f"{_service(service)}.{_label(region, 'region', reserved_ok=False)}.{_domain(domain)}"


def endpoint_service_name(
    endpoint_id: str, service: ServiceKind, region: str, domain: str = DEFAULT_DOMAIN
) -> str:
    """The endpoint-specific name ``<endpoint-id>.<service>.<R>.vpce.D``."""
    return (
        f"{_label(endpoint_id, 'endpoint id')}.{_service(service)}."
        f"{_label(region, 'region', reserved_ok=False)}.vpce.{_domain(domain)}"
    )


def service_name(service: ServiceKind, region: str, prefix: str = DEFAULT_SERVICE_PREFIX) -> str:
    """The endpoint service name ``<prefix>.<R>.<service>`` (e.g. ``com.vaultlink.local-1.backup``)."""
    region = _label(region, "region", reserved_ok=False)
    return f"{check_name(prefix, 'service prefix')}.{region}.{_service(service)}"


def parse_service_name(name: str) -> tuple[str, str, ServiceKind]:
    """``<prefix>.<R>.<service>`` → (prefix, region, service); InvalidName when it is not one."""
    norm = check_name(name, "service name")
    labels = norm.split(".")
    if len(labels) < 3 or labels[-1] not in SERVICES or labels[-2] in RESERVED_LABELS:
        raise InvalidName(
            f"service name {name!r} is not '<prefix>.<region>.backup' or '<prefix>.<region>.backup-gateway'",
            field="service name",
        )
    return ".".join(labels[:-2]), labels[-2], _service(labels[-1])


# --- parse --------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedName:
    """What a name of the scheme means. Unused fields are None."""

    kind: NameKind
    domain: str
    vault_id: str | None = None
    geo: str | None = None
    account: str | None = None
    region: str | None = None
    service: ServiceKind | None = None
    endpoint_id: str | None = None

    @property
    def is_privatelink(self) -> bool:
        return self.kind.endswith("-privatelink") or self.kind == "endpoint-service"


def parse_name(name: str, domain: str = DEFAULT_DOMAIN) -> ParsedName | None:
    """Parse a name of the scheme back; None when it is not one (or not under ``domain``)."""
    norm = normalize(name)
    dom = _domain(domain)
    if not is_valid_name(norm) or not norm.endswith("." + dom):
        return None
    labels = norm[: -len(dom) - 1].split(".")
    n = len(labels)
    if n == 2 and labels[1] in STORAGE_KINDS and labels[0] not in RESERVED_LABELS:
        kind: NameKind = "blob" if labels[1] == "blob" else "queue"
        return ParsedName(kind, dom, account=labels[0])
    if n == 3 and labels[1:] in (["privatelink", "blob"], ["privatelink", "queue"]):
        kind = "blob-privatelink" if labels[2] == "blob" else "queue-privatelink"
        return ParsedName(kind, dom, account=labels[0])
    if n == 2 and labels[0] in SERVICES and labels[1] not in RESERVED_LABELS:
        return ParsedName("regional-service", dom, region=labels[1], service=_service(labels[0]))
    if n == 3 and labels[2] == "backup" and labels[1] not in RESERVED_LABELS:
        return ParsedName("vault", dom, vault_id=labels[0], geo=labels[1])
    if n == 4 and labels[1] == "privatelink" and labels[3] == "backup" and labels[2] not in RESERVED_LABELS:
        return ParsedName("vault-privatelink", dom, vault_id=labels[0], geo=labels[2])
    if n == 4 and labels[3] == "vpce" and labels[1] in SERVICES and labels[2] not in RESERVED_LABELS:
        return ParsedName(
            "endpoint-service", dom, endpoint_id=labels[0], region=labels[2], service=_service(labels[1])
        )
    return None


def privatelink_name_for(public_name: str, domain: str = DEFAULT_DOMAIN) -> str | None:
    """The privatelink name a public vault/blob/queue name CNAMEs to; None for other names."""
    parsed = parse_name(public_name, domain)
    if parsed is None:
        return None
    if parsed.kind == "vault" and parsed.vault_id and parsed.geo:
        return vault_privatelink_name(parsed.vault_id, parsed.geo, domain)
    if parsed.kind in ("blob", "queue") and parsed.account:
        return storage_privatelink_name(parsed.account, _kind(parsed.kind), domain)
    return None


def zone_of(privatelink_name: str, domain: str = DEFAULT_DOMAIN) -> str | None:
    """The privatelink zone that holds a privatelink name; None for other names."""
    parsed = parse_name(privatelink_name, domain)
    if parsed is None:
        return None
    if parsed.kind == "vault-privatelink" and parsed.geo:
        return vault_privatelink_zone(parsed.geo, domain)
    if parsed.kind in ("blob-privatelink", "queue-privatelink"):
        return storage_privatelink_zone("blob" if parsed.kind == "blob-privatelink" else "queue", domain)
    return None


def public_name_map(
    vaults: Iterable[tuple[str, str]] = (), accounts: Iterable[str] = (), domain: str = DEFAULT_DOMAIN
) -> dict[str, str]:
    """Every public name → its privatelink CNAME target, for ``DnsView.create(public_names=...)``.

    ``vaults`` are (vault id, geo code) pairs; each storage account gets its blob and queue names.
    """
    out: dict[str, str] = {}
    for vault_id, geo in vaults:
        out[vault_public_name(vault_id, geo, domain)] = vault_privatelink_name(vault_id, geo, domain)
    for account in accounts:
        for kind in STORAGE_KINDS:
            out[storage_public_name(account, kind, domain)] = storage_privatelink_name(account, kind, domain)
    return out
