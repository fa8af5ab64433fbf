"""The backup gateway appliance (issue #19): ``vaultlink gateway activate | run | vms | backup | restore``
on an on-premises machine.

Control goes through a ``backup-gateway`` endpoint (``backup-gateway.<region>.<domain>``, resolved by the
appliance's DNS, or the endpoint's address given with ``--endpoint-ip``): the appliance asks for an
activation key, keeps the claim secret to itself, claims its gateway credential once an operator has
created the gateway with the key, and sends a heartbeat with the images of its hypervisors. Backups go
into a vault like any agent's (the appliance registers with the vault: ``vaultlink agent register --kind
gateway``), one protected item per image (``vm://HYPERVISOR/IMAGE``); ``agent/vm_image.py`` reads them.

The appliance's own state is ``gateway.json`` (mode 0600) in the agent's state directory.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from hashlib import sha256
from pathlib import Path
from typing import Any

from vaultlink.agent import vm_image as I
from vaultlink.agent.http import AgentHttp
from vaultlink.agent.proxy import proxy_for
from vaultlink.agent.resolver import DnsResolver, Resolver, StaticResolver
from vaultlink.agent.session import Agent
from vaultlink.agent.state import exclusive, write_private
from vaultlink.data.manifest import Manifest
from vaultlink.data.stream import read_stream
from vaultlink.errors import GatewayNotCreated, InvalidInput, NotFound, NotRegistered, ServiceUnavailable

VERSION = "vaultlink-gateway-1"
MAX_BEATS_PER_RUN = 100_000


@dataclass
class GatewayState:
    region: str
    domain: str
    port: int
    source_ip: str
    dns: str = ""  # HOST:PORT of the resolver that answers the endpoint's name; "" with endpoint_ip
    endpoint_ip: str = ""
    ca_pem: str = ""
    proxy: str = ""
    activation_key: str = ""
    claim_secret: str = ""
    credential: str = ""
    gateway_arn: str = ""
    hypervisors: list[dict[str, Any]] = field(default_factory=list)
    vms: dict[str, dict[str, Any]] = field(default_factory=dict)  # "hyp/image" -> bitmap, point, last_backup
    last_beat: float | None = None

    @property
    def host(self) -> str:
        return f"backup-gateway.{self.region}.{self.domain}"

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        for secret in ("claim_secret", "credential", "ca_pem"):
            d.pop(secret)
        d["activated"] = bool(self.credential)
        return d


def gateway_path(state_dir: Path) -> Path:
    return state_dir / "gateway.json"


def load(state_dir: Path) -> GatewayState:
    path = gateway_path(state_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotRegistered(f"this appliance was not activated (no {path}); run `vaultlink gateway activate` "
                            "first.") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"the gateway state {path} is unreadable ({exc}); activate again.") from None
    known = set(GatewayState.__dataclass_fields__)
    return GatewayState(**{k: v for k, v in raw.items() if k in known})


def save(state_dir: Path, st: GatewayState) -> None:
    write_private(gateway_path(state_dir), asdict(st))


class Appliance:
    def __init__(self, st: GatewayState, state_dir: Path, resolver: Resolver | None = None) -> None:
        self.st, self.state_dir = st, state_dir
        if resolver is None:
            resolver = (StaticResolver({st.host: st.endpoint_ip}) if st.endpoint_ip
                        else DnsResolver(st.dns, st.source_ip, st.domain))
        self.http = AgentHttp(resolver, st.port, st.source_ip or None, st.credential or None, retry_for=20.0,
                              domain=st.domain, ca_pem=st.ca_pem, proxy=proxy_for(st.proxy, "", dict(os.environ)))

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: Any) -> Any:
        return self.http.json(self.st.host, "POST", path, body)

    # --- activation --------------------------------------------------------------------------------------
    def activate(self) -> dict[str, Any]:
        """Ask the endpoint for an activation key (a new claim secret each time); the key is for the operator."""
        secret = secrets.token_urlsafe(32)
        out = self._post("/v1/gateway/activations", {"claim_hash": sha256(secret.encode()).hexdigest(),
                                                      "region": self.st.region})
        self.st.activation_key, self.st.claim_secret = out["activation_key"], secret
        self.st.credential = self.st.gateway_arn = ""
        save(self.state_dir, self.st)
        return {"activation_key": out["activation_key"], "region": self.st.region, "expires": out["expires"],
                "next": "create the gateway with this key: `aws backup-gateway create-gateway --activation-key "
                        f"{out['activation_key']} --gateway-display-name NAME --gateway-type BACKUP_VM` (or "
                        "`vaultlink gateway create`), then run `vaultlink gateway run` here."}

    def claim(self, wait: float = 0.0) -> bool:
        """Claim the gateway credential (waiting up to ``wait`` seconds for the operator); True once held."""
        if self.st.credential:
            return True
        if not self.st.activation_key:
            raise NotRegistered("this appliance has no activation key: run `vaultlink gateway activate`.")
        deadline = time.monotonic() + wait
        while True:
            try:
                out = self._post(f"/v1/gateway/activations/{self.st.activation_key}/claim",
                                 {"claim_secret": self.st.claim_secret})
                break
            except GatewayNotCreated:
                if time.monotonic() + 1.0 > deadline:
                    return False
                time.sleep(1.0)
        self.st.credential, self.st.gateway_arn = out["credential"], out["gateway_arn"]
        self.st.claim_secret = ""
        save(self.state_dir, self.st)
        self.http.token = self.st.credential
        return True

    # --- heartbeat ---------------------------------------------------------------------------------------
    def inventory(self) -> list[dict[str, Any]]:
        out = []
        for h in self.st.hypervisors:
            for img in I.scan(h["host"]):
                key = f"{h['name']}/{img['name']}"
                out.append({"hypervisor": h["id"], "name": img["name"], "format": img["format"],
                            "size": img["size"], "last_backup": self.st.vms.get(key, {}).get("last_backup")})
        return out

    def beat(self) -> dict[str, Any]:
        """One heartbeat (a second one at once when the hypervisors changed, with their images)."""
        if not self.claim():
            raise GatewayNotCreated(f"no gateway was created with activation key {self.st.activation_key} yet.")
        out: dict[str, Any] = {}
        for _ in range(2):
            out = self._post("/v1/gateway/heartbeat", {"vms": self.inventory(), "version": VERSION})
            if isinstance(out.get("credential"), str):  # a new one, a day after the last: saved before its first use
                save(self.state_dir, replace(self.st, credential=out["credential"]))
                self.st.credential = self.http.token = out["credential"]
            changed = out["hypervisors"] != self.st.hypervisors
            self.st.hypervisors = out["hypervisors"]
            if not changed:
                break
        self.st.last_beat = time.time()
        save(self.state_dir, self.st)
        return {"gateway_arn": out["gateway_arn"], "hypervisors": out["hypervisors"],
                "vms": len(self.inventory()), "maintenance": out.get("maintenance")}

    def run(self, beats: int, interval: float, wait: float) -> dict[str, Any]:
        """Claim (waiting ``wait`` s for the operator), then ``beats`` heartbeats ``interval`` s apart."""
        if not self.claim(wait):
            raise GatewayNotCreated(f"no gateway was created with activation key {self.st.activation_key} within "
                                    f"{wait:.0f} s; create it, then run again.")
        last: dict[str, Any] = {}
        failures = 0
        for i in range(max(1, min(beats, MAX_BEATS_PER_RUN))):
            if i:
                time.sleep(interval)
            try:
                last = self.beat()
                failures = 0
            except ServiceUnavailable:
                failures += 1  # the endpoint away for a while: keep beating
                if failures >= 10:
                    raise
        return {**last, "beats": max(1, beats)}

    # --- images ------------------------------------------------------------------------------------------
    def find(self, ref: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """("hypervisor/image", hypervisor, image) for ``ref`` (``IMAGE`` or ``HYPERVISOR/IMAGE``)."""
        hyp_name, _, img_name = ref.rpartition("/")
        found = []
        for h in self.st.hypervisors:
            if hyp_name and h["name"] != hyp_name:
                continue
            for img in I.scan(h["host"]):
                if img["name"] == img_name:
                    found.append((f"{h['name']}/{img['name']}", h, img))
        if not found:
            known = [f"{h['name']}/{i['name']}" for h in self.st.hypervisors for i in I.scan(h["host"])]
            raise NotFound(f"no image {ref!r} in this gateway's hypervisors; known: {', '.join(known) or 'none'} "
                           "(`vaultlink gateway run` fetches the hypervisors associated with the gateway).")
        if len(found) > 1:
            raise InvalidInput(f"{ref!r} is in several hypervisors; name it HYPERVISOR/IMAGE.", field="vm")
        return found[0]


def item_path(key: str) -> str:
    return f"vm://{key}"


def backup_vm(app: Appliance, agent: Agent, ref: str, passphrase: str) -> dict[str, Any]:
    """A recovery point of one image: changed blocks only when its change tracking follows the last point."""
    key, hyp, img = app.find(ref)
    path, fmt = img["path"], img["format"]
    memo = app.st.vms.get(key, {})
    report: dict[str, Any] = {}

    def engine(repo: Any, parent: str | None) -> Any:
        new_bitmap = None
        dirty = None
        previous: Manifest | None = None
        if fmt == "qcow2":
            present = I.bitmaps(path)
            old = memo.get("bitmap")
            if parent is not None and memo.get("point") == parent and old in present:
                dirty = I.dirty_ranges(path, old)
                prev = next((rp for rp in agent.recovery_points() if rp["id"] == parent), None)
                previous = repo.load_manifest(prev["manifest"]) if prev else None
            new_bitmap = I.add_bitmap(path)  # tracks the writes from now on (this backup's reads included)
        try:
            done = I.backup_image(img["name"], path, fmt, repo, previous, dirty, hostname=agent.state.hostname,
                                  tags={"workload": "vm", "format": fmt, "hypervisor": hyp["name"],
                                        "block": str(I.BLOCK)}, parent=parent)
        except BaseException:
            if new_bitmap is not None:
                I.remove_bitmap(path, new_bitmap)
            raise
        report.update(blocks=done.blocks, blocks_read=done.blocks_read, incremental=done.tracked,
                      new_bitmap=new_bitmap)
        return done.result

    with exclusive(app.state_dir, "backup"):
        out = agent.run_job([item_path(key)], passphrase, None, engine)
    new_bitmap = report.pop("new_bitmap", None)
    if fmt == "qcow2" and new_bitmap:  # the point is recorded: the previous bitmap is done
        old = memo.get("bitmap")
        if old and old != new_bitmap and old in I.bitmaps(path):
            I.remove_bitmap(path, old)
    app.st.vms[key] = {"bitmap": new_bitmap, "point": out["recovery_point"]["id"], "last_backup": time.time()}
    save(app.state_dir, app.st)
    stats = out["stats"]
    size = stats["bytes_total"]
    return {"vm": key, "recovery_point": out["recovery_point"]["id"], "format": fmt, "size": size,
            "bytes_read": stats["bytes_read"], "read_fraction": round(stats["bytes_read"] / max(1, size), 4),
            **report, "stats": stats}


def restore_vm(app: Appliance, agent: Agent, ref: str, target: str, passphrase: str, point: str | None = None,
               fmt: str = "raw") -> dict[str, Any]:
    """Write an image's recovery point (default: the latest) to ``target``."""
    if "/" in ref:
        key = ref
    else:
        keys = [k for k in app.st.vms if k.rsplit("/", 1)[-1] == ref]
        if len(keys) > 1:
            raise InvalidInput(f"{ref!r} was backed up from several hypervisors; name it HYPERVISOR/IMAGE.",
                               field="vm")
        key = keys[0] if keys else app.find(ref)[0]
    rps = [rp for rp in agent.recovery_points() if rp.get("status") == "Completed"
           and rp.get("paths") == [item_path(key)]]
    if point is not None:
        rps = [rp for rp in rps if rp["id"] == point]
    if not rps:
        raise NotFound(f"no recovery point of {ref!r}" + (f" with id {point}" if point else "") + " in this vault.")
    rp = max(rps, key=lambda r: float(r["time"]))
    repo = agent.open_repository(passphrase)
    try:
        manifest = repo.load_manifest(rp["manifest"])
        out = I.restore_image(manifest, repo, target, fmt, read_stream)
    finally:
        repo.close()
    return {"vm": key, "recovery_point": rp["id"], **out}
