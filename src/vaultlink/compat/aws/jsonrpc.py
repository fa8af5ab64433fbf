"""The AWS JSON 1.0 protocol (``backup-gateway``): ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``
and a JSON object body; answers are JSON (``application/x-amz-json-1.0``), errors ``{"__type", "message"}``
as ``restjson.error`` writes them.

botocore's model lists ``smithy-rpc-v2-cbor`` first for this service; the botocore pinned here sends JSON
1.0 (checked by ``tests/unit/compat/test_jsonrpc.py``). A CBOR request answers ``UnknownOperation``
saying so."""

from __future__ import annotations

import json
from typing import Any

from botocore.model import OperationModel, ServiceModel
from starlette.types import Scope

from vaultlink import errors as E
from vaultlink.compat.aws.restjson import json_object
from vaultlink.compat.aws.shapes import check, emit

CONTENT_TYPE = b"application/x-amz-json-1.0"


def operation_of(scope: Scope, model: ServiceModel, implemented: dict[str, Any]) -> str:
    """The operation named by ``X-Amz-Target`` (one of ``implemented``), or ``UnknownOperation``."""
    if scope["method"] != "POST" or scope["path"] != "/":
        raise E.UnknownOperation(f"the {model.service_name} API takes POST / with X-Amz-Target (AWS JSON 1.0); "
                                 "smithy-rpc-v2-cbor requests are not served.")
    targets = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-amz-target"]
    prefix = str(model.metadata.get("targetPrefix", ""))
    if len(targets) != 1 or not targets[0].startswith(prefix + "."):
        raise E.UnknownOperation(f"send one X-Amz-Target header: {prefix}.<Operation>.")
    name = targets[0][len(prefix) + 1:]
    if name not in implemented:
        raise E.UnknownOperation(f"{name[:60]} is not a {model.service_name} operation vaultlink implements; the "
                                 "README's AWS conformance table lists those it does.")
    return name


def parse_input(op: OperationModel, body: bytes) -> dict[str, Any]:
    doc = json_object(body)
    if op.input_shape is None:
        return {}
    out: dict[str, Any] = check(op.input_shape, doc)
    return out


def response(op: OperationModel, result: dict[str, Any] | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = emit(op.output_shape, result or {}) if op.output_shape is not None else {}
    return 200, [(b"content-type", CONTENT_TYPE)], json.dumps(body or {}, separators=(",", ":")).encode()
