"""AWS service models (botocore's own, shipped in its wheel) and values checked against their shapes.

``service_model(name)`` loads a model once, on first use (never at import). ``check`` turns a value that
came off the wire into what a handler may trust: the shape's type, its required members, its bounds;
``emit`` turns a handler's result into what the shape says the client reads (timestamps in the
protocol's form, nothing the shape does not name).
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from vaultlink import errors as E

MAX_DEPTH = 20
MAX_ITEMS = 1000


@functools.lru_cache(maxsize=8)
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


def _where(path: str) -> str:
    return path or "the request"


def check(shape: Shape | None, value: Any, path: str = "", depth: int = 0) -> Any:
    """``value`` as ``shape`` describes it; ``InvalidType`` / ``MissingField`` / ``InvalidInput`` naming the
    member otherwise. Members the shape does not know are dropped (as AWS's JSON services ignore them)."""
    if shape is None:
        return None
    if depth > MAX_DEPTH:
        raise E.InvalidInput(f"{_where(path)} is nested too deeply.", field=path)
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise E.InvalidType(f"{_where(path)} must be an object.", field=path)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name) if member.serialization.get("location") is None else name
            if key in value and value[key] is not None:
                out[name] = check(member, value[key], f"{path}.{name}" if path else name, depth + 1)
            elif name in value and value[name] is not None:
                out[name] = check(member, value[name], f"{path}.{name}" if path else name, depth + 1)
        for name in shape.required_members:
            if name not in out:
                raise E.MissingField(f"{f'{path}.' if path else ''}{name} is required.", field=name)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise E.InvalidType(f"{_where(path)} must be a list.", field=path)
        _bounds(shape, len(value), path, "items")
        if len(value) > MAX_ITEMS:
            raise E.InvalidInput(f"{_where(path)} has more than {MAX_ITEMS} items.", field=path)
        return [check(shape.member, v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict) or len(value) > MAX_ITEMS:
            raise E.InvalidType(f"{_where(path)} must be an object of at most {MAX_ITEMS} entries.", field=path)
        return {check(shape.key, k, f"{path} key", depth + 1): check(shape.value, v, f"{path}.{k}", depth + 1)
                for k, v in value.items()}
    if t == "string":
        if not isinstance(value, str):
            raise E.InvalidType(f"{_where(path)} must be a string.", field=path)
        _bounds(shape, len(value), path, "characters")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            raise E.InvalidInput(f"{_where(path)} must be one of {', '.join(enum)}, not {value!r}.", field=path)
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise E.InvalidType(f"{_where(path)} must be an integer.", field=path)
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise E.InvalidInput(f"{_where(path)} must be between {lo} and {hi}.", field=path)
        return value
    if t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise E.InvalidType(f"{_where(path)} must be a number.", field=path)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise E.InvalidType(f"{_where(path)} must be true or false.", field=path)
        return value
    if t == "timestamp":
        return _timestamp(value, path)
    if t == "blob":
        if not isinstance(value, str | bytes):
            raise E.InvalidType(f"{_where(path)} must be base64 text.", field=path)
        return value
    return value


def _bounds(shape: Shape, n: int, path: str, unit: str) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and n < lo:
        raise E.InvalidInput(f"{_where(path)} must have at least {lo} {unit}.", field=path)
    if hi is not None and n > hi:
        raise E.InvalidInput(f"{_where(path)} must have at most {hi} {unit}.", field=path)


def _timestamp(value: Any, path: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.replace(".", "", 1).isdigit() else \
                datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise E.InvalidType(f"{_where(path)} must be a timestamp (seconds since 1970 or ISO 8601).", field=path)


def emit(shape: Shape | None, value: Any, timestamps: str = "unixTimestamp") -> Any:
    """A handler's result in the wire form of ``shape`` (for JSON; the query protocols use ``xml.py``)."""
    if shape is None or value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return None
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None and member.serialization.get("location") is None:
                out[member.serialization.get("name", name)] = emit(member, value[name], timestamps)
        return out
    if t == "list":
        return [emit(shape.member, v, timestamps) for v in value]
    if t == "map":
        return {str(k): emit(shape.value, v, timestamps) for k, v in value.items()}
    if t == "timestamp":
        when = float(value)
        if timestamps == "unixTimestamp":
            return round(when, 3)
        return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    if t in ("integer", "long"):
        return int(value)
    if t == "boolean":
        return bool(value)
    return value
