"""The checks of the request pipeline (DESIGN.md §5): functions over (network view, request facts), in
one ordered tuple, :data:`CHECKS`.

Each check reads the :class:`Facts` of the request (addresses, Host, method, path, headers), the
:class:`~vaultlink.fabric.view.NetworkView` and what earlier checks found (the :class:`Decision`),
and either records what it learned there or raises the refusal's stable error. The parts that hold
state (credential lookup, the throttle buckets, policy decisions, route tables) are behind the small
:class:`Gates` protocol, so the checks, and their order, are unit-tested in-process with a table
(``tests/unit/fabric/test_checks.py``). The fabric (``pipeline.py``) runs them and audits the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from vaultlink import errors as E
from vaultlink.fabric.actions import ANONYMOUS_ACTIONS, GATEWAY_ACTIONS
from vaultlink.fabric.credentials import CREDENTIAL_HEADERS, credential_of
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView, VnetView
from vaultlink.prefixes import parse_address
from vaultlink.service.core import Caller

SERVICE_PORT = 443  # the logical port security-group rules are checked against (HTTPS)
# every header a check reads (the credential, and the container a container credential acts for): the
# admission cache (``admission.py``) keys on them, so a check that reads another must be listed here
CONTAINER_HEADER = b"x-vaultlink-container"
HEADERS_READ = frozenset({*CREDENTIAL_HEADERS, CONTAINER_HEADER})
_STATUS_ERRORS = {
    "Pending": E.EndpointConnectionPending,
    "Rejected": E.EndpointConnectionRejected,
    "Disconnected": E.EndpointConnectionDisconnected,
}


class Facts(NamedTuple):
    """The request as it arrived: nothing here is believed, only checked. (Immutable: a tuple, made once per
    request in a fraction of a frozen dataclass's time.)"""

    method: str
    path: str
    headers: Sequence[tuple[bytes, bytes]]
    local_ip: str
    source_ip: str
    host: str
    now: float  # a monotonic clock reading, for the throttle
    domain: str = ""  # the routing domain the request arrived in (netns mode: the vnet's namespace)
    secure: bool = False  # it arrived over TLS
    port: int = SERVICE_PORT  # the port the security group is checked for (a backup-gateway endpoint's others)


@dataclass(slots=True)
class Decision:
    """What the checks found so far; the handler receives the finished one (as a ``DataContext``)."""

    ep: EndpointView | None  # the endpoint the request arrived on (its local address); None: the public one
    target: Target | None  # what the Host names
    vnet: VnetView | None = None
    vault: VaultView | None = None
    app: Any = None
    action: str = ""
    resource: str = "*"
    params: dict[str, str] = field(default_factory=dict)
    routed: bool = False
    caller: Caller | None = None
    region: str = ""
    check_resource: Callable[[str, str], None] | None = None

    def audit(self) -> dict[str, Any]:
        """The fields this decision adds to the request's audit event."""
        out: dict[str, Any] = {"vnet": self.vnet.id if self.vnet else None}
        if self.vault is not None:
            out["vault"] = self.vault.id
        if self.action:
            out["action"] = self.action
        if self.routed:
            out["resource"] = out["target"] = self.resource
        if self.caller is not None:
            out["principal"] = self.caller.arn
            out["account_id"] = self.caller.account_id
            if self.caller.container_id:
                out["container"] = self.caller.container_id
        return out


class Gates(Protocol):
    """The parts of the pipeline that hold state."""

    throttle_rate: float

    def route(self, target: Target, method: str, path: str) -> tuple[Any, str, dict[str, str]]:
        """(app, catalog action or "" when no route matches, path parameters)."""
        ...

    def count_anonymous(self, source_ip: str) -> None: ...

    def authenticate(self, token: str | None, source_ip: str, secure: bool) -> Caller:
        """The caller of ``token`` as it calls now: ``source_ip`` and ``secure_transport`` set."""
        ...

    def allow(self, key: str, now: float) -> bool: ...

    def partition(self, region: str) -> str: ...

    def endpoint_policy(
        self, ep: EndpointView, caller: Caller, action: str, resource: str, source_ip: str, region: str
    ) -> None: ...

    def authorize(
        self, caller: Caller, vault: VaultView | None, action: str, resource: str, ep: EndpointView | None,
        source_ip: str, region: str,
    ) -> None: ...


Check = Callable[[NetworkView, Facts, Decision, Gates], None]


# 1. the endpoint (from the local address, found before the checks) and the source network; and what is
#    asked (vault, action, resource), so that every refusal below is audited with it
def locate(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    d.vnet = view.classify(f.source_ip, f.domain)
    t = d.target
    if t is None:
        return
    if t.vault_id is not None:
        d.vault = view.vaults.get(t.vault_id)
        if d.vault is None:
            return
    d.app, d.action, d.params = g.route(t, f.method, f.path)
    if t.service == "regional" and f.path.startswith("/v1/vaults/"):
        d.params = {**d.params, "_kind": "vault"}
    d.resource = d.vault.arn if d.vault is not None else "*"
    d.routed = True
    d.region = d.vault.region if d.vault else (t.region or "")


# 2. reachability: a private endpoint answers its own vnet and vnets peered with it
def reachability(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    ep = d.ep
    if ep is not None and not view.reachable(ep, d.vnet):
        where = f"vnet {d.vnet.id}" if d.vnet else "no virtual network (the internet)"
        raise E.EndpointUnreachable(
            f"private endpoint {ep.id} ({f.local_ip}) lives in vnet {ep.vnet_id}; your address {f.source_ip} is "
            f"in {where}. Call it from that vnet or peer yours with it (`vaultlink vnet peer`)."
        )


# 3. the endpoint's security group
def security_group(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    ep = d.ep
    if ep is None:
        return
    addr = parse_address(f.source_ip)  # the same reading of the address as the source network's (step 1)
    if addr is None or not any(r.allows("tcp", f.port, addr) for r in ep.sg_rules):
        raise E.SecurityGroupDenied(
            f"the security group of endpoint {ep.id} has no inbound rule allowing TCP {f.port} from "
            f"{f.source_ip}; add one: `vaultlink endpoint sg add-rule {ep.id} --protocol tcp --ports "
            f"{f.port} --source {f.source_ip}/32` (or `--source VirtualNetwork` for the endpoint's vnet "
            "and every vnet peered with it)."
        )


# 4. the connection's status: only Approved carries traffic
def connection_status(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    ep = d.ep
    if ep is not None and ep.kind == "resource" and ep.status != "Approved":
        raise _STATUS_ERRORS.get(ep.status, E.EndpointConnectionPending)()


# what the paired region's names serve (cross-region restore): registering a restore-only machine, reading
# replicated recovery points and their data, and the machine's own restore jobs and work items
SECONDARY_ACTIONS = frozenset({
    "backup:RegisterContainer", "backup:DescribeContainer", "backup:QueryChunkIndex", "backup:GetBackupData",
    "backup:ListRecoveryPointsByBackupVault", "backup:DescribeRecoveryPoint", "backup:StartRestoreJob",
    "backup:StopBackupJob", "backup:ReceiveWorkItems", "backup:DeleteWorkItem",
})


# 5. the target: the name must exist, a resource endpoint serves only its own vault, the operation exists
def target(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    t, ep = d.target, d.ep
    if t is None:
        raise E.UnknownServiceName(
            f"{f.host or '(no Host header)'!r} is not a name this service answers for; resolve the vault's "
            "backup-service, blob or queue name through DNS and send it as the Host."
        )
    if t.vault_id is not None and d.vault is None:
        raise E.UnknownServiceName(f"no vault answers for {f.host!r}; it may have been deleted.")
    if ep is not None and ep.kind == "resource":
        if t.service == "regional" or t.vault_id != ep.vault_id:
            raise E.EndpointTargetMismatch(
                f"private endpoint {ep.id} serves vault {ep.vault_id}, not {f.host!r}; resolve {f.host!r} through "
                "DNS to reach the endpoint that serves it."
            )
    elif ep is not None and not (
        t.service == "regional"
        and t.region == ep.region
        and (t.regional_service or "backup") == (ep.service or "backup")
        and t.endpoint_id in (None, ep.id)
    ):
        raise E.EndpointTargetMismatch(f"service endpoint {ep.id} serves {ep.service} in {ep.region}, not {f.host!r}.")
    elif ep is not None and d.action and d.action.split(":", 1)[0] != (ep.service or "backup"):
        raise E.EndpointTargetMismatch(
            f"service endpoint {ep.id} serves the {ep.service or 'backup'} API; {d.action} is "
            f"{d.action.split(':', 1)[0]}'s: call it through a {d.action.split(':', 1)[0]} endpoint or the public one.")
    if t.secondary and d.action and d.action not in SECONDARY_ACTIONS:
        raise E.SecondaryReadOnly(
            f"{f.host!r} is the vault's copy in its paired region: it serves restores only ({d.action} is not one); "
            "back up through the vault's primary-region names.")
    if not d.action:
        if t.service == "regional":
            raise E.NotFound(
                f"{f.method} {f.path} is not an operation of the backup service; a service endpoint serves the "
                "backup API only: call it on the public endpoint."
            )
        raise E.NotFound(f"no {t.service} operation {f.method} {f.path}.")


# 5a + 6. exactly one credential; anonymous and failed-authentication traffic takes from the source
# address's bucket before any key lookup; the caller checked is the one the handler gets
def authentication(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    try:
        token = credential_of(f.headers)
    except E.VaultlinkError:
        g.count_anonymous(f.source_ip)
        raise
    if token is None and d.action in ANONYMOUS_ACTIONS:  # an appliance activating: its address's bucket pays
        g.count_anonymous(f.source_ip)
        d.caller = anonymous_caller(f.source_ip)
        return
    d.caller = g.authenticate(token, f.source_ip, f.secure)


def anonymous_caller(source_ip: str | None) -> Caller:
    """Who sends no credential to an anonymous action: nobody, throttled by address."""
    return Caller("anonymous", "", "anonymous", "anonymous", source_ip=source_ip, kind="anonymous",
                  credential_id=f"anonymous:{source_ip}")


# 6 (continued). what each kind of credential may ever do
def credential_kind(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    caller, vault, t = d.caller, d.vault, d.target
    assert caller is not None and t is not None
    if caller.kind == "gateway" or d.action in GATEWAY_ACTIONS:
        if caller.kind != "gateway" or d.action not in GATEWAY_ACTIONS:
            raise E.AccessDenied("a gateway credential (vlgw_…) only sends its appliance's heartbeat, and the "
                                 "heartbeat takes nothing else.")
        return
    if caller.kind == "anonymous":
        return  # set by `authentication` for an anonymous action only
    if caller.kind == "api_key":
        return
    if t.service == "regional" or vault is None or caller.vault_id != vault.id:
        raise E.AccessDenied(
            "an agent credential acts only on the data plane of its own vault"
            + (f", not {vault.name}" if vault is not None else "") + "."
        )
    if caller.kind == "registration":
        if d.action != "backup:RegisterContainer":
            raise E.AccessDenied(
                f"a vault registration secret may only register a container, not {d.action}; use the container "
                "credential that `vaultlink agent register` saved."
            )
        return
    for k, v in f.headers:
        if k == CONTAINER_HEADER and v.decode("latin-1") != caller.container_id:
            raise E.AccessDenied("a container credential acts only on its own container's data.")
    if caller.reregistration_required and d.action != "backup:RegisterContainer":
        raise E.ContainerReregistrationRequired()


# 7. throttling: one bucket per credential (each machine's container credential its own)
def throttling(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    assert d.caller is not None
    take_token(g, d.caller, f.now)


def take_token(g: Gates, caller: Caller, now: float) -> None:
    """Step 7 for ``caller``: also run for a request the admission cache lets skip the other steps."""
    if not g.allow(f"{caller.kind}:{caller.credential_id or caller.arn}", now):
        raise E.RequestLimitExceeded(
            f"more than {g.throttle_rate:g} requests/second with this credential of {caller.arn}; slow down "
            "and retry after a short wait."
        )


# 8. public network access
def public_network_access(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    vault = d.vault
    if d.ep is None and vault is not None and vault.public_network_access == "Disabled":
        raise E.PublicNetworkAccessDisabled(
            f"vault {vault.name} denies public network access and this request came from "
            f"{'the internet' if d.vnet is None else 'vnet ' + d.vnet.id} through the public endpoint; send it "
            "through one of the vault's private endpoints (resolve the vault's name from inside its vnet)."
        )


# (before 9) the real resource ARN a regional call acts on, from its path: what the policies are asked about
def regional_resource(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    if d.target is None or d.target.service != "regional" or d.caller is None:
        return
    region, account, params = d.region, d.caller.account_id, d.params
    part = g.partition(region)
    ref = params.get("vault") or params.get("ref")
    if ref is not None and params.get("_kind") == "vault":
        v = view.vaults.get(ref) or view.vaults_by_arn.get(ref) or view.vaults_by_name.get((account, ref))
        d.resource = v.arn if v is not None else f"arn:{part}:backup:{region or '*'}:{account}:backup-vault:{ref}"
    elif params.get("rp_id"):
        d.resource = f"arn:{part}:backup:{region or '*'}:{account}:recovery-point:{params['rp_id']}"
    else:
        d.resource = "*"


# 9. the endpoint policy (a regional handler asks it again for each resource it touches: check_resource)
def endpoint_policy(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    ep, caller = d.ep, d.caller
    if ep is None or ep.policy is None or caller is None:
        return
    g.endpoint_policy(ep, caller, d.action, d.resource, f.source_ip, d.region)
    if d.target is not None and d.target.service == "regional":
        def check_resource(act: str, arn: str, _ep: EndpointView = ep, _c: Caller = caller) -> None:
            g.endpoint_policy(_ep, _c, act, arn, f.source_ip, d.region)

        d.check_resource = check_resource


# 10. identity authorization (the management app checks roles itself for the regional service)
def authorization(view: NetworkView, f: Facts, d: Decision, g: Gates) -> None:
    assert d.caller is not None and d.target is not None
    if d.target.service != "regional":
        g.authorize(d.caller, d.vault, d.action, d.resource, d.ep, f.source_ip, d.region)


CHECKS: tuple[Check, ...] = (
    locate,  # 1
    reachability,  # 2
    security_group,  # 3
    connection_status,  # 4
    target,  # 5
    authentication,  # 5a, 6
    credential_kind,  # 6
    throttling,  # 7
    public_network_access,  # 8
    regional_resource,  # (the ARN for 9 and 10)
    endpoint_policy,  # 9
    authorization,  # 10
)


def run_checks(view: NetworkView, facts: Facts, decision: Decision, gates: Gates) -> Decision:
    """Run every check in order; the first refusal raises (``decision`` keeps what was found until then)."""
    for check in CHECKS:
        check(view, facts, decision, gates)
    return decision
