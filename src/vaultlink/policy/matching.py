"""Glob and ARN matching, compiled once into regexes.

- Actions (``service:Name``) match case-insensitively; ``*`` and ``?`` anywhere
  in the name, never in the service prefix (IAM refuses that).
- ARNs match segment by segment, case-sensitively: ``*`` and ``?`` never cross
  the ``:`` between the first five segments; the sixth (resource) segment is
  everything after the fifth colon, so a wildcard there may span ``:`` and ``/``.
  A pattern of ``*`` alone matches every resource.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

ARN_SEGMENTS = 6


def glob_to_regex(pattern: str, *, within_segment: bool = False) -> str:
    """Translate ``*``/``?`` into a regex body (no anchors); other characters literal."""
    star, one = ("[^:]*", "[^:]") if within_segment else (".*", ".")
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def arn_glob_to_regex(pattern: str) -> str:
    """Regex body for an ARN pattern: wildcards stay inside their segment.

    The first five segments may not span ``:``; the last (resource) segment may.
    A pattern with fewer than six segments is compared segment-wise as written.
    """
    parts = pattern.split(":", ARN_SEGMENTS - 1)
    if len(parts) < ARN_SEGMENTS:
        return ":".join(glob_to_regex(p, within_segment=True) for p in parts)
    head = [glob_to_regex(p, within_segment=True) for p in parts[:-1]]
    return ":".join([*head, glob_to_regex(parts[-1])])


def has_wildcard(s: str) -> bool:
    return "*" in s or "?" in s


def compile_action_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate over a *lower-cased* action name."""
    pats = [p.lower() for p in patterns]
    if "*" in pats:
        return lambda action: True
    exact = frozenset(p for p in pats if not has_wildcard(p))
    globs = [p for p in pats if has_wildcard(p)]
    if not globs:
        return exact.__contains__
    rx = re.compile("|".join(f"(?:{glob_to_regex(g)})" for g in globs), re.DOTALL)
    fullmatch = rx.fullmatch

    def match(action: str) -> bool:
        return action in exact or fullmatch(action) is not None

    return match


def compile_arn_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A case-sensitive predicate over a resource ARN (no policy variables)."""
    pats = list(patterns)
    if "*" in pats:
        return lambda arn: True
    exact = frozenset(p for p in pats if not has_wildcard(p))
    globs = [p for p in pats if has_wildcard(p)]
    if not globs:
        return exact.__contains__
    rx = re.compile("|".join(f"(?:{arn_glob_to_regex(g)})" for g in globs), re.DOTALL)
    fullmatch = rx.fullmatch

    def match(arn: str) -> bool:
        return arn in exact or fullmatch(arn) is not None

    return match


def arn_segments(arn: str) -> list[str]:
    return arn.split(":", ARN_SEGMENTS - 1)


def is_arn(s: str) -> bool:
    parts = arn_segments(s)
    return len(parts) == ARN_SEGMENTS and parts[0] == "arn"
