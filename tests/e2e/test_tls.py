"""TLS on every listener (issue #17): certificates from the deployment's CA, kept in the metadata store with
its key sealed, that verify for each listener's names and addresses; clients that trust something else are
refused; plain HTTP is an opt-in that says it is insecure; ``aws:SecureTransport`` is true over TLS."""

from __future__ import annotations

import json
import socket
import sqlite3
import ssl
from pathlib import Path

import httpx
import pytest
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_private_backup import Vm, make_data, private_vault


def peer_cert(ip: str, port: int, ca: str, server_name: str | None) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((ip, port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name or ip) as tls:
        cert = tls.getpeercert()
    assert cert is not None
    return dict(cert)


def test_every_listener_presents_a_certificate_of_the_deployment_ca(server: Server, tmp_path: Path) -> None:
    s = server
    ca = str(s.data_dir / "ca.pem")
    port = int(s.info["api_port"])
    assert s.url.startswith("https://") and s.info["tls"] is True and s.info["ca_file"] == ca
    assert "TLS with this deployment's CA" in s.log()
    peer_cert("127.0.0.1", port, ca, None)  # the public endpoint, by address
    peer_cert("127.0.0.1", port, ca, "localhost")
    vid, creds = private_vault(s, tmp_path)
    ip = s.ok("endpoint", "show", "pe1")["ips"][0]
    for name in (None, f"{vid}.privatelink.l1.backup.vaultlink.internal", f"{vid}.l1.backup.vaultlink.internal"):
        peer_cert(ip, port, ca, name)  # a private endpoint, by its address and by the names it serves
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "127.21.0.0/16", "--subnet",
         "a=127.21.1.0/24")
    se = s.ok("endpoint", "create", "--name", "api", "--service", "backup", "--region", "local-1", "--vnet",
              "app-net", "--subnet", "a", "--private-dns")
    peer_cert(se["ips"][0], port, ca, "backup.local-1.vaultlink.internal")
    peer_cert(se["ips"][0], port, ca, f"{se['id']}.backup.local-1.vpce.vaultlink.internal")
    # a name outside the service's, or a client trusting only the system's CAs, is refused
    with pytest.raises(ssl.SSLCertVerificationError):
        peer_cert("127.0.0.1", port, ca, "example.com")
    with pytest.raises(ssl.SSLCertVerificationError), socket.create_connection(("127.0.0.1", port), timeout=5) as r, \
            ssl.create_default_context().wrap_socket(r, server_hostname="localhost"):
        pass
    # plain HTTP gets no HTTP answer from a TLS listener
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = plain.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")

    # the vault credentials carry the CA; the agent verifies the service with it
    carried = json.loads(creds.read_text())
    assert carried["tls"] is True and carried["ca_pem"] == Path(ca).read_text()
    vm = Vm(s, tmp_path, "vm-a", "127.10.1.10")
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    assert vm.ok("status")["tls"] is True
    src = make_data(tmp_path / "src", 4)
    assert vm.ok("backup", str(src))["recovery_point"]["id"]
    # an agent that trusts another CA stops with a message saying so, and sends nothing
    state = json.loads((vm.state / "state.json").read_text())
    other = tmp_path / "other-ca"
    other_srv = start_server(other)
    try:
        state["ca_pem"] = (other / "ca.pem").read_text()
    finally:
        stop_server(other_srv)
    (vm.state / "state.json").write_text(json.dumps(state))
    r = vm.run("backup", str(src))
    assert r.exit_code != 0 and "does not verify against the vault credentials' CA" in r.stderr + r.stdout


def test_the_ca_is_kept_in_the_store_with_its_key_sealed(tmp_path: Path) -> None:
    s = start_server(tmp_path / "data")
    try:
        first = (tmp_path / "data" / "ca.pem").read_text()
    finally:
        stop_server(s)
    (tmp_path / "data" / "ca.pem").unlink()
    s = start_server(tmp_path / "data")  # a restart presents the same CA (and writes ca.pem again)
    try:
        assert (tmp_path / "data" / "ca.pem").read_text() == first
    finally:
        stop_server(s)
    with sqlite3.connect(tmp_path / "data" / "vaultlink.db") as db:
        body = db.execute("SELECT body FROM records WHERE kind = 'pki'").fetchone()[0]
    rec = json.loads(body)
    assert rec["cert_pem"] == first and rec["key_sealed"].startswith("v1:") and "PRIVATE KEY" not in body


def test_plain_http_is_an_insecure_opt_in_and_secure_transport_follows_it(tmp_path: Path) -> None:
    for tls in (True, False):
        cfg = tmp_path / f"tls-{tls}.toml"
        cfg.write_text(f"tls = {str(tls).lower()}\n")
        s = start_server(tmp_path / f"data-{tls}", extra_args=("--config", str(cfg)))
        try:
            assert s.url.startswith("https://" if tls else "http://")
            assert ("WARNING: plain HTTP" in s.log()) is (not tls)
            work = tmp_path / f"w-{tls}"
            work.mkdir()
            vid, creds = private_vault(s, work)
            # an endpoint policy that denies requests that are not over TLS
            policy = tmp_path / "tls-only.json"
            policy.write_text(json.dumps({"Statement": [
                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}))
            s.ok("endpoint", "policy", "set", "pe1", str(policy))
            vm = Vm(s, work, "vm", "127.10.1.10")
            r = vm.register(creds, f"127.0.0.1:{s.info['dns_port']}")
            if tls:
                assert r.exit_code == 0, r.stderr
            else:
                assert r.exit_code != 0 and "TlsOnly" in r.stderr + r.stdout
                assert json.loads(creds.read_text())["ca_pem"] is None
            with httpx.Client(verify=s.verify, trust_env=False) as h:
                assert h.get(s.url + "/healthz").status_code == 200
            assert vid
        finally:
            stop_server(s)
