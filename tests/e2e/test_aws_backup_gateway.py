"""The backup gateway (issue #19), with the unmodified boto3 ``backup-gateway`` client and the appliance's CLI.

An appliance in an on-premises network activates through a backup-gateway endpoint (its name resolved by
the vnet's DNS), the operator creates the gateway with the key (boto3), the appliance claims it and keeps
a heartbeat; a hypervisor (a directory of qcow2 and raw images) is imported and associated, its VMs are
listed; the appliance backs an image up into a vault, a 1 GiB image with 1% of its blocks changed is read
for at most 5% the second time (change tracking), and both images restore exactly (``qemu-img compare``).
Every other implemented backup-gateway operation is called too, and the refusals answer the SDK's codes.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import httpx
import pytest
from botocore.exceptions import ClientError
from tests.awsclients import client
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_aws_story import aws_key
from tests.e2e.test_private_backup import PASSPHRASE

REGION = "us-east-1"
APPLIANCE = "127.82.1.50"
GiB = 1 << 30
BLOCK = 64 * 1024


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[Server]:
    cfg = tmp_path / "serve.toml"
    cfg.write_text(f'test_clock_file = "{tmp_path / "clock"}"\n')
    (tmp_path / "clock").write_text("0")
    s = start_server(tmp_path / "data", extra_args=("--regions", "aws", "--config", str(cfg)))
    try:
        yield s
    finally:
        stop_server(s)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def qemu(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120)


class Appliance:
    def __init__(self, s: Server, tmp: Path) -> None:
        self.s, self.state = s, tmp / "appliance"
        self.pw = tmp / "appliance.pass"
        self.pw.write_text(PASSPHRASE)

    def run(self, *args: str) -> Any:
        pw = ("--passphrase-file", str(self.pw)) if args[0] in ("backup", "restore", "register") else ()
        group = "agent" if args[0] == "register" else "gateway"
        return self.s.cli(group, *args, "--state-dir", str(self.state), *pw, timeout=180)

    def ok(self, *args: str) -> Any:
        r = self.run(*args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        return r.json


def test_the_gateway_activates_beats_and_backs_up_vm_images(aws: Server, tmp_path: Path) -> None:
    s = aws
    key = aws_key(s)
    gw = client(key, "backup-gateway", s.url, ca=s.ca)
    dns_at = f"127.0.0.1:{s.info['dns_port']}"
    s.ok("vnet", "create", "onprem-link", "--region", REGION, "--address-space", "127.82.0.0/16",
         "--subnet", "default=127.82.1.0/24")
    ports = ["443", "1026-1028", "1031", "2222"]
    ep = s.ok("endpoint", "create", "--name", "gw-ep", "--service", "backup-gateway", "--region", REGION,
              "--vnet", "onprem-link", "--subnet", "default",
              *[a for p in ports for a in ("--sg-rule", f"tcp:{p}:VirtualNetwork")])
    ip = ep["ips"][0] if ep.get("ips") else ep["ip_configs"][0]["ip"]
    name = f"backup-gateway.{REGION}.vaultlink.internal"
    ans = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=s.info["dns_port"], source=APPLIANCE,
                        timeout=5)
    assert [r.address for rr in ans.answer for r in rr] == [ip], "inside the vnet the name is the endpoint's"

    # activation: the appliance asks through the endpoint; the operator creates the gateway with the key
    app = Appliance(s, tmp_path)
    act = app.ok("activate", "--region", REGION, "--from", APPLIANCE, "--dns", dns_at)
    akey = act["activation_key"]
    early = app.run("run", "--beats", "1")
    assert early.error_code == "GatewayNotCreated", (early.stdout, early.stderr)
    with pytest.raises(ClientError) as out:
        gw.create_gateway(ActivationKey="not-a-key", GatewayDisplayName="x", GatewayType="BACKUP_VM")
    assert code(out) == "ValidationException"
    with pytest.raises(ClientError) as out:
        gw.create_gateway(ActivationKey="ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2", GatewayDisplayName="x",
                          GatewayType="BACKUP_VM")
    assert code(out) == "ResourceNotFoundException"
    arn = gw.create_gateway(ActivationKey=akey, GatewayDisplayName="onprem-gw", GatewayType="BACKUP_VM")["GatewayArn"]
    assert arn.startswith(f"arn:aws:backup-gateway:{REGION}:{key['account_id']}:gateway/bgw-")
    with pytest.raises(ClientError) as out:
        gw.create_gateway(ActivationKey=akey, GatewayDisplayName="again", GatewayType="BACKUP_VM")
    assert code(out) == "ConflictException"
    beat = app.ok("run", "--beats", "1")
    assert beat["gateway_arn"] == arn
    shown = gw.get_gateway(GatewayArn=arn)["Gateway"]
    assert shown["LastSeenTime"] is not None and shown["VpcEndpoint"] == ep["id"]
    assert [g["GatewayArn"] for g in gw.list_gateways()["Gateways"]] == [arn]
    # the gateway API through the endpoint itself, from the appliance's network; the backup API is not there
    inside = client(key, "backup-gateway", f"https://{ip}:{s.info['api_port']}", source_ip=APPLIANCE, ca=s.ca)
    assert [g["GatewayDisplayName"] for g in inside.list_gateways()["Gateways"]] == ["onprem-gw"]
    backup_there = client(key, "backup", f"https://{ip}:{s.info['api_port']}", source_ip=APPLIANCE, ca=s.ca)
    with pytest.raises(ClientError) as out:
        backup_there.list_backup_vaults()
    assert "serves backup-gateway" in str(out.value), out.value
    claims = s.ok("audit", "list", "--action", "gateway.claim", "--decision", "allowed")
    assert claims and claims[0]["endpoint"] == ep["id"] and claims[0]["source_ip"] == APPLIANCE

    # a day later a heartbeat replaces the gateway's credential: a copy of the appliance's gateway.json stops working
    (tmp_path / "copied").mkdir()
    copy = Appliance(s, tmp_path / "copied")
    shutil.copytree(app.state, copy.state)
    (tmp_path / "clock").write_text(str(86400 + 60))
    app.ok("run", "--beats", "2", "--interval", "0.05")
    assert json.loads((app.state / "gateway.json").read_text())["credential"] != json.loads(
        (copy.state / "gateway.json").read_text())["credential"]
    (tmp_path / "clock").write_text(str(86400 + 60 + 400))  # past the five minutes for a beat on its way
    stolen = copy.run("run", "--beats", "1")
    assert stolen.error_code == "InvalidApiKey" and "replaced by a newer one" in stolen.stdout, stolen.stdout
    assert app.ok("run", "--beats", "1")["gateway_arn"] == arn

    # a hypervisor: a directory of images; associated, its VMs are listed after the next heartbeat
    vms = tmp_path / "vms"
    vms.mkdir()
    big = vms / "web.qcow2"
    qemu("qemu-img", "create", "-f", "qcow2", str(big), str(GiB))
    qemu("qemu-io", "-c", "write -P 0x5a 0 48M", "-c", "write -P 0x33 512M 16M", str(big))
    raw = vms / "db.raw"
    with open(raw, "wb") as f:
        f.truncate(32 << 20)
        f.seek(3 << 20)
        f.write(random.Random(7).randbytes(2 << 20))
    hyp = gw.import_hypervisor_configuration(Name="lab", Host=str(vms), Username="admin",
                                             Password="not-stored")["HypervisorArn"]
    assert gw.get_hypervisor(HypervisorArn=hyp)["Hypervisor"]["State"] == "PENDING"
    gw.associate_gateway_to_server(GatewayArn=arn, ServerArn=hyp)
    app.ok("run", "--beats", "1")
    listed = {v["Name"]: v for v in gw.list_virtual_machines(HypervisorArn=hyp)["VirtualMachines"]}
    assert set(listed) == {"web.qcow2", "db.raw"}
    vm = gw.get_virtual_machine(ResourceArn=listed["web.qcow2"]["ResourceArn"])["VirtualMachine"]
    assert vm["Path"] == f"{vms}/web.qcow2"
    assert [h["State"] for h in gw.list_hypervisors()["Hypervisors"]] == ["ONLINE"]

    # the appliance registers with a vault and backs the images up
    s.ok("vault", "create", "onprem-vault", "--region", REGION)
    creds = tmp_path / "onprem.creds"
    assert s.cli("vault", "credentials", "onprem-vault", "-o", str(creds), json_out=False).exit_code == 0
    app.ok("register", "--credentials", str(creds), "--source-ip", APPLIANCE, "--dns", dns_at,
           "--hostname", "onprem-gw", "--kind", "gateway")
    first = app.ok("backup", "lab/web.qcow2")
    assert first["incremental"] is False and first["bytes_read"] == 64 << 20, "only the allocated data is read"
    # 1% of the image's 64 KiB blocks change
    rnd = random.Random(1)
    changed = rnd.sample(range(GiB // BLOCK), GiB // BLOCK // 100)
    cmds = [a for b in changed for a in ("-c", f"write -P {b % 200 + 1} {b * BLOCK} {BLOCK}")]
    for i in range(0, len(cmds), 80):
        qemu("qemu-io", *cmds[i:i + 80], str(big))
    second = app.ok("backup", "lab/web.qcow2")
    assert second["incremental"] is True and second["blocks_read"] == len(changed)
    assert second["bytes_read"] <= 0.05 * GiB, second
    out = tmp_path / "restored-web.raw"
    got = app.ok("restore", "lab/web.qcow2", "--to", str(out))
    assert got["recovery_point"] == second["recovery_point"]
    qemu("qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(big), str(out))
    older = tmp_path / "first-web.qcow2"
    app.ok("restore", "web.qcow2", "--to", str(older), "--point", first["recovery_point"], "--format", "qcow2")
    diff = subprocess.run(["qemu-img", "compare", str(big), str(older)], capture_output=True, timeout=120)
    assert diff.returncode == 1, "the first point is the image before the change"
    app.ok("backup", "db.raw")
    back = tmp_path / "db-back.raw"
    app.ok("restore", "lab/db.raw", "--to", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(raw.read_bytes()).digest()
    assert app.run("restore", "db.raw", "--to", str(back)).error_code == "InvalidInput", "never overwritten"
    app.ok("run", "--beats", "1")
    listed = {v["Name"]: v for v in gw.list_virtual_machines()["VirtualMachines"]}
    assert listed["web.qcow2"].get("LastBackupDate") is not None

    # maintenance, names, and taking it apart
    gw.put_maintenance_start_time(GatewayArn=arn, HourOfDay=2, MinuteOfHour=30, DayOfWeek=6)
    assert gw.get_gateway(GatewayArn=arn)["Gateway"]["MaintenanceStartTime"] == {
        "HourOfDay": 2, "MinuteOfHour": 30, "DayOfWeek": 6}
    with pytest.raises(ClientError) as out:
        gw.put_maintenance_start_time(GatewayArn=arn, HourOfDay=2, MinuteOfHour=0, DayOfWeek=1, DayOfMonth=3)
    assert code(out) == "ValidationException"
    gw.update_gateway_information(GatewayArn=arn, GatewayDisplayName="onprem-gw-2")
    gw.update_hypervisor(HypervisorArn=hyp, Name="lab-2")
    assert s.ok("gateway", "show", arn)["name"] == "onprem-gw-2"
    gw.disassociate_gateway_from_server(GatewayArn=arn)
    assert gw.get_gateway(GatewayArn=arn)["Gateway"].get("HypervisorId") is None
    gw.delete_hypervisor(HypervisorArn=hyp)
    assert gw.list_hypervisors()["Hypervisors"] == []
    gw.delete_gateway(GatewayArn=arn)
    gone = app.run("run", "--beats", "1")
    assert gone.error_code == "InvalidApiKey", "a deleted gateway's credential stops at once"
    with pytest.raises(ClientError) as out:
        gw.get_gateway(GatewayArn=arn)
    assert code(out) == "ResourceNotFoundException"


def test_activation_and_claim_refusals(aws: Server) -> None:
    s = aws
    h = httpx.Client(verify=s.verify, timeout=10)
    secret = "s" * 40
    made = h.post(f"{s.url}/v1/gateway/activations", json={
        "claim_hash": hashlib.sha256(secret.encode()).hexdigest(), "region": REGION})
    assert made.status_code == 201
    akey = made.json()["activation_key"]
    gw = client(aws_key(s), "backup-gateway", s.url, ca=s.ca)
    arn = gw.create_gateway(ActivationKey=akey, GatewayDisplayName="g", GatewayType="BACKUP_VM")["GatewayArn"]
    wrong = h.post(f"{s.url}/v1/gateway/activations/{akey}/claim", json={"claim_secret": "t" * 40})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "AccessDenied"
    denied = s.ok("audit", "list", "--action", "gateway.claim", "--decision", "denied")
    assert denied and denied[0]["code"] == "AccessDenied"
    good = h.post(f"{s.url}/v1/gateway/activations/{akey}/claim", json={"claim_secret": secret})
    assert good.status_code == 200
    cred = good.json()["credential"]
    again = h.post(f"{s.url}/v1/gateway/activations/{akey}/claim", json={"claim_secret": secret})
    assert again.json()["error"]["code"] == "NotFound", "a key is claimed once"
    # the gateway credential only beats
    bearer = {"Authorization": f"Bearer {cred}"}
    assert h.get(f"{s.url}/v1/gateways", headers=bearer).json()["error"]["code"] == "AccessDenied"
    assert h.get(f"{s.url}/v1/vaults", headers=bearer).json()["error"]["code"] == "AccessDenied"
    assert h.post(f"{s.url}/v1/gateway/heartbeat", headers=bearer, json={"vms": []}).status_code == 200
    owner = {"Authorization": f"Bearer {s.owner_key}"}
    assert h.post(f"{s.url}/v1/gateway/heartbeat", headers=owner, json={}).json()["error"]["code"] == "AccessDenied"
    bad = h.post(f"{s.url}/v1/gateway/heartbeat", headers=bearer, json={"vms": [{"name": "../x"}]})
    assert bad.status_code == 400
    # a key from another region is refused; nothing is stored
    west = h.post(f"{s.url}/v1/gateway/activations", json={"claim_hash": "0" * 64, "region": "us-west-2"}).json()
    with pytest.raises(ClientError) as out:
        gw.create_gateway(ActivationKey=west["activation_key"], GatewayDisplayName="w", GatewayType="BACKUP_VM")
    assert code(out) == "ValidationException" and "us-west-2" in str(out.value)
    assert [g["GatewayArn"] for g in gw.list_gateways()["Gateways"]] == [arn]
    # activations are bounded per source address
    codes = [h.post(f"{s.url}/v1/gateway/activations", json={"claim_hash": "1" * 64, "region": REGION}).status_code
             for _ in range(25)]
    assert 429 in codes
