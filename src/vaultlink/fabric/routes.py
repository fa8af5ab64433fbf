"""A flat table of an app's routes (method, path pattern, name), for naming a request's action.

FastAPI keeps included routers nested, so the pipeline cannot ask ``app.routes`` directly; this
walks them once and compiles every leaf route's full path. Matching a request is then one regex
per candidate route, in the app's own order, without running any of FastAPI's dependency machinery;
the candidates are the routes whose path can start with the request's first segment (``BySegment``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.routing import compile_path


@dataclass(frozen=True, slots=True)
class RouteEntry:
    methods: frozenset[str] | None  # None: any method
    regex: re.Pattern[str]
    name: str
    path: str  # the full path template, e.g. /v1/vaults/{ref}


def _walk(routes: Any, prefix: str, out: list[RouteEntry]) -> None:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # FastAPI's included router: recurse with its prefix
            ctx = getattr(route, "include_context", None)
            _walk(inner.routes, prefix + (getattr(ctx, "prefix", "") or ""), out)
            continue
        path = getattr(route, "path", None)
        name = getattr(route, "name", None)
        if path is None or name is None:
            continue
        methods = getattr(route, "methods", None)
        if methods is not None:
            methods = frozenset(m.upper() for m in methods) | ({"HEAD"} if "GET" in methods else frozenset())
        regex, _fmt, _conv = compile_path(prefix + path)
        out.append(RouteEntry(methods, regex, str(name), prefix + path))


def first_segment(path: str) -> str:
    """``/v1/vaults/x`` -> ``v1``; ``/`` -> ``""``."""
    return path[1:].split("/", 1)[0] if path.startswith("/") else path.split("/", 1)[0]


T = TypeVar("T")


class BySegment(Generic[T]):
    """Routes grouped by the literal first segment of their template, each group in the routes' own order
    with the routes whose first segment is a parameter among them (so the first match stays the first)."""

    def __init__(self, routes: list[tuple[str, T]]) -> None:
        literal = {seg for seg, _ in routes if "{" not in seg}
        self._groups: dict[str, tuple[T, ...]] = {
            lit: tuple(r for seg, r in routes if seg == lit or "{" in seg) for lit in literal}
        self._other: tuple[T, ...] = tuple(r for seg, r in routes if "{" in seg)

    def candidates(self, path: str) -> tuple[T, ...]:
        return self._groups.get(first_segment(path), self._other)


class RouteTable:
    def __init__(self, app: Any) -> None:
        entries: list[RouteEntry] = []
        _walk(getattr(app, "routes", ()), "", entries)
        self.entries = tuple(entries)
        self._by_segment = BySegment([(first_segment(e.path), e) for e in entries])

    def name_of(self, method: str, path: str) -> str | None:
        """The name of the first route matching ``method`` and ``path``; None if none does."""
        return self.match(method, path)[0]

    def match(self, method: str, path: str) -> tuple[str | None, dict[str, str]]:
        """(name, path parameters) of the first route matching; (None, {}) if none does."""
        for e in self._by_segment.candidates(path):
            m = e.regex.match(path)
            if m is not None and (e.methods is None or method in e.methods):
                return e.name, m.groupdict()
        return None, {}
