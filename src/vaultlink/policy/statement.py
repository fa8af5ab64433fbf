"""A compiled statement: the closures evaluated on the hot path.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vaultlink.policy.conditions import Check, _rx
from vaultlink.policy.matching import compile_arn_matcher
from vaultlink.policy.principals import PrincipalCheck
from vaultlink.policy.variables import Template, literal_regex, parse_template

ResourceCheck = Callable[[str, Mapping[str, Any]], bool]
_MEMO_MAX = 8192


class CompiledStatement:
    """One statement; ``applies`` checks Resource, Principal and Condition (Action is indexed)."""

    __slots__ = ("action_match", "applies", "deny", "direct", "effect", "index", "kind", "label", "sid")

    def __init__(
        self,
        *,
        index: int,
        sid: str | None,
        deny: bool,
        kind: str,
        action_match: Callable[[str], bool],
        resource_check: ResourceCheck | None,
        principal_check: PrincipalCheck | None,
        conditions: tuple[Check, ...],
        direct_check: PrincipalCheck | None = None,
    ) -> None:
        self.index = index
        self.direct = direct_check  # None: names every principal it matches directly
        self.sid = sid
        self.deny = deny
        self.effect = "Deny" if deny else "Allow"
        self.kind = kind
        self.action_match = action_match
        self.label: dict[str, Any] = {"policy": kind, "statement": index, "sid": sid, "effect": self.effect}
        self.applies = _make_applies(resource_check, principal_check, conditions)

    def __repr__(self) -> str:
        return f"CompiledStatement({self.kind}#{self.index} {self.effect} sid={self.sid!r})"


def _make_applies(
    res: ResourceCheck | None, pr: PrincipalCheck | None, conds: tuple[Check, ...]
) -> Callable[[str, str, str, Mapping[str, Any]], bool]:
    if len(conds) == 1:
        (c0,) = conds

        def applies1(arn: str, acct: str, resource: str, ctx: Mapping[str, Any]) -> bool:
            if res is not None and not res(resource, ctx):
                return False
            if pr is not None and not pr(arn, acct):
                return False
            return c0(ctx)

        return applies1

    def applies(arn: str, acct: str, resource: str, ctx: Mapping[str, Any]) -> bool:
        if res is not None and not res(resource, ctx):
            return False
        if pr is not None and not pr(arn, acct):
            return False
        for c in conds:  # noqa: SIM110 (a plain loop is faster than all() on the hot path)
            if not c(ctx):
                return False
        return True

    return applies


def make_resource_check(values: list[str], variables: bool, *, negate: bool) -> ResourceCheck | None:
    """A predicate over (resource ARN, context); None when it always matches."""
    static: list[str] = []
    static_rx: list[str] = []
    templates: list[Template] = []
    for v in values:
        t, err = parse_template(v, variables)
        if err:
            raise ValueError(err)
        if t is None:
            static.append(v)
        elif t.has_vars:
            templates.append(t)
        else:
            static_rx.append(literal_regex(t, arn=True))
    if "*" in static:
        if negate:
            return lambda resource, ctx: False
        return None
    base = compile_arn_matcher(static) if static else None
    lit = _rx("|".join(f"(?:{r})" for r in static_rx)).fullmatch if static_rx else None
    memo: dict[str, bool] = {}

    def static_match(resource: str) -> bool:
        r = memo.get(resource)
        if r is None:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            r = (base is not None and base(resource)) or (lit is not None and lit(resource) is not None)
            memo[resource] = r
        return r

    if not templates:
        if negate:
            return lambda resource, ctx: not static_match(resource)
        return lambda resource, ctx: static_match(resource)

    def match(resource: str, ctx: Mapping[str, Any]) -> bool:
        if static_match(resource):
            return True
        for t in templates:
            body = t.resolve_regex(ctx, arn=True)
            if body is not None and _rx(body).fullmatch(resource) is not None:
                return True
        return False

    if negate:
        return lambda resource, ctx: not match(resource, ctx)
    return match
