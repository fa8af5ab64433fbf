"""The query protocols (EC2's and STS's) as botocore speaks them: a form-encoded POST with ``Action`` and
``Version``, answered in XML.

``parse_input`` rebuilds the members from the flattened form keys (``SubnetId.1``,
``TagSpecification.1.Tag.1.Key``: EC2's rules, names from ``queryName`` / capitalized ``locationName``)
and checks them against the input shape; ``response`` writes the output shape as XML (EC2: lists as
``<item>``, a ``requestId``; STS: a ``…Result`` wrapper); ``error`` writes the protocol's error document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import OperationModel, Shape

from vaultlink import errors as E
from vaultlink.compat.aws.shapes import check

MAX_PAIRS = 1000
MAX_INDEX = 1000
EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"


def form(body: bytes) -> list[tuple[str, str]]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body.strip()),
                          max_num_fields=MAX_PAIRS)
    except (ValueError, UnicodeDecodeError):
        raise E.MalformedXml("the body is not a form (application/x-www-form-urlencoded) of Action=…&"
                             f"Version=… with at most {MAX_PAIRS} parameters.") from None
    return pairs


def action_of(pairs: list[tuple[str, str]]) -> str:
    actions = [v for k, v in pairs if k == "Action"]
    if len(actions) != 1 or not actions[0].isalnum():
        raise E.UnknownOperation("the request names no single Action.")
    return actions[0]


def _ec2_name(member: Shape, default: str) -> str:
    ser = member.serialization
    if "queryName" in ser:
        return str(ser["queryName"])
    if "name" in ser:
        name = str(ser["name"])
        return name[0].upper() + name[1:]
    return default


def parse_input(op: OperationModel, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """EC2 query input: the form's members, checked against the operation's input shape."""
    tree: dict[str, Any] = {}
    for key, value in pairs:
        if key in ("Action", "Version"):
            continue
        node = tree
        parts = key.split(".")
        if len(parts) > 8:
            raise E.InvalidInput(f"parameter {key!r} is nested too deeply.", field=key)
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise E.InvalidInput(f"parameter {key!r} is given as a value and as a list.", field=key)
            node = nxt
        if isinstance(node.get(parts[-1]), dict):
            raise E.InvalidInput(f"parameter {key!r} is given as a value and as a list.", field=key)
        node[parts[-1]] = value
    shape = op.input_shape
    if shape is None:
        return {}
    out: dict[str, Any] = check(shape, _from_tree(shape, tree, ""))
    return out


def _from_tree(shape: Shape, node: Any, path: str) -> Any:
    t = shape.type_name
    if t == "structure":
        if not isinstance(node, dict):
            raise E.InvalidType(f"{path or 'the request'} must be a structure.", field=path)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = _ec2_name(member, name)
            if key in node:
                out[name] = _from_tree(member, node[key], f"{path}.{key}" if path else key)
        return out
    if t == "list":
        if not isinstance(node, dict) or not all(k.isdigit() and 0 < int(k) <= MAX_INDEX for k in node):
            raise E.InvalidType(f"{path} must be a list ({path}.1, {path}.2, …).", field=path)
        return [_from_tree(shape.member, node[k], f"{path}.{k}") for k in sorted(node, key=int)]
    if isinstance(node, dict):
        raise E.InvalidType(f"{path} must be a single value.", field=path)
    if t in ("integer", "long"):
        try:
            return int(node)
        except ValueError:
            raise E.InvalidType(f"{path} must be an integer, not {node!r}.", field=path) from None
    if t == "boolean":
        if node.lower() not in ("true", "false"):
            raise E.InvalidType(f"{path} must be true or false, not {node!r}.", field=path)
        return node.lower() == "true"
    return node


def _xml(shape: Shape, value: Any) -> str:
    t = shape.type_name
    if t == "structure":
        parts = []
        for name, member in shape.members.items():
            if isinstance(value, dict) and value.get(name) is not None:
                tag = str(member.serialization.get("name", name))
                parts.append(f"<{tag}>{_xml(member, value[name])}</{tag}>")
        return "".join(parts)
    if t == "list":
        tag = str(shape.member.serialization.get("name", "member"))
        return "".join(f"<{tag}>{_xml(shape.member, v)}</{tag}>" for v in value)
    if t == "timestamp":
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if t == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def response(op: OperationModel, result: dict[str, Any] | None, request_id: str,
             protocol: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    inner = _xml(op.output_shape, result or {}) if op.output_shape is not None else ""
    if protocol == "ec2":
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{op.name}Response xmlns="{EC2_XMLNS}">'
               f"<requestId>{request_id}</requestId>{inner}</{op.name}Response>")
    else:
        wrapper = (op.output_shape.serialization.get("resultWrapper") if op.output_shape is not None else None) \
            or f"{op.name}Result"
        doc = (f'<{op.name}Response xmlns="{STS_XMLNS}"><{wrapper}>{inner}</{wrapper}>'
               f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op.name}Response>")
    return 200, [(b"content-type", b"text/xml;charset=UTF-8")], doc.encode()


def error(code: str, status: int, message: str, request_id: str,
          protocol: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if protocol == "ec2":
        doc = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
               f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        doc = (f'<ErrorResponse xmlns="{STS_XMLNS}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
               f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, [(b"content-type", b"text/xml;charset=UTF-8")], doc.encode()
