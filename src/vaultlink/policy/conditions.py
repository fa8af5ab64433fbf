"""Condition operators, compiled into closures over the request context.

Semantics (AWS IAM):
- operators AND, keys under one operator AND, values of one key OR; a negated
  operator (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``…) is true when
  the request value matches none of the policy values;
- a key missing from the request makes a condition false, except negated
  operators (true) and ``…IfExists`` (true);
- ``ForAnyValue:`` is true when at least one request value satisfies the
  operator (false for an absent or empty key, with or without ``IfExists``);
  ``ForAllValues:`` when every request value does (true for an absent or empty key);
- ``Null``: ``"true"`` when the key is absent, ``"false"`` when present;
- condition key names are case-insensitive; values follow their operator.

Context values are ``str`` or a tuple of ``str`` (multi-valued keys), keys lower-cased.
Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from vaultlink.policy.matching import arn_glob_to_regex, glob_to_regex
from vaultlink.policy.variables import Template, parse_template

Ctx = Mapping[str, Any]
Pred = Callable[[str, Ctx], bool]
Check = Callable[[Ctx], bool]

# operator -> (family, negated)
BASE_OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("str_eq", False),
    "StringNotEquals": ("str_eq", True),
    "StringEqualsIgnoreCase": ("str_eq_ci", False),
    "StringNotEqualsIgnoreCase": ("str_eq_ci", True),
    "StringLike": ("str_like", False),
    "StringNotLike": ("str_like", True),
    "NumericEquals": ("num_eq", False),
    "NumericNotEquals": ("num_eq", True),
    "NumericLessThan": ("num_lt", False),
    "NumericLessThanEquals": ("num_le", False),
    "NumericGreaterThan": ("num_gt", False),
    "NumericGreaterThanEquals": ("num_ge", False),
    "DateEquals": ("date_eq", False),
    "DateNotEquals": ("date_eq", True),
    "DateLessThan": ("date_lt", False),
    "DateLessThanEquals": ("date_le", False),
    "DateGreaterThan": ("date_gt", False),
    "DateGreaterThanEquals": ("date_ge", False),
    "Bool": ("bool", False),
    "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False),
    "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False),
    "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True),
    "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}
SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")
_VARIABLE_FAMILIES = {"str_eq", "str_eq_ci", "str_like", "arn"}
_NUM = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_EPOCH = re.compile(r"^-?\d+(?:\.\d+)?$")
_MEMO_MAX = 4096


class ConditionError(ValueError):
    """A condition operator or value is invalid (message names the problem)."""


@lru_cache(maxsize=4096)
def _rx(body: str) -> re.Pattern[str]:
    return re.compile(body, re.DOTALL)


def parse_operator(name: str) -> tuple[str | None, str, bool, bool, str]:
    """``ForAnyValue:StringLikeIfExists`` -> (qualifier, family, negated, if_exists, base)."""
    qualifier: str | None = None
    rest = name
    if ":" in name:
        qualifier, rest = name.split(":", 1)
        if qualifier not in SET_QUALIFIERS:
            raise ConditionError(f"unknown set qualifier '{qualifier}' (use ForAnyValue or ForAllValues)")
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest[: -len("IfExists")] if if_exists else rest
    if base not in BASE_OPERATORS:
        hint = _suggest(base)
        raise ConditionError("unknown operator" + (f" (did you mean {hint}?)" if hint else ""))
    family, negated = BASE_OPERATORS[base]
    if family == "null" and if_exists:
        raise ConditionError("Null cannot take IfExists")
    return qualifier, family, negated, if_exists, base


def _suggest(base: str) -> str | None:
    import difflib

    m = difflib.get_close_matches(base, list(BASE_OPERATORS), n=1, cutoff=0.75)
    if not m:
        low = {k.lower(): k for k in BASE_OPERATORS}
        return low.get(base.lower())
    return m[0]


def parse_date(s: str) -> float | None:
    """Epoch seconds of an ISO 8601 date/time or a UNIX epoch; None if unparseable."""
    s = s.strip()
    if _EPOCH.match(s):
        return float(s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse_number(s: str) -> float | None:
    s = s.strip()
    return float(s) if _NUM.match(s) else None


def scalar_text(v: object) -> str | None:
    """Policy values are strings, numbers or booleans, compared as text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return str(v)
    return None


def _memo(fn: Callable[[str], bool]) -> Pred:
    cache: dict[str, bool] = {}

    def pred(v: str, ctx: Ctx) -> bool:
        r = cache.get(v)
        if r is None:
            if len(cache) >= _MEMO_MAX:
                cache.clear()
            r = cache[v] = fn(v)
        return r

    return pred


