"""The Principal / NotPrincipal element: validation and a compiled matcher.

- ``"*"`` and ``{"AWS": "*"}`` match every principal (anonymous included).
- ``{"AWS": "123456789012"}`` and ``{"AWS": "arn:<p>:iam::123456789012:root"}``
  match every principal of that account.
- Any other ARN matches that principal exactly (case-sensitive); wildcards
  inside a principal value are refused, as IAM does.
- ``Service``, ``Federated`` and ``CanonicalUser`` values match the request's
  principal ARN exactly.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PrincipalCheck = Callable[[str, str], bool]  # (principal_arn, principal_account) -> bool

PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_ACCOUNT = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:[a-z0-9-]+:iam::(\d{12}):root$")
_PRINCIPAL_ARN = re.compile(r"^arn:[a-z0-9-]+:(iam|sts)::\d{12}:[^\s]+$")


class PrincipalSpec:
    """What a Principal element names, ready for matching."""

    __slots__ = ("accounts", "any", "arns")

    def __init__(self) -> None:
        self.any = False
        self.accounts: set[str] = set()
        self.arns: set[str] = set()

    def matcher(self, negate: bool) -> PrincipalCheck | None:
        """A predicate, or None when it always matches."""
        if self.any:
            return (lambda arn, acct: False) if negate else None
        accounts = frozenset(self.accounts)
        arns = frozenset(self.arns)

        def match(arn: str, acct: str) -> bool:
            return acct in accounts or arn in arns

        if negate:
            return lambda arn, acct: not match(arn, acct)
        return match

    def names_directly(self, negate: bool) -> PrincipalCheck | None:
        """Does the element name the principal itself ("*" or its ARN), not only its account? A same-account
        grant that names only the account delegates to the account's identity policies (IAM's rule).
        None: always."""
        if self.any or negate:
            return None
        arns = frozenset(self.arns)
        return lambda arn, acct: arn in arns


def _strings(value: Any, path: str, problems: list[tuple[str, str]]) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
        return list(value)
    problems.append((path, "must be a string or a non-empty list of strings"))
    return []


def parse_principal(value: Any, path: str, problems: list[tuple[str, str]]) -> PrincipalSpec:
    """Validate a Principal value; append (path, message) errors to ``problems``."""
    spec = PrincipalSpec()
    if isinstance(value, str):
        if value == "*":
            spec.any = True
        else:
            problems.append(
                (path, f'\'{value}\' is not valid; use "*" or an object such as {{"AWS": [...]}}')
            )
        return spec
    if not isinstance(value, dict) or not value:
        problems.append(
            (path, 'must be "*" or a non-empty object keyed by AWS, Service, Federated, CanonicalUser')
        )
        return spec
    for ptype, pv in value.items():
        ppath = f"{path}.{ptype}"
        if ptype not in PRINCIPAL_TYPES:
            problems.append((ppath, f"unknown principal type (expected one of {', '.join(PRINCIPAL_TYPES)})"))
            continue
        for i, s in enumerate(_strings(pv, ppath, problems)):
            ipath = f"{ppath}[{i}]" if isinstance(pv, list) else ppath
            if s == "*":
                if ptype == "AWS":
                    spec.any = True
                else:
                    problems.append((ipath, f'"*" is only allowed for AWS principals, not {ptype}'))
                continue
            if "*" in s or "?" in s:
                problems.append((ipath, f"'{s}': wildcards are not allowed in a principal (use \"*\" alone)"))
                continue
            if ptype != "AWS":
                if not s.strip():
                    problems.append((ipath, "must not be empty"))
                spec.arns.add(s)
                continue
            if _ACCOUNT.match(s):
                spec.accounts.add(s)
                continue
            root = _ROOT.match(s)
            if root:
                spec.accounts.add(root.group(1))
                continue
            if _PRINCIPAL_ARN.match(s):
                spec.arns.add(s)
                continue
            problems.append((ipath, f"'{s}' is not a 12-digit account id or a principal ARN"))
    return spec
