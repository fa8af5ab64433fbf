"""Evaluate a request against compiled policies with AWS IAM's combination rules.

1. An explicit Deny in any policy wins (``explicit_deny``).
2. A request through an endpoint (``endpoint_policy`` given) must also be
   allowed by the endpoint policy.
3. Same account: an Allow from an identity policy *or* the resource policy suffices.
4. Cross-account (the resource's account differs from the principal's): the
   identity side *and* the resource policy must both allow.
5. Otherwise ``implicit_deny``.

Pure: no I/O. Nothing is parsed here: policies come compiled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vaultlink.policy.document import CompiledPolicy
from vaultlink.policy.statement import CompiledStatement

ContextValue = str | list[str]

ALLOW = "allow"
EXPLICIT_DENY = "explicit_deny"
IMPLICIT_DENY = "implicit_deny"


def _norm_value(v: object) -> str | tuple[str, ...] | None:
    if v.__class__ is str:
        return v  # type: ignore[return-value,unused-ignore]
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple | set | frozenset):
        out: list[str] = []
        for x in v:
            n = _norm_value(x)
            if isinstance(n, str):
                out.append(n)
        return tuple(out)
    return str(v)


def normalize_context(context: Mapping[str, object]) -> dict[str, str | tuple[str, ...]]:
    """Lower-case keys (condition keys are case-insensitive); str or tuple-of-str values."""
    out: dict[str, str | tuple[str, ...]] = {}
    for k, v in context.items():
        n = _norm_value(v)
        if n is not None:
            out[k.lower()] = n
    return out


@dataclass(slots=True)
class Request:
    """Who asks to do what on which resource, and the request context keys."""

    principal_arn: str
    principal_account: str
    action: str
    resource: str
    context: Mapping[str, object] = field(default_factory=dict)
    ctx: dict[str, str | tuple[str, ...]] = field(init=False, repr=False, compare=False)
    action_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ctx = normalize_context(self.context)
        if self.principal_arn and "aws:principalarn" not in ctx:
            ctx["aws:principalarn"] = self.principal_arn
        if self.principal_account and "aws:principalaccount" not in ctx:
            ctx["aws:principalaccount"] = self.principal_account
        self.ctx = ctx
        self.action_key = self.action.lower()


@dataclass(frozen=True, slots=True)
class Decision:
    """``decision`` is allow, explicit_deny or implicit_deny; ``matched`` names the deciding statements."""

    decision: str
    matched: list[dict[str, Any]]
    reason: str

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "matched": self.matched, "reason": self.reason}


def _scan(
    policy: CompiledPolicy, req: Request
) -> tuple[list[CompiledStatement] | None, CompiledStatement | None]:
    """(matching Deny statements or None, first matching Allow statement or None)."""
    denies, allows = policy.candidates(req.action_key)
    arn, acct, res, ctx = req.principal_arn, req.principal_account, req.resource, req.ctx
    hit: list[CompiledStatement] | None = None
    for st in denies:
        if st.applies(arn, acct, res, ctx):
            if hit is None:
                hit = [st]
            else:
                hit.append(st)
    if hit is not None:
        return hit, None
    for st in allows:
        if st.applies(arn, acct, res, ctx):
            return None, st
    return None, None


def _direct_allow(policy: CompiledPolicy, req: Request) -> CompiledStatement | None:
    """The first Allow statement that applies and names the principal itself (not only its account)."""
    _denies, allows = policy.candidates(req.action_key)
    arn, acct = req.principal_arn, req.principal_account
    for st in allows:
        if st.applies(arn, acct, req.resource, req.ctx) and (st.direct is None or st.direct(arn, acct)):
            return st
    return None


def _label(st: CompiledStatement, policy_index: int | None) -> dict[str, Any]:
    d = dict(st.label)
    if policy_index is not None:
        d["policy_index"] = policy_index
    return d


def resource_account_of(resource: str) -> str | None:
    """The account segment of an ARN, or None."""
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[4]:
        return parts[4]
    return None


def evaluate(
    request: Request,
    *,
    endpoint_policy: CompiledPolicy | None = None,
    identity_policies: Sequence[CompiledPolicy] = (),
    resource_policy: CompiledPolicy | None = None,
    resource_account: str | None = None,
) -> Decision:
    """Decide ``request``; see the module docstring for the rules."""
    denied: list[dict[str, Any]] = []
    ep_allow: CompiledStatement | None = None
    if endpoint_policy is not None:
        d, ep_allow = _scan(endpoint_policy, request)
        if d:
            denied.extend(_label(s, None) for s in d)
    id_allows: list[dict[str, Any]] = []
    for i, pol in enumerate(identity_policies):
        d, a = _scan(pol, request)
        if d:
            denied.extend(_label(s, i) for s in d)
        elif a is not None and not id_allows:
            id_allows.append(_label(a, i))
    rp_allow: CompiledStatement | None = None
    if resource_policy is not None:
        d, rp_allow = _scan(resource_policy, request)
        if d:
            denied.extend(_label(s, None) for s in d)
    if denied:
        return Decision(EXPLICIT_DENY, denied, "an explicit Deny matched")

    if endpoint_policy is not None and ep_allow is None:
        return Decision(IMPLICIT_DENY, [], "the endpoint policy does not allow this request")
    acct = resource_account if resource_account is not None else resource_account_of(request.resource)
    cross = bool(acct) and acct != request.principal_account
    matched: list[dict[str, Any]] = [_label(ep_allow, None)] if ep_allow is not None else []
    if cross:
        if not id_allows:
            return Decision(IMPLICIT_DENY, [], "cross-account: no identity policy allows this request")
        if rp_allow is None:
            return Decision(
                IMPLICIT_DENY, [], "cross-account: the resource policy does not allow this request"
            )
        matched.extend(id_allows)
        matched.append(_label(rp_allow, None))
        return Decision(ALLOW, matched, "allowed by the identity and resource policies (cross-account)")
    if not id_allows and rp_allow is None:
        return Decision(IMPLICIT_DENY, [], "no identity or resource policy allows this request")
    if not id_allows and rp_allow is not None and resource_policy is not None:
        # Same account: a resource policy grants on its own only to a principal it names itself; naming
        # the account (its root ARN or bare id) delegates to the account's identity policies.
        rp_allow = _direct_allow(resource_policy, request)
        if rp_allow is None:
            return Decision(
                IMPLICIT_DENY, [],
                "the resource policy allows the principal's account, which delegates to identity policies, "
                "and no identity policy allows this request",
            )
    matched.extend(id_allows)
    if rp_allow is not None:
        matched.append(_label(rp_allow, None))
    return Decision(ALLOW, matched, "allowed")


def evaluate_one(request: Request, policy: CompiledPolicy) -> Decision:
    """One policy alone (e.g. an endpoint policy as a gate): allow only if it allows and nothing denies."""
    d, a = _scan(policy, request)
    if d:
        return Decision(EXPLICIT_DENY, [_label(s, None) for s in d], "an explicit Deny matched")
    if a is None:
        return Decision(IMPLICIT_DENY, [], f"the {policy.kind} policy does not allow this request")
    return Decision(ALLOW, [_label(a, None)], f"allowed by the {policy.kind} policy")
