"""Reading a policy document (pure): JSON with duplicate keys remembered, the size limit, and the
``Problem`` every check reports (a JSON path and a message)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_POLICY_CHARS = 20_480


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": self.severity}


class DupDict(dict[str, Any]):
    """A JSON object that remembers keys given more than once."""

    dups: tuple[str, ...] = ()


def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = DupDict()
    dups: list[str] = []
    for k, v in pairs:
        if k in d:
            dups.append(k)
        d[k] = v
    if dups:
        d.dups = tuple(dups)
    return d


def load(doc: str | Mapping[str, Any] | Any) -> tuple[Any, list[Problem], int]:
    """(parsed document, problems, size in characters)."""
    if isinstance(doc, str):
        size = len(doc)
        if size > MAX_POLICY_CHARS:
            return (
                None,
                [Problem("(document)", f"{size} characters; the limit is {MAX_POLICY_CHARS:,}")],
                size,
            )
        try:
            return json.loads(doc, object_pairs_hook=pairs_hook), [], size
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            return None, [Problem("(document)", msg)], size
        except RecursionError:
            return None, [Problem("(document)", "nested too deeply")], size
        except ValueError as exc:
            return None, [Problem("(document)", f"not valid JSON ({exc})")], size
    try:
        size = len(json.dumps(doc, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        return None, [Problem("(document)", "a policy must be a JSON object")], 0
    if size > MAX_POLICY_CHARS:
        return None, [Problem("(document)", f"{size} characters; the limit is {MAX_POLICY_CHARS:,}")], size
    return doc, [], size

