"""The three network modes as a test sees them: where the VMs are, how they run programs, what they reach.

Host and netns modes run only inside an outer network + mount namespace that the test makes first
(``OuterNs``: ``unshare --net --mount``): the server and every namespace, veth and address it creates
live there, joined only to each other; nothing touches the machine's interfaces, routes or resolver, and
killing the outer namespace's holder process (by PID) tears it all down.

A test body written against :class:`Net` runs unchanged in every mode:

- ``net.space(vnet)`` / ``net.subnet(vnet)``: the vnet's address plan; ``net.vm_ip(vnet)``: the address the
  service sees for that vnet's VM; ``net.internet_ip``: the address it sees for the internet;
  ``net.public_ip``: what DNS answers for a public name;
- ``net.dig(name, who)``, ``net.http_code(who, ip, host)``: a VM (``who`` = a vnet name) or the internet
  (``who`` = "internet") asking;
- ``net.vm_cli(who, *args)``: ``vaultlink …`` run as that machine; ``net.locate(who)``: the agent's
  ``register`` options there; ``net.rehome(state, who)``: a copied agent state moved to another machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VAULTLINK, CliResult, Server, start_server

PLAN = {"vm-net": ("10.10.0.0/16", "10.10.1.0/24"), "app-net": ("10.11.0.0/16", "10.11.1.0/24")}
LOOPBACK_PLAN = {"vm-net": ("127.10.0.0/16", "127.10.1.0/24"), "app-net": ("127.11.0.0/16", "127.11.1.0/24")}


def namespaces_available() -> str | None:
    """None when this machine lets the test make namespaces (root, CAP_SYS_ADMIN), else why not."""
    for tool in ("unshare", "nsenter", "ip", "curl", "dig"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    r = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "true"], capture_output=True,
                       text=True, timeout=30)
    return None if r.returncode == 0 else f"cannot create namespaces here ({r.stderr.strip()}): needs root"


def require_namespaces() -> None:
    why = namespaces_available()
    if why is not None:
        pytest.skip(f"HOST AND NETNS MODES NOT TESTED: {why}")


class OuterNs:
    """A network and mount namespace of the test's own, held by one sleeping process."""

    def __init__(self) -> None:
        self.holders: list[subprocess.Popen[bytes]] = []
        self.pid = self._hold(["unshare", "--net", "--mount", "--propagation", "private", "--"],
                              os.readlink("/proc/self/ns/net"))

    def _hold(self, cmd: list[str], *around: str) -> int:
        """Start ``cmd`` (which makes a new network namespace) holding it with ``sleep``; return its PID once
        the process is in a namespace that is none of ``around`` (the test's own and, for a machine, the outer
        one: not still on its way through ``nsenter``) with ``lo`` up. Until then nothing may be moved into it:
        it could still be the machine's own namespace."""
        proc = subprocess.Popen([*cmd, "sh", "-c", "ip link set lo up && exec sleep 3600"])
        self.holders.append(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                moved = os.readlink(f"/proc/{proc.pid}/ns/net") not in around
            except OSError:
                moved = False
            if moved:
                r = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "ip", "-o", "link", "show", "lo"],
                                   capture_output=True, text=True)
                if ",UP" in r.stdout:
                    return proc.pid
            time.sleep(0.05)
        raise RuntimeError("the test's namespace did not come up")

    @property
    def enter(self) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-n", "-m", "--"]

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*self.enter, *cmd], capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {r.stderr}")
        return r

    def machine(self, ifname: str, server_cidr: str, machine_cidr: str) -> list[str]:
        """A machine: a namespace inside this one, on a veth whose other end (``ifname``, ``server_cidr``)
        stays here; its default route leads here. Returns the prefix that runs a command on it."""
        pid = self._hold([*self.enter, "unshare", "--net", "--"], os.readlink("/proc/self/ns/net"),
                         os.readlink(f"/proc/{self.pid}/ns/net"))
        gw = server_cidr.split("/")[0]
        self.run("ip", "link", "add", ifname, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
        self.run("ip", "addr", "add", server_cidr, "dev", ifname)
        self.run("ip", "link", "set", ifname, "up")
        on = ["nsenter", "-t", str(pid), "-n", "--"]
        for cmd in (["ip", "addr", "add", machine_cidr, "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "route", "add", "default", "via", gw, "dev", "eth0", "onlink"]):
            r = subprocess.run([*on, *cmd], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"{cmd} in the machine's namespace failed: {r.stderr}")
        return ["nsenter", "-t", str(pid), "-n", "-m", "--"]

    def close(self) -> None:
        for proc in reversed(self.holders):
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


def curl(s: Server) -> list[str]:
    """curl trusting the server's deployment CA (every listener speaks TLS), silent."""
    return ["curl", "--cacert", str(s.data_dir / "ca.pem"), "-s"]


def run_cli(
    prefix: list[str], *args: str, env: dict[str, str], json_out: bool = True, timeout: float = 120
) -> CliResult:
    argv = [*prefix, VAULTLINK, *args]
    if json_out and "-o" not in args:
        argv += ["-o", "json"]
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    return CliResult(p.returncode, p.stdout, p.stderr)


class Net:
    """One mode's view of the story's networks (see the module's docstring)."""

    mode = "loopback"
    plan = LOOPBACK_PLAN

    def __init__(self, server: Server) -> None:
        self.s = server

    def space(self, vnet: str) -> str:
        return self.plan[vnet][0]

    def subnet(self, vnet: str) -> str:
        return self.plan[vnet][1]

    def subnet_prefix(self, vnet: str) -> str:
        return self.subnet(vnet).rsplit(".", 1)[0] + "."

    def vm_ip(self, vnet: str) -> str:
        return self.subnet_prefix(vnet) + "100"

    internet_ip = "127.0.0.1"
    public_ip = "127.0.0.1"

    def prefix(self, who: str) -> list[str]:
        return self.s.prefix

    def source(self, who: str) -> str:
        return self.internet_ip if who == "internet" else self.vm_ip(who)

    def dns_server(self, who: str) -> tuple[str, int]:
        return "127.0.0.1", int(self.s.info["dns_port"])

    def dig(self, name: str, who: str) -> list[str]:
        return self.dig_from(name, self.source(who), who)

    def dig_from(self, name: str, source: str, who: str = "internet") -> list[str]:
        host, port = self.dns_server(who)
        cmd = [*self.prefix(who), "dig", "-b", source, f"@{host}", "-p", str(port), name, "+short",
               "+time=2", "+tries=2"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout.split()

    def http_code(self, who: str, ip: str, host: str) -> str | None:
        """The error code of an unauthenticated request sent by ``who`` straight to ``ip``."""
        cmd = [*self.prefix(who), *curl(self.s), "-m", "5", "--interface", self.source(who), "-H", f"host: {host}",
               f"https://{ip}:{self.s.info['api_port']}/recovery-points"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout
        try:
            return str(json.loads(out)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None

    def vm_cli(self, who: str, *args: str, timeout: float = 120) -> CliResult:
        return run_cli(self.prefix(who), *args, env=self.s.env(), timeout=timeout)

    def locate(self, who: str) -> list[str]:
        host, port = self.dns_server(who)
        return ["--source-ip", self.source(who), "--dns", f"{host}:{port}"]

    def rehome(self, state: dict[str, Any], who: str) -> dict[str, Any]:
        host, port = self.dns_server(who)
        return {**state, "source_ip": self.source(who), "dns": f"{host}:{port}"}


class NetnsNet(Net):
    """Netns mode: each vnet a namespace; VMs are ``vaultlink vnet exec VNET -- …`` processes that use the
    vnet's DNS through their resolv.conf, seen by the service at the vnet's base + 1."""

    mode = "netns"
    plan = PLAN
    internet_ip = "198.18.0.1"
    public_ip = "198.18.0.1"

    def vm_ip(self, vnet: str) -> str:
        return self.space(vnet).split("/")[0].rsplit(".", 1)[0] + ".1"

    def _exec(self, who: str) -> list[str]:
        where = ["--internet"] if who == "internet" else [who]
        return [*self.s.prefix, VAULTLINK, "vnet", "exec", *where, "--"]

    def dig(self, name: str, who: str) -> list[str]:
        cmd = [*self._exec(who), "dig", name, "+short", "+time=2", "+tries=2"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=self.s.env(),
                              check=False).stdout.split()

    def http_code(self, who: str, ip: str, host: str) -> str | None:
        cmd = [*self._exec(who), *curl(self.s), "-m", "5", "-H", f"host: {host}",
               f"https://{ip}:{self.s.info['api_port']}/recovery-points"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=self.s.env(), check=False).stdout
        try:
            return str(json.loads(out)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None

    def vm_cli(self, who: str, *args: str, timeout: float = 120) -> CliResult:
        return run_cli(self._exec(who), *args, env=self.s.env(), timeout=timeout)

    def locate(self, who: str) -> list[str]:
        return []  # the machine's own resolver (the vnet's DNS address) and the kernel's source address

    def rehome(self, state: dict[str, Any], who: str) -> dict[str, Any]:
        return {**state, "source_ip": "", "dns": ""}


class HostNet(Net):
    """Host mode: the server's namespace has a veth to a machine namespace per vnet subnet; endpoint IPs
    are added to the server's end. The internet is the server's own namespace (127.0.0.1)."""

    mode = "host"
    plan = PLAN

    def __init__(self, server: Server, machines: dict[str, list[str]]) -> None:
        super().__init__(server)
        self.machines = machines

    def prefix(self, who: str) -> list[str]:
        return self.s.prefix if who == "internet" else self.machines[who]

    def server_ip(self, vnet: str) -> str:
        return self.subnet_prefix(vnet) + "1"

    def dns_server(self, who: str) -> tuple[str, int]:
        return ("127.0.0.1" if who == "internet" else self.server_ip(who)), int(self.s.info["dns_port"])


def start_in(outer: OuterNs, tmp: Path, mode: str, config: str = "") -> Server:
    cfg = tmp / f"{mode}.toml"
    text = f'fabric = "{mode}"\n'
    if mode == "netns":
        text += f'netns_dir = "{tmp / "netns"}"\nnetns_etc_dir = "{tmp / "netns-etc"}"\n'
    if mode == "host":
        text += 'dns_address = "0.0.0.0"\n'
    cfg.write_text(text + config)
    return start_server(tmp / f"data-{mode}", ("--config", str(cfg)), prefix=outer.enter, timeout=30)


def host_machines(outer: OuterNs) -> dict[str, list[str]]:
    """One machine per story vnet, on that vnet's subnet (server .1, machine .100)."""
    out = {}
    for i, vnet in enumerate(PLAN):
        prefix = PLAN[vnet][1].rsplit(".", 1)[0]
        out[vnet] = outer.machine(f"sv{i}", f"{prefix}.1/24", f"{prefix}.100/24")
    return out
