"""Parse and validate policy documents into a compiled form.

Every problem carries its JSON path (``Statement[2].Condition.StringLikee:
unknown operator``). Errors make a document invalid; warnings (unknown actions,
NotPrincipal with Allow…) do not. Compilation happens once; evaluation never
re-parses (see ``evaluate.py``). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vaultlink.errors import InvalidInput, PolicyInvalid, PolicyTooLarge
from vaultlink.policy import actions as catalog
from vaultlink.policy.conditions import (
    Check,
    ConditionError,
    compile_key_check,
    parse_operator,
    scalar_text,
    validate_value,
)
from vaultlink.policy.load import MAX_POLICY_CHARS, Problem, load
from vaultlink.policy.matching import ARN_SEGMENTS, compile_action_matcher, has_wildcard
from vaultlink.policy.principals import PrincipalCheck, parse_principal
from vaultlink.policy.statement import CompiledStatement, ResourceCheck, make_resource_check

PolicyKind = Literal["endpoint", "identity", "resource"]
KINDS: tuple[str, ...] = ("endpoint", "identity", "resource")
VERSIONS = ("2012-10-17", "2008-10-17")
TOP_ELEMENTS = ("Version", "Id", "Statement")
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


@dataclass(slots=True)
class CompiledPolicy:
    """A validated policy, ready for fast evaluation."""

    kind: str
    document: dict[str, Any]
    statements: tuple[CompiledStatement, ...]
    warnings: tuple[Problem, ...] = ()
    _by_action: dict[str, tuple[tuple[CompiledStatement, ...], tuple[CompiledStatement, ...]]] = field(
        default_factory=dict, repr=False
    )

    def candidates(self, action: str) -> tuple[tuple[CompiledStatement, ...], tuple[CompiledStatement, ...]]:
        """(Deny statements, Allow statements) whose Action/NotAction cover a lower-cased action."""
        hit = self._by_action.get(action)
        if hit is None:
            if len(self._by_action) >= 4096:
                self._by_action.clear()
            sts = [s for s in self.statements if s.action_match(action)]
            hit = (tuple(s for s in sts if s.deny), tuple(s for s in sts if not s.deny))
            self._by_action[action] = hit
        return hit

    def to_json(self) -> str:
        return json.dumps(self.document, separators=(",", ":"), sort_keys=False)


class _Builder:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.problems: list[Problem] = []
        self.variables = False

    def err(self, path: str, msg: str) -> None:
        self.problems.append(Problem(path, msg, "error"))

    def warn(self, path: str, msg: str) -> None:
        self.problems.append(Problem(path, msg, "warning"))

    def dups(self, obj: Any, path: str) -> None:
        for k in getattr(obj, "dups", ()):
            self.err(f"{path}.{k}" if path else (k or '""'), "given more than once")

    def strings(self, value: Any, path: str) -> list[str] | None:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
            return list(value)
        self.err(path, "must be a string or a non-empty list of strings")
        return None

    # -- document -----------------------------------------------------------
    def document(self, doc: Any) -> list[CompiledStatement]:
        if not isinstance(doc, dict):
            self.err("(document)", "a policy must be a JSON object")
            return []
        self.dups(doc, "")
        for k in doc:
            if k not in TOP_ELEMENTS:
                self.err(str(k) or '""', f"unknown element (expected {', '.join(TOP_ELEMENTS)})")
        version = doc.get("Version")
        if version is not None and version not in VERSIONS:
            self.err("Version", f"must be one of {', '.join(VERSIONS)}")
        self.variables = version == "2012-10-17"
        if "Id" in doc and not isinstance(doc["Id"], str):
            self.err("Id", "must be a string")
        if "Statement" not in doc:
            self.err("Statement", "required")
            return []
        raw = doc["Statement"]
        if isinstance(raw, dict):
            items = [("Statement", raw)]
        elif isinstance(raw, list) and raw:
            items = [(f"Statement[{i}]", s) for i, s in enumerate(raw)]
        else:
            self.err("Statement", "must be an object or a non-empty list of objects")
            return []
        out: list[CompiledStatement] = []
        sids: set[str] = set()
        for i, (path, st) in enumerate(items):
            cs = self.statement(st, path, i)
            if cs is not None:
                if cs.sid is not None and cs.sid in sids:
                    self.err(f"{path}.Sid", f"duplicate Sid '{cs.sid}'; Sids must be unique within a policy")
                if cs.sid is not None:
                    sids.add(cs.sid)
                out.append(cs)
        return out

    # -- statement ----------------------------------------------------------
    def statement(self, st: Any, path: str, index: int) -> CompiledStatement | None:
        if not isinstance(st, dict):
            self.err(path, "a statement must be a JSON object")
            return None
        before = len([p for p in self.problems if p.severity == "error"])
        self.dups(st, path)
        for k in st:
            if k not in STATEMENT_ELEMENTS:
                self.err(f"{path}.{k}", "unknown element")
        sid = st.get("Sid")
        if sid is not None and not isinstance(sid, str):
            self.err(f"{path}.Sid", "must be a string")
            sid = None
        effect = st.get("Effect")
        if effect is None:
            self.err(f"{path}.Effect", "required (Allow or Deny)")
        elif effect not in ("Allow", "Deny"):
            self.err(f"{path}.Effect", f"must be Allow or Deny, not {json.dumps(effect)[:40]}")
        action_match = self.actions(st, path)
        resource_check = self.resources(st, path)
        principal_check, direct_check = self.principal(st, path, effect)
        conds = self.conditions(st.get("Condition"), f"{path}.Condition") if "Condition" in st else []
        errors = len([p for p in self.problems if p.severity == "error"])
        if errors > before or action_match is None:
            return None
        return CompiledStatement(
            index=index,
            sid=sid,
            deny=effect == "Deny",
            kind=self.kind,
            action_match=action_match,
            resource_check=resource_check,
            principal_check=principal_check,
            conditions=tuple(conds),
            direct_check=direct_check,
        )

    def _one_of(
        self, st: dict[str, Any], path: str, a: str, b: str, required: bool
    ) -> tuple[str, Any] | None:
        if a in st and b in st:
            self.err(f"{path}.{b}", f"a statement takes {a} or {b}, not both")
            return None
        if a in st:
            return a, st[a]
        if b in st:
            return b, st[b]
        if required:
            self.err(f"{path}.{a}", f"required ({a} or {b})")
        return None

    def actions(self, st: dict[str, Any], path: str) -> Callable[[str], bool] | None:
        got = self._one_of(st, path, "Action", "NotAction", True)
        if got is None:
            return None
        name, value = got
        epath = f"{path}.{name}"
        values = self.strings(value, epath)
        if values is None:
            return None
        ok = True
        for i, a in enumerate(values):
            ipath = f"{epath}[{i}]" if isinstance(value, list) else epath
            if a == "*":
                continue
            service, sep, op = a.partition(":")
            if a != a.strip() or any(c.isspace() for c in a):
                self.err(ipath, f"'{a}': an action has no whitespace; write service:Name exactly")
                ok = False
            elif not sep or not service or not op:
                self.err(
                    ipath, f"'{a}' is not an action; write service:Name (e.g. backup:StartBackupJob) or \"*\""
                )
                ok = False
            elif has_wildcard(service):
                self.err(ipath, f"'{a}': wildcards are not allowed in the service prefix")
                ok = False
            elif service.lower() not in catalog.SERVICES:
                self.warn(ipath, f"'{a}': service '{service}' is not a vaultlink service; it never matches")
            elif not catalog.actions_matching(a):
                self.warn(ipath, f"'{a}' matches no known {catalog.SERVICE} action")
        if not ok:
            return None
        m = compile_action_matcher(values)
        if name == "NotAction":
            return lambda action: not m(action)
        return m

    def resources(self, st: dict[str, Any], path: str) -> ResourceCheck | None:
        got = self._one_of(st, path, "Resource", "NotResource", True)
        if got is None:
            return None
        name, value = got
        epath = f"{path}.{name}"
        values = self.strings(value, epath)
        if values is None:
            return None
        for i, r in enumerate(values):
            ipath = f"{epath}[{i}]" if isinstance(value, list) else epath
            if r == "*":
                continue
            parts = r.split(":", ARN_SEGMENTS - 1)
            if len(parts) < ARN_SEGMENTS or parts[0] != "arn":
                self.err(
                    ipath, f"'{r}' must be \"*\" or an ARN (arn:partition:service:region:account:resource)"
                )
            elif not parts[2] or has_wildcard(parts[2]) or "${" in parts[2]:
                self.err(ipath, f"'{r}': the service segment must be written out, without wildcards")
            elif self.variables and any("${" in p for p in parts[:-1]):
                self.warn(ipath, "policy variables belong in the resource segment (after the fifth colon)")
        try:
            return make_resource_check(values, self.variables, negate=name == "NotResource")
        except ValueError as exc:
            self.err(epath, str(exc))
            return None

    def principal(
        self, st: dict[str, Any], path: str, effect: Any
    ) -> tuple[PrincipalCheck | None, PrincipalCheck | None]:
        """(the principal check, the check that the principal is named itself, not by its account)."""
        if self.kind == "identity":
            for k in ("Principal", "NotPrincipal"):
                if k in st:
                    self.err(f"{path}.{k}", "not allowed in an identity policy (it applies to its holder)")
            return None, None
        got = self._one_of(st, path, "Principal", "NotPrincipal", True)
        if got is None:
            return None, None
        name, value = got
        raw: list[tuple[str, str]] = []
        spec = parse_principal(value, f"{path}.{name}", raw)
        for p, m in raw:
            self.err(p, m)
        if name == "NotPrincipal" and effect == "Allow":
            self.warn(f"{path}.NotPrincipal", "NotPrincipal with Allow grants access to almost everyone")
        negate = name == "NotPrincipal"
        return spec.matcher(negate=negate), spec.names_directly(negate)

    def conditions(self, cond: Any, path: str) -> list[Check]:
        if not isinstance(cond, dict):
            self.err(path, "must be an object of operator -> {key: value(s)}")
            return []
        self.dups(cond, path)
        checks: list[Check] = []
        for op, block in cond.items():
            opath = f"{path}.{op}"
            try:
                qualifier, family, negated, if_exists, _base = parse_operator(str(op))
            except ConditionError as exc:
                self.err(opath, str(exc))
                continue
            if not isinstance(block, dict) or not block:
                self.err(opath, "must be a non-empty object of condition key -> value(s)")
                continue
            self.dups(block, opath)
            for key, raw in block.items():
                kpath = f"{opath}.{key}"
                if not key or not isinstance(key, str):
                    self.err(kpath, "a condition key must be a non-empty string")
                    continue
                items = raw if isinstance(raw, list) else [raw]
                if not items:
                    self.err(kpath, "needs at least one value")
                    continue
                texts: list[str] = []
                for i, v in enumerate(items):
                    vpath = f"{kpath}[{i}]" if isinstance(raw, list) else kpath
                    t = scalar_text(v)
                    if t is None:
                        self.err(vpath, "a condition value must be a string, number or boolean")
                        continue
                    bad = validate_value(family, t)
                    if bad:
                        self.err(vpath, bad)
                        continue
                    texts.append(t)
                if len(texts) != len(items):
                    continue
                try:
                    checks.append(
                        compile_key_check(key, qualifier, family, negated, if_exists, texts, self.variables)
                    )
                except (ConditionError, ValueError) as exc:
                    self.err(kpath, str(exc))
        return checks


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"policy kind must be one of {', '.join(KINDS)}, not {kind!r}", field="kind")


def _build(doc: Any, kind: str) -> tuple[Any, list[Problem], list[CompiledStatement], int]:
    _check_kind(kind)
    parsed, problems, size = load(doc)
    if problems:
        return parsed, problems, [], size
    b = _Builder(kind)
    try:
        statements = b.document(parsed)
    except RecursionError:
        b.err("(document)", "too deeply nested")
        statements = []
    return parsed, b.problems, statements, size


def validate_policy(doc: str | Mapping[str, Any], kind: PolicyKind | str = "identity") -> list[Problem]:
    """Every problem (errors and warnings) with its JSON path; empty when the policy is clean."""
    return _build(doc, kind)[1]


def compile_policy(doc: str | Mapping[str, Any], kind: PolicyKind | str) -> CompiledPolicy:
    """Validate and compile; raise PolicyInvalid (details.problems) or PolicyTooLarge."""
    parsed, problems, statements, size = _build(doc, kind)
    if size > MAX_POLICY_CHARS:
        raise PolicyTooLarge(
            f"The {kind} policy is {size:,} characters; the limit is {MAX_POLICY_CHARS:,}. Shorten it.",
            size=size,
            limit=MAX_POLICY_CHARS,
        )
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PolicyInvalid(
            f"The {kind} policy is not valid ({len(errors)} problem{'s' if len(errors) > 1 else ''}); "
            "fix the problems listed.",
            problems=[str(p) for p in errors],
        )
    warnings = tuple(p for p in problems if p.severity == "warning")
    return CompiledPolicy(
        kind=kind, document=json.loads(json.dumps(parsed)), statements=tuple(statements), warnings=warnings
    )
