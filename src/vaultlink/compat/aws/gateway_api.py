"""AWS Backup Gateway (boto3's ``backup-gateway``, JSON 1.0 on the wire) over ``service/gateways.py``:
gateways, hypervisors (a directory of raw or qcow2 images on the appliance), the virtual machines the
appliance reports, maintenance windows. Each call is the region it was signed for."""

from __future__ import annotations

from typing import Any

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import AwsCall, Handler, page_of
from vaultlink.service import gateways as S


def _in_region(call: AwsCall, rec: dict[str, Any], what: str, field: str) -> dict[str, Any]:
    if rec["region"] != call.region:
        raise E.NotFound(f"{what} {rec['id']} does not exist in {call.region} (it is in {rec['region']}).",
                         field=field)
    call.allow(_ACTION.get(field, "backup-gateway:GetGateway"), rec["arn"])
    return rec


_ACTION = {"GatewayArn": "backup-gateway:GetGateway", "HypervisorArn": "backup-gateway:GetHypervisor",
           "ResourceArn": "backup-gateway:GetVirtualMachine"}


def _gateway(call: AwsCall, arn: str) -> dict[str, Any]:
    return _in_region(call, S.get_gateway(call.svc, call.caller, arn), "gateway", "GatewayArn")


def _hypervisor(call: AwsCall, arn: str) -> dict[str, Any]:
    return _in_region(call, S.get_hypervisor(call.svc, call.caller, arn), "hypervisor", "HypervisorArn")


def _summary(g: dict[str, Any]) -> dict[str, Any]:
    return {"GatewayArn": g["arn"], "GatewayDisplayName": g["name"], "GatewayType": g["type"],
            "HypervisorId": g.get("hypervisor_id"), "LastSeenTime": g.get("last_seen")}


def create_gateway(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = S.create_gateway(call.svc, call.caller, p["ActivationKey"], p["GatewayDisplayName"], p["GatewayType"],
                         call.region)
    return {"GatewayArn": g["arn"]}


def list_gateways(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    page, token = page_of([_summary(g) for g in S.list_gateways(call.svc, call.caller, call.region)], p)
    return {"Gateways": page, "NextToken": token}


def get_gateway(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    return {"Gateway": {**_summary(g), "MaintenanceStartTime": g.get("maintenance"),
                        "VpcEndpoint": g.get("endpoint_id"), "SoftwareVersion": g.get("software_version")}}


def delete_gateway(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    S.delete_gateway(call.svc, call.caller, g["id"])
    return {"GatewayArn": g["arn"]}


def update_gateway_information(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    S.update_gateway(call.svc, call.caller, g["id"], name=p.get("GatewayDisplayName"))
    return {"GatewayArn": g["arn"]}


def put_maintenance_start_time(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    S.update_gateway(call.svc, call.caller, g["id"], maintenance={
        k: p.get(k) for k in ("HourOfDay", "MinuteOfHour", "DayOfWeek", "DayOfMonth")})
    return {"GatewayArn": g["arn"]}


def associate_gateway_to_server(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    h = _hypervisor(call, p["ServerArn"])
    S.associate(call.svc, call.caller, g["id"], h["id"])
    return {"GatewayArn": g["arn"]}


def disassociate_gateway_from_server(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    g = _gateway(call, p["GatewayArn"])
    S.disassociate(call.svc, call.caller, g["id"])
    return {"GatewayArn": g["arn"]}


def _hyp(h: dict[str, Any]) -> dict[str, Any]:
    return {"Host": h["host"], "HypervisorArn": h["arn"], "Name": h["name"], "State": h["state"]}


def import_hypervisor_configuration(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    h = S.import_hypervisor(call.svc, call.caller, p["Name"], p["Host"], call.region, p.get("Username"))
    return {"HypervisorArn": h["arn"]}


def list_hypervisors(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    page, token = page_of([_hyp(h) for h in S.list_hypervisors(call.svc, call.caller, call.region)], p)
    return {"Hypervisors": page, "NextToken": token}


def get_hypervisor(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    h = _hypervisor(call, p["HypervisorArn"])
    return {"Hypervisor": {**_hyp(h), "LatestMetadataSyncStatus": "SUCCEEDED" if h["state"] == "ONLINE"
                           else "CREATED"}}


def update_hypervisor(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    h = _hypervisor(call, p["HypervisorArn"])
    S.update_hypervisor(call.svc, call.caller, h["id"], name=p.get("Name"), host=p.get("Host"))
    return {"HypervisorArn": h["arn"]}


def delete_hypervisor(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    h = _hypervisor(call, p["HypervisorArn"])
    S.delete_hypervisor(call.svc, call.caller, h["id"])
    return {"HypervisorArn": h["arn"]}


def _vm(vm: dict[str, Any]) -> dict[str, Any]:
    return {"HostName": vm["name"], "HypervisorId": vm["parent_id"], "Name": vm["name"], "Path": vm["path"],
            "ResourceArn": vm["arn"], "LastBackupDate": vm.get("last_backup")}


def list_virtual_machines(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    hyp = _hypervisor(call, p["HypervisorArn"])["id"] if p.get("HypervisorArn") else None
    vms = S.list_vms(call.svc, call.caller, hyp, call.region)
    page, token = page_of([_vm(v) for v in vms], p)
    return {"VirtualMachines": page, "NextToken": token}


def get_virtual_machine(call: AwsCall, p: dict[str, Any]) -> dict[str, Any]:
    vm = S.get_vm(call.svc, call.caller, p["ResourceArn"])
    call.allow("backup-gateway:GetVirtualMachine", vm["arn"])
    return {"VirtualMachine": _vm(vm)}


GATEWAY_HANDLERS: dict[str, Handler] = {
    "CreateGateway": create_gateway,
    "ListGateways": list_gateways,
    "GetGateway": get_gateway,
    "DeleteGateway": delete_gateway,
    "UpdateGatewayInformation": update_gateway_information,
    "PutMaintenanceStartTime": put_maintenance_start_time,
    "AssociateGatewayToServer": associate_gateway_to_server,
    "DisassociateGatewayFromServer": disassociate_gateway_from_server,
    "ImportHypervisorConfiguration": import_hypervisor_configuration,
    "ListHypervisors": list_hypervisors,
    "GetHypervisor": get_hypervisor,
    "UpdateHypervisor": update_hypervisor,
    "DeleteHypervisor": delete_hypervisor,
    "ListVirtualMachines": list_virtual_machines,
    "GetVirtualMachine": get_virtual_machine,
}
