"""Policy variables: ``${aws:username}``, ``${key, 'default'}`` and the escapes.

Only documents with ``"Version": "2012-10-17"`` have variables; under an older or
absent Version, ``${...}`` is literal text (as in AWS).

- ``${*}``, ``${?}``, ``${$}`` stand for a literal ``*``, ``?``, ``$``: never a
  wildcard, even in a ``...Like`` operator or a Resource.
- ``${key}`` is replaced by the request's value for the (case-insensitive) key.
  A substituted value is literal text: wildcards in it do not act as wildcards.
- ``${key, 'default'}`` uses the default (``''`` is a quote) when the key is
  absent or multi-valued.
- A variable that cannot be resolved makes that one value (or Resource entry)
  match nothing.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from vaultlink.policy.matching import arn_glob_to_regex, glob_to_regex

_VAR = re.compile(r"\$\{([^}]*)\}")
_INNER = re.compile(r"^\s*([^\s,'}]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Var:
    key: str  # lower-cased
    default: str | None


# A template part: a glob text (str), a literal (tuple ("lit", text)), or a Var.
Part = str | tuple[str, str] | Var


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[Part, ...]
    has_vars: bool

    def resolve_parts(self, ctx: Mapping[str, object]) -> list[tuple[bool, str]] | None:
        """``[(is_glob_text, text)]`` with variables substituted, or None if unresolvable."""
        out: list[tuple[bool, str]] = []
        for p in self.parts:
            if isinstance(p, str):
                out.append((True, p))
            elif isinstance(p, Var):
                v = ctx.get(p.key)
                if isinstance(v, str):
                    out.append((False, v))
                elif p.default is not None:
                    out.append((False, p.default))
                else:
                    return None
            else:
                out.append((False, p[1]))
        return out

    def resolve_text(self, ctx: Mapping[str, object]) -> str | None:
        parts = self.resolve_parts(ctx)
        return None if parts is None else "".join(t for _, t in parts)

    def resolve_regex(self, ctx: Mapping[str, object], *, arn: bool = False) -> str | None:
        parts = self.resolve_parts(ctx)
        if parts is None:
            return None
        if arn:
            # Build the text with placeholders for literal wildcard characters, then
            # translate segment-wise. Literal characters are private-use code points.
            text = "".join(t if g else _protect(t) for g, t in parts)
            return _unprotect(arn_glob_to_regex(text))
        return "".join(glob_to_regex(t) if g else re.escape(t) for g, t in parts)


_PROTECT = {"*": "\ue000", "?": "\ue001"}


def _protect(t: str) -> str:
    return t.replace("*", _PROTECT["*"]).replace("?", _PROTECT["?"])


def _unprotect(rx: str) -> str:
    return rx.replace("\ue000", re.escape("*")).replace("\ue001", re.escape("?"))


def parse_template(text: str, variables: bool) -> tuple[Template | None, str | None]:
    """Parse ``text``; return (template or None when it is plain text, error or None)."""
    if not variables or "${" not in text:
        return None, None
    parts: list[Part] = []
    pos = 0
    has_vars = False
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        inner = m.group(1)
        if inner in _ESCAPES:
            parts.append(("lit", _ESCAPES[inner]))
        else:
            im = _INNER.match(inner)
            if im is None:
                return None, f"invalid policy variable '${{{inner}}}'"
            default = im.group(2).replace("''", "'") if im.group(2) is not None else None
            parts.append(Var(im.group(1).lower(), default))
            has_vars = True
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts), has_vars), None


def literal_text(t: Template) -> str:
    """The text of a template without variables (escapes applied)."""
    return "".join(p if isinstance(p, str) else p[1] for p in t.parts if not isinstance(p, Var))


def literal_regex(t: Template, *, arn: bool = False) -> str:
    """Regex of a template without variables (escapes are literal characters)."""
    rx = t.resolve_regex({}, arn=arn)
    assert rx is not None
    return rx
