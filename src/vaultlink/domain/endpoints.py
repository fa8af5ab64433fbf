"""Private-endpoint rules (pure): validation, names served, security groups, policies (connections:
``domain/connections.py``).

Two kinds of endpoint (DESIGN.md §1):

- a **resource endpoint** targets one vault with a group id: ``AzureBackup`` (region ==
  vault region; only on a vault without protection history unless it already has
  AzureBackup endpoints) or ``AzureBackup_secondary`` (region == the vault's paired
  region, cross-region restore enabled, at most 12 per vault);
- a **service endpoint** targets a regional service (``backup`` / ``backup-gateway``)
  by service name ``<prefix>.<R>.<service>``.

Validation collects every problem (:class:`Problem`) so that "review + create" can
show them all at once; :func:`raise_problems` makes them one error (the first problem's
code, ``details.problems`` listing all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vaultlink.domain.identity import NAME_RE
from vaultlink.domain.networks import free_count
from vaultlink.domain.records import EndpointRecord, VaultRecord, VnetRecord
from vaultlink.domain.regions import Region
from vaultlink.domain.security_groups import MAX_RULES, gateway_message, missing_gateway_ports, parse_rule
from vaultlink.domain.vaults import has_protection_history
from vaultlink.errors import (
    AlreadyExists,
    CrossRegionRestoreDisabled,
    GatewayPortsRequired,
    InvalidInput,
    InvalidName,
    InvalidSecurityRule,
    MissingField,
    NotFound,
    PrivateDnsConflict,
    RegionMismatch,
    SecondaryEndpointLimit,
    ServiceNotAvailableInRegion,
    SubnetFull,
    UnknownGroupId,
    UnknownRegion,
    UnknownService,
    VaultHasProtectionHistory,
    VaultlinkError,
)
from vaultlink.policy import compile_policy

PRIMARY = "AzureBackup"
SECONDARY = "AzureBackup_secondary"
GROUP_IDS = (PRIMARY, SECONDARY)
SERVICES = ("backup", "backup-gateway")
MAX_SECONDARY = 12
DEFAULT_POLICY: dict[str, Any] = {"Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}


# --- problems ------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    error: type[VaultlinkError]
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.error.code} ({self.field}): {self.message}"


def raise_problems(problems: list[Problem]) -> None:
    """Raise one error for ``problems`` (the first one's class), listing all; no-op when empty."""
    if not problems:
        return
    first = problems[0]
    msg = first.message
    if len(problems) > 1:
        msg = f"{len(problems)} problems; fix them all and retry. First: {first.message}"
    raise first.error(
        msg,
        field=first.field,
        problems=[str(p) for p in problems],
        problem_codes=[p.error.code for p in problems],
        problem_fields=[p.field for p in problems],
    )


# --- group ids, services -----------------------------------------------------------
def normalize_group_id(value: object) -> str | None:
    """``AzureBackup`` or ``AzureBackup_secondary`` (any case of the suffix); None if unknown."""
    if not isinstance(value, str):
        return None
    for g in GROUP_IDS:
        if value.lower() == g.lower():
            return g
    return None


def check_tags(tags: Any) -> list[Problem]:
    if tags is None:
        return []
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        return [Problem(InvalidInput, "tags", "tags must map string keys to string values (--tag KEY=VALUE).")]
    if len(tags) > 50:
        return [Problem(InvalidInput, "tags", "at most 50 tags.")]
    if any(not k or len(k) > 128 or len(v) > 256 for k, v in tags.items()):
        return [Problem(InvalidInput, "tags", "tag keys are 1-128 characters, values at most 256.")]
    return []


def check_endpoint_name(name: object) -> list[Problem]:
    if not isinstance(name, str) or not NAME_RE.match(name):
        return [
            Problem(
                InvalidName,
                "name",
                f"endpoint name {name!r} is not valid: use 1-63 lower-case letters, digits and hyphens, "
                "starting with a letter (e.g. 'pe-backup').",
            )
        ]
    return []


# --- resource endpoint validation ---------------------------------------------------
@dataclass
class ResourceRequest:
    """What the creation wizard collects (basics, resource, virtual network, DNS, tags)."""

    name: Any
    region: Any
    vault_ref: Any
    group_id: Any
    vnet_ref: Any
    subnet: Any
    dns_integration: bool = True
    tags: Any = None
    rules: Any = None


@dataclass
class ResourceContext:
    """What the store knows, gathered by the service layer (None: not found)."""

    region: Region | None
    vault: VaultRecord | None
    vault_paired: str | None
    vault_endpoints: list[EndpointRecord]
    vnet: VnetRecord | None
    name_taken: bool
    storage_accounts: list[str] = field(default_factory=list)
    allocated: Mapping[str, int] = field(default_factory=dict)  # addresses taken, by subnet name


def validate_resource(req: ResourceRequest, ctx: ResourceContext) -> list[Problem]:
    """Every problem with a resource endpoint request, in a fixed order."""
    p: list[Problem] = []
    p += check_endpoint_name(req.name)
    if ctx.name_taken:
        p.append(Problem(AlreadyExists, "name", f"an endpoint named {req.name!r} already exists; pick another."))
    if ctx.region is None:
        p.append(Problem(UnknownRegion, "region", f"unknown region {req.region!r}; see `vaultlink region list`."))
    group = normalize_group_id(req.group_id)
    if group is None:
        p.append(
            Problem(
                UnknownGroupId,
                "group_id",
                f"unknown target sub-resource {req.group_id!r}; use AzureBackup or AzureBackup_secondary.",
            )
        )
    vault = ctx.vault
    if req.vault_ref is None:
        p.append(Problem(MissingField, "vault", "give the vault the endpoint connects to (--vault NAME)."))
    elif vault is None:
        p.append(Problem(NotFound, "vault", f"vault {req.vault_ref!r} does not exist; `vaultlink vault list`."))
    if vault is not None and group is not None and ctx.region is not None:
        p += _vault_rules(group, ctx.region.name, vault, ctx)
    p += _vnet_rules(req, ctx, needed=1 + 2 * len(ctx.storage_accounts))
    p += check_tags(req.tags)
    return p


def _vault_rules(group: str, region: str, vault: VaultRecord, ctx: ResourceContext) -> list[Problem]:
    p: list[Problem] = []
    mine = [e for e in ctx.vault_endpoints if e.get("group_id") == group]
    if group == PRIMARY:
        if region != vault["region"]:
            p.append(
                Problem(
                    RegionMismatch,
                    "region",
                    f"an AzureBackup endpoint must be in the vault's region {vault['region']}, not {region}.",
                )
            )
        # A vault that ever had a private endpoint may have one recreated (the seed: "vaults that already
        # had private endpoints"); only a vault protected before it ever had one needs a new vault.
        if _has_history(vault) and not mine and not vault.get("had_private_endpoint"):
            p.append(
                Problem(
                    VaultHasProtectionHistory,
                    "vault",
                    f"vault {vault['name']} has protection history (containers registered or items protected) "
                    "and never had an AzureBackup endpoint; create a new vault for private endpoints.",
                )
            )
    else:
        if ctx.vault_paired is None or region != ctx.vault_paired:
            p.append(
                Problem(
                    RegionMismatch,
                    "region",
                    f"an AzureBackup_secondary endpoint must be in the vault's paired region "
                    f"{ctx.vault_paired or '(none)'}, not {region}.",
                )
            )
        if vault.get("cross_region_restore") != "Enabled":
            p.append(
                Problem(
                    CrossRegionRestoreDisabled,
                    "vault",
                    f"vault {vault['name']} has cross-region restore disabled; enable it with "
                    f"`vaultlink vault update {vault['name']} --cross-region-restore Enabled`.",
                )
            )
        if len(mine) >= MAX_SECONDARY:
            p.append(
                Problem(
                    SecondaryEndpointLimit,
                    "group_id",
                    f"vault {vault['name']} already has {len(mine)} AzureBackup_secondary endpoints, the "
                    f"maximum is {MAX_SECONDARY}; delete one first.",
                )
            )
    return p


def _has_history(vault: VaultRecord) -> bool:
    return has_protection_history(vault)


def _vnet_rules(req: Any, ctx: Any, needed: int) -> list[Problem]:
    vnet = ctx.vnet
    if vnet is None:
        return [Problem(NotFound, "vnet", f"virtual network {req.vnet_ref!r} does not exist; `vaultlink vnet list`.")]
    p: list[Problem] = []
    if ctx.region is not None and vnet["region"] != ctx.region.name:
        p.append(
            Problem(
                RegionMismatch,
                "vnet",
                f"virtual network {vnet['name']} is in {vnet['region']}; the endpoint and its vnet must be in "
                f"the same region ({ctx.region.name}).",
            )
        )
    sub = next((s for s in vnet["subnets"] if s["name"] == req.subnet), None)
    if sub is None:
        have = ", ".join(s["name"] for s in vnet["subnets"]) or "none; add one with `vaultlink vnet subnet add`"
        p.append(Problem(NotFound, "subnet", f"subnet {req.subnet!r} is not in {vnet['name']} (subnets: {have})."))
    elif (free := free_count(sub, ctx.allocated.get(sub["name"], 0))) < needed:
        p.append(
            Problem(
                SubnetFull,
                "subnet",
                f"subnet {sub['name']} has {free} free address(es); this endpoint needs {needed}. "
                "Use another subnet or delete unused endpoints.",
            )
        )
    p += rule_problems(req.rules)
    return p


# --- service endpoints ---------------------------------------------------------------
@dataclass
class ServiceRequest:
    name: Any
    region: Any
    service: Any
    vnet_ref: Any
    subnet: Any
    private_dns: bool = True
    tags: Any = None
    rules: Any = None


@dataclass
class ServiceContext:
    region: Region | None
    vnet: VnetRecord | None
    name_taken: bool
    private_dns_taken: bool = False
    allocated: Mapping[str, int] = field(default_factory=dict)  # addresses taken, by subnet name


def validate_service(req: ServiceRequest, ctx: ServiceContext) -> list[Problem]:
    p: list[Problem] = []
    p += check_endpoint_name(req.name)
    if ctx.name_taken:
        p.append(Problem(AlreadyExists, "name", f"an endpoint named {req.name!r} already exists; pick another."))
    if ctx.region is None:
        p.append(Problem(UnknownRegion, "region", f"unknown region {req.region!r}; see `vaultlink region list`."))
    if req.service not in SERVICES:
        p.append(Problem(UnknownService, "service", f"unknown service {req.service!r}; use backup or backup-gateway."))
    elif ctx.region is not None and not ctx.region.offers(req.service):
        p.append(
            Problem(
                ServiceNotAvailableInRegion,
                "service",
                f"{req.service} has no endpoints in {ctx.region.name}; pick a region that offers it "
                "(`vaultlink region list`).",
            )
        )
    p += _vnet_rules(req, ctx, needed=1)
    if req.service == "backup-gateway" and req.rules is not None and not rule_problems(req.rules):
        missing = missing_gateway_ports([parse_rule(r) for r in req.rules])
        if missing:
            p.append(Problem(GatewayPortsRequired, "rules", gateway_message(missing)))
    if ctx.private_dns_taken and req.private_dns:
        p.append(
            Problem(
                PrivateDnsConflict,
                "private_dns",
                f"another {req.service} endpoint in this vnet already has private DNS enabled; "
                "use --no-private-dns or disable it there.",
            )
        )
    p += check_tags(req.tags)
    return p





# --- connections -----------------------------------------------------------------------


def rule_problems(rules: Any) -> list[Problem]:
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [Problem(InvalidSecurityRule, "rules", "rules must be a list.")]
    if len(rules) > MAX_RULES:
        return [Problem(InvalidSecurityRule, "rules", f"at most {MAX_RULES} rules.")]
    out = []
    for r in rules:
        try:
            parse_rule(r)
        except InvalidSecurityRule as exc:
            out.append(Problem(InvalidSecurityRule, "rules", exc.message))
    return out


def check_policy(doc: Any) -> dict[str, Any]:
    """Validate an endpoint policy with the policy engine; returns the document to store."""
    return dict(compile_policy(doc, "endpoint").document)
