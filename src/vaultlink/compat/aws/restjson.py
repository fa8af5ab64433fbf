"""The rest-json protocol (AWS Backup) as botocore speaks it, read from its service model.

``Router`` matches a request line to an operation by the model's ``http.method`` and ``requestUri``
(labels, greedy labels, literal query keys such as ``?delete``); ``parse_input`` gathers the members
from the path, the query, the headers and the JSON body and checks them against the input shape;
``response`` and ``error`` answer as the AWS service does (errors in the ``x-amzn-ErrorType`` header and
the JSON body, so botocore raises its typed exceptions).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel

from vaultlink import errors as E
from vaultlink.compat.aws.shapes import check, emit

MAX_QUERY_PAIRS = 100


@dataclass(frozen=True, slots=True)
class Route:
    op: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    query_keys: tuple[str, ...]  # literal keys the requestUri's query part requires (``?delete``)
    weight: int  # literal characters: the most specific template wins


class Router:
    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            path, _, query = http["requestUri"].partition("?")
            labels: list[str] = []
            rx = ""
            for part in re.split(r"(\{[^}]+\})", path):
                if part.startswith("{"):
                    label = part[1:-1]
                    greedy = label.endswith("+")
                    labels.append(label.rstrip("+"))
                    rx += "(.+)" if greedy else "([^/]+)"
                else:
                    rx += re.escape(part)
            keys = tuple(k.split("=", 1)[0] for k in query.split("&") if k)
            routes.append(Route(name, http["method"], re.compile(rx + r"\Z"), tuple(labels), keys,
                                len(re.sub(r"\{[^}]+\}", "", path)) + len(keys)))
        self.routes = sorted(routes, key=lambda r: -r.weight)
        self.prefixes = frozenset(_first_segment(model.operation_model(n).http["requestUri"])
                                  for n in model.operation_names)

    def match(self, method: str, raw_path: str, query: str) -> tuple[str, dict[str, str]] | None:
        """(operation, path labels) for a request line, or None."""
        keys = {k for k, _ in parse_qsl(query, keep_blank_values=True)} if query else set()
        for r in self.routes:
            if r.method != method or not all(k in keys for k in r.query_keys):
                continue
            m = r.pattern.match(raw_path)
            if m is not None:
                return r.op, {label: unquote(v) for label, v in zip(r.labels, m.groups(), strict=True)}
        return None

    def serves(self, raw_path: str) -> bool:
        """Is ``raw_path`` under a path prefix of this API (so an unsigned call gets an AWS error)?"""
        return _first_segment(raw_path) in self.prefixes


def _first_segment(path: str) -> str:
    return path.split("?", 1)[0].lstrip("/").split("/", 1)[0]


def parse_input(op: OperationModel, labels: dict[str, str], query: str,
                headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The operation's input members from every part of the request, checked against its shape."""
    shape = op.input_shape
    if shape is None:
        return {}
    raw: dict[str, Any] = json_object(body)
    pairs = parse_qsl(query, keep_blank_values=True) if query else []
    if len(pairs) > MAX_QUERY_PAIRS:
        raise E.InvalidInput(f"the query string has more than {MAX_QUERY_PAIRS} parameters.")
    for name, member in shape.members.items():
        where, key = member.serialization.get("location"), member.serialization.get("name", name)
        if where == "uri" and key in labels:
            raw[name] = labels[key]
        elif where == "querystring":
            values = [v for k, v in pairs if k == key]
            if values:
                raw[name] = _from_text(member.type_name, values, name)
        elif where == "header" and key.lower() in headers:
            raw[name] = _from_text(member.type_name, [headers[key.lower()]], name)
        elif where is not None:
            raw.pop(name, None)  # a location member is never read from the body
    out: dict[str, Any] = check(shape, raw)
    return out


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON request body: an object ({} when empty), else ``MalformedJSON``."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise E.MalformedJSON("the request body is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise E.MalformedJSON("the request body must be a JSON object.")
    return doc


def _from_text(type_name: str, values: list[str], name: str) -> Any:
    if type_name == "list":
        return values
    text = values[-1]
    if type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise E.InvalidType(f"{name} must be an integer, not {text!r}.", field=name) from None
    if type_name == "boolean":
        if text not in ("true", "false"):
            raise E.InvalidType(f"{name} must be true or false, not {text!r}.", field=name)
        return text == "true"
    return text


def response(op: OperationModel, result: dict[str, Any] | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = int(op.http.get("responseCode", 200))
    body = emit(op.output_shape, result or {}) if op.output_shape is not None else {}
    data = json.dumps(body or {}, separators=(",", ":")).encode()
    return status, [(b"content-type", b"application/json")], data


def error(code: str, status: int, message: str, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    data = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"x-amzn-errortype", code.encode()),
               (b"x-amzn-requestid", request_id.encode())]
    return status, headers, data
