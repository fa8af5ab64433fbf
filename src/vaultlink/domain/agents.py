"""Which agents may register, and how (pure): the catalog of agent kinds and versions.

A registration carries the agent's kind and version. They are **self-reported**: this is compatibility
gating, the way Azure Backup refuses a DPM older than 2022 or any MABS on a private endpoint, so that an
old product fails at registration with a message saying what to do instead of failing later in obscure
ways. It is not a security boundary (a client can claim anything; what it may do is decided by its
credential, the pipeline and the vault's policies).

- ``mars``: a machine's own agent (``vaultlink agent``); private endpoints from its first version.
- ``workload``: a database agent (``vaultlink agent protect …``); the same.
- ``gateway``: a backup gateway appliance backing up VM images (``vaultlink gateway``); the same.
- ``dpm``: a backup server that protects other machines; its version is a release year; private endpoints
  need DPM 2022 or later (the Azure seed), older ones register through the public endpoint.
- ``mabs``: a backup server product that may not use private endpoints at all (the seed: "not yet
  supported with MABS"): public access only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaultlink.errors import AgentNotSupported, InvalidInput

_SEMVER = re.compile(r"^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(?:[-+.][0-9A-Za-z.+-]{1,40})?$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True, slots=True)
class AgentRule:
    kind: str
    what: str
    version_form: str  # "semver" (MAJOR.MINOR[.PATCH]) or "year"
    minimum: tuple[int, ...]  # the oldest version that may register at all
    private_minimum: tuple[int, ...] | None  # the oldest that may use a private endpoint; None: never
    upgrade: str


CATALOG: dict[str, AgentRule] = {r.kind: r for r in (
    AgentRule("mars", "a machine's own agent (vaultlink agent)", "semver", (0, 1), (0, 1),
              "install the current vaultlink (pip install -U vaultlink)"),
    AgentRule("workload", "a database agent (vaultlink agent protect)", "semver", (0, 1), (0, 1),
              "install the current vaultlink (pip install -U vaultlink)"),
    AgentRule("gateway", "a backup gateway appliance (vaultlink gateway)", "semver", (0, 1), (0, 1),
              "install the current vaultlink (pip install -U vaultlink)"),
    AgentRule("dpm", "a Data Protection Manager backup server (version: its release year)", "year", (2016,),
              (2022,), "upgrade the DPM server to 2022 or later"),
    AgentRule("mabs", "a Microsoft Azure Backup Server", "semver", (3, 0), None,
              "MABS cannot use private endpoints at all: register it through the vault's public endpoint "
              "(public network access Enabled), or protect the machines with the vaultlink agent instead"),
)}


def supported() -> str:
    """The catalog in one line, for messages."""
    def one(r: AgentRule) -> str:
        fmt = ".".join(map(str, r.minimum))
        private = ("no private endpoints" if r.private_minimum is None
                   else f"private endpoints from {'.'.join(map(str, r.private_minimum))}")
        return f"{r.kind} >= {fmt} ({private})"
    return "; ".join(one(r) for r in CATALOG.values())


def parse_version(rule: AgentRule, version: object) -> tuple[int, ...]:
    if not isinstance(version, str) or len(version) > 64:
        raise InvalidInput(f"agent version must be a string; {rule.kind} versions look like "
                           f"{'2022' if rule.version_form == 'year' else '1.2.3'}.", field="agent_version")
    m = (_YEAR if rule.version_form == "year" else _SEMVER).match(version.strip())
    if m is None:
        raise InvalidInput(f"agent version {version!r} is not a {rule.kind} version (like "
                           f"{'2022' if rule.version_form == 'year' else '1.2.3'}).", field="agent_version")
    return tuple(int(g) for g in m.groups() if g is not None)


def check_agent(kind: object, version: object, private: bool) -> tuple[str, str]:
    """(kind, version) if this agent may register through a private (``private``) or the public endpoint;
    ``AgentNotSupported`` saying which can and how to upgrade otherwise."""
    rule = CATALOG.get(kind) if isinstance(kind, str) else None
    if rule is None:  # the kind is echoed bounded: it is whatever the client sent
        raise AgentNotSupported(f"agent kind {repr(kind)[:40]} is unknown; supported: {supported()}.",
                                field="agent_kind")
    got = parse_version(rule, version)
    shown = str(version).strip()
    if got < rule.minimum:
        raise AgentNotSupported(
            f"{rule.kind} {shown} is older than the oldest supported ({'.'.join(map(str, rule.minimum))}): "
            f"{rule.upgrade}. Supported: {supported()}.", field="agent_version")
    if private and rule.private_minimum is None:
        raise AgentNotSupported(f"{rule.kind} ({rule.what}) cannot register through a private endpoint: "
                                f"{rule.upgrade}.", field="agent_kind")
    if private and rule.private_minimum is not None and got < rule.private_minimum:
        raise AgentNotSupported(
            f"{rule.kind} {shown} cannot use private endpoints; {rule.kind} "
            f"{'.'.join(map(str, rule.private_minimum))} and later can: {rule.upgrade}, or register it "
            "through the vault's public endpoint (public network access Enabled).", field="agent_version")
    return rule.kind, shown
