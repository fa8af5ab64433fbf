"""A flat table of an app's routes (method, path pattern, name), for naming a request's action.

FastAPI keeps included routers nested, so the pipeline cannot ask ``app.routes`` directly; this
walks them once and compiles every leaf route's full path. Matching a request is then one regex
per route, in the app's own order, without running any of FastAPI's dependency machinery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


class RouteTable:
    def __init__(self, app: Any) -> None:
        entries: list[RouteEntry] = []
        _walk(getattr(app, "routes", ()), "", entries)
        self.entries = tuple(entries)

    def name_of(self, method: str, path: str) -> str | None:
        """The name of the first route matching ``method`` and ``path``; None if none does."""
        return self.match(method, path)[0]

    def match(self, method: str, path: str) -> tuple[str | None, dict[str, str]]:
        """(name, path parameters) of the first route matching; (None, {}) if none does."""
        for e in self.entries:
            m = e.regex.match(path)
            if m is not None and (e.methods is None or method in e.methods):
                return e.name, m.groupdict()
        return None, {}