_CMP: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _static_pred(family: str, values: list[str]) -> Pred:
    if family == "str_eq":
        s = frozenset(values)
        if len(s) == 1:
            (only,) = s
            return lambda v, ctx: v == only
        return lambda v, ctx: v in s
    if family == "str_eq_ci":
        s = frozenset(x.lower() for x in values)
        return lambda v, ctx: v.lower() in s
    if family in ("str_like", "arn"):
        body = "|".join(
            f"(?:{arn_glob_to_regex(x) if family == 'arn' else glob_to_regex(x)})" for x in values
        )
        fm = re.compile(body, re.DOTALL).fullmatch
        if family == "arn" and "*" in values:
            return lambda v, ctx: True
        return _memo(lambda v: fm(v) is not None)
    if family == "bool":
        s = frozenset(x.lower() for x in values)
        return lambda v, ctx: v.lower() in s
    if family == "binary":
        bs = frozenset(base64.b64decode(x) for x in values)

        def bin_match(v: str) -> bool:
            try:
                return base64.b64decode(v, validate=True) in bs
            except (binascii.Error, ValueError):
                return False

        return _memo(bin_match)
    if family == "ip":
        nets = [ipaddress.ip_network(x, strict=False) for x in values]
        spans = [(n.version, int(n.network_address), int(n.broadcast_address)) for n in nets]

        def ip_match(v: str) -> bool:
            try:
                a = ipaddress.ip_address(v.strip())
            except ValueError:
                return False
            ver, n = a.version, int(a)
            return any(ver == sv and lo <= n <= hi for sv, lo, hi in spans)

        return _memo(ip_match)
    kind, cmp_name = family.split("_")
    cmp = _CMP[cmp_name]
    parse = parse_number if kind == "num" else parse_date
    nums = [parse(x) for x in values]
    pv = [x for x in nums if x is not None]

    def cmp_match(v: str, ctx: Ctx) -> bool:
        x = parse(v)
        return x is not None and any(cmp(x, p) for p in pv)

    return cmp_match


def _dynamic_pred(family: str, items: list[str | Template]) -> Pred:
    """Values with policy variables: resolved against the request on each call."""
    ci = family == "str_eq_ci"
    like = family in ("str_like", "arn")
    arn = family == "arn"

    def pred(v: str, ctx: Ctx) -> bool:
        vv = v.lower() if ci else v
        for it in items:
            if isinstance(it, str):
                if like:
                    body = arn_glob_to_regex(it) if arn else glob_to_regex(it)
                    if _rx(body).fullmatch(v) is not None:
                        return True
                elif (it.lower() if ci else it) == vv:
                    return True
                continue
            if like:
                body_t = it.resolve_regex(ctx, arn=arn)
                if body_t is not None and _rx(body_t).fullmatch(v) is not None:
                    return True
            else:
                text = it.resolve_text(ctx)
                if text is not None and (text.lower() if ci else text) == vv:
                    return True
        return False

    return pred


def validate_value(family: str, text: str) -> str | None:
    """An error message for a policy value the operator cannot use, else None."""
    if family.startswith("num_") and parse_number(text) is None:
        return f"'{text}' is not a number"
    if family.startswith("date_") and parse_date(text) is None:
        return f"'{text}' is not an ISO 8601 date or a UNIX epoch time"
    if family in ("bool", "null") and text.lower() not in ("true", "false"):
        return f"'{text}' is not true or false"
    if family == "binary":
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return f"'{text}' is not base64"
    if family == "ip":
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"'{text}' is not an IP address or CIDR block"
    return None


def compile_key_check(
    key: str,
    qualifier: str | None,
    family: str,
    negated: bool,
    if_exists: bool,
    values: list[str],
    variables: bool,
) -> Check:
    """A closure ``ctx -> bool`` for one (operator, key) pair. Values already validated."""
    k = key.lower()
    if family == "null":
        wants_absent = frozenset(x.lower() == "true" for x in values)

        def null_check(ctx: Ctx) -> bool:
            v = ctx.get(k)
            absent = v is None or (v.__class__ is not str and not v)
            return absent in wants_absent

        return null_check

    items: list[str | Template] = []
    dynamic = False
    if variables and family in _VARIABLE_FAMILIES:
        for x in values:
            t, err = parse_template(x, True)
            if err:
                raise ConditionError(err)
            if t is None:
                items.append(x)
            elif t.has_vars:
                items.append(t)
                dynamic = True
            else:
                # only escapes: a literal, or a regex with literal wildcard characters
                items.append(t)
                dynamic = True
    pred = _dynamic_pred(family, items) if dynamic else _static_pred(family, values)
    return _wrap(k, pred, qualifier, negated, if_exists)


def _wrap(k: str, pred: Pred, qualifier: str | None, negated: bool, if_exists: bool) -> Check:
    if qualifier == "ForAnyValue":

        def any_check(ctx: Ctx) -> bool:
            v = ctx.get(k)
            if v is None:
                return False
            if v.__class__ is str:
                return pred(v, ctx) is not negated
            return any(pred(x, ctx) is not negated for x in v)

        return any_check
    if qualifier == "ForAllValues":

        def all_check(ctx: Ctx) -> bool:
            v = ctx.get(k)
            if v is None:
                return True
            if v.__class__ is str:
                return pred(v, ctx) is not negated
            return all(pred(x, ctx) is not negated for x in v)

        return all_check
    missing = negated or if_exists
    if negated:

        def neg_check(ctx: Ctx) -> bool:
            v = ctx.get(k)
            if v.__class__ is str:
                return not pred(v, ctx)
            if not v:
                return missing
            return not any(pred(x, ctx) for x in v)

        return neg_check

    def pos_check(ctx: Ctx) -> bool:
        v = ctx.get(k)
        if v.__class__ is str:
            return pred(v, ctx)
        if not v:
            return missing
        return any(pred(x, ctx) for x in v)

    return pos_check
