"""AWS JSON 1.0 (``compat/aws/jsonrpc.py``), the backup-gateway protocol: what the pinned botocore sends
(its model lists smithy-rpc-v2-cbor first; this botocore speaks JSON 1.0), the operation from X-Amz-Target,
the input checked against the model, the answer botocore's own parser reads back."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.parsers import create_parser

from vaultlink import errors as E
from vaultlink.compat.aws import jsonrpc
from vaultlink.compat.aws.operations import GATEWAY
from vaultlink.compat.aws.shapes import service_model


def sent(op: str, **params: Any) -> Any:
    c = boto3.client("backup-gateway", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                     aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x" * 40)
    seen: list[Any] = []

    def grab(request: Any, **_: Any) -> Any:
        seen.append(request)
        raise RuntimeError("captured")

    c.meta.events.register("before-send", grab)
    with pytest.raises(RuntimeError):
        getattr(c, op)(**params)
    return seen[0]


def scope(target: str, method: str = "POST", path: str = "/") -> dict[str, Any]:
    return {"method": method, "path": path, "headers": [(b"x-amz-target", target.encode())]}


def test_botocore_sends_json_1_0_and_the_operation_is_its_target() -> None:
    req = sent("create_gateway", ActivationKey="ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2", GatewayDisplayName="g",
               GatewayType="BACKUP_VM")
    assert req.headers["Content-Type"] == b"application/x-amz-json-1.0" and req.url.endswith("/")
    model = service_model("backup-gateway")
    s = scope(req.headers["X-Amz-Target"].decode())
    name = jsonrpc.operation_of(s, model, GATEWAY)
    assert name == "CreateGateway"
    got = jsonrpc.parse_input(model.operation_model(name), req.body)
    assert got["GatewayDisplayName"] == "g"


def test_refusals_name_what_to_send() -> None:
    model = service_model("backup-gateway")
    for bad in (scope("BackupOnPremises_v20210101.PutBandwidthRateLimitSchedule"), scope("Other.CreateGateway"),
                scope("BackupOnPremises_v20210101.CreateGateway", "GET"),
                scope("BackupOnPremises_v20210101.CreateGateway", path="/service/x/operation/CreateGateway")):
        with pytest.raises(E.UnknownOperation):
            jsonrpc.operation_of(bad, model, GATEWAY)
    op = model.operation_model("CreateGateway")
    for body in (b"[]", b"{nope", b"\xff"):
        with pytest.raises(E.MalformedJSON):
            jsonrpc.parse_input(op, body)
    with pytest.raises(E.InvalidInput):
        jsonrpc.parse_input(op, json.dumps({"GatewayDisplayName": "g", "GatewayType": "BACKUP_VM"}).encode())


def test_botocore_reads_the_answer() -> None:
    op = service_model("backup-gateway").operation_model("GetGateway")
    status, headers, body = jsonrpc.response(op, {"Gateway": {
        "GatewayArn": "arn:aws:backup-gateway:us-east-1:111122223333:gateway/bgw-1234567890ABCDEF",
        "GatewayDisplayName": "g", "GatewayType": "BACKUP_VM", "LastSeenTime": 1796000000.5,
        "MaintenanceStartTime": {"HourOfDay": 3, "MinuteOfHour": 0, "DayOfWeek": 0}, "Unknown": 1}})
    parsed = create_parser("json").parse({"status_code": status, "headers": dict(headers), "body": body},
                                         op.output_shape)
    gw = parsed["Gateway"]
    assert gw["LastSeenTime"].timestamp() == 1796000000.5 and "Unknown" not in gw
    assert gw["MaintenanceStartTime"]["HourOfDay"] == 3
