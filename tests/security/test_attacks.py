"""The attack table: each row an attack on the running service (the breaks the hostile test found, and the
ones that held), asserting the refusal's status and stable code, the audit event of the refusal, and
that no stored byte changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from tests.conftest import raw_connection
from tests.security.conftest import APP_VM, VM_A, VM_B, World

INTERNET = "127.0.0.9"


@dataclass
class Attack:
    name: str
    source: str
    run: Callable[[World], httpx.Response]
    status: int
    code: str


def reg(w: World) -> str:
    return str(w.creds["registration_secret"])


def cont(w: World, who: str = "a") -> str:
    return str((w.a if who == "a" else w.b)["credential"])


def blob_list(w: World, headers: list[tuple[bytes, bytes]] | dict[str, str], src: str = VM_A) -> httpx.Response:
    return w.send(src, w.blob_host(w.a), headers, path="/?prefix=")


def own_snapshot(w: World) -> str:
    names = blob_list(w, {"Authorization": f"Bearer {cont(w)}"}).json()["names"]
    return next(n for n in names if n.startswith("snapshots/"))


ATTACKS = [
    # A: a registration secret reads or destroys another machine's backups
    Attack("A: registration secret behind a non-breaking space", VM_A, lambda w: w.raw(
        VM_A, w.blob_host(w.a),
        [(b"x-api-key", b"\xa0" + reg(w).encode()), (b"x-vaultlink-container", w.b["container_id"].encode())],
        path="/?prefix="), 401, "Unauthenticated"),
    Attack("A: two Authorization headers and a junk X-Api-Key", VM_A, lambda w: blob_list(w, [
        (b"authorization", b"Basic eA=="), (b"authorization", b"Bearer " + reg(w).encode()),
        (b"x-api-key", b"junk"), (b"x-vaultlink-container", w.b["container_id"].encode())]),
        401, "AmbiguousCredentials"),
    Attack("A: a clean registration secret naming another container", VM_A, lambda w: blob_list(
        w, {"Authorization": f"Bearer {reg(w)}", "X-Vaultlink-Container": w.b["container_id"]}),
        403, "AccessDenied"),
    Attack("A: a registration secret overwriting the key file", VM_A, lambda w: w.send(
        VM_A, w.blob_host(w.a), {"Authorization": f"Bearer {reg(w)}", "X-Vaultlink-Container": w.b["container_id"]},
        "PUT", "/keys/key", b"garbage"), 403, "AccessDenied"),
    Attack("A: a container credential naming another container", VM_A, lambda w: blob_list(
        w, {"Authorization": f"Bearer {cont(w)}", "X-Vaultlink-Container": w.b["container_id"]}),
        403, "AccessDenied"),
    Attack("A: a container credential writing into another container", VM_A, lambda w: w.send(
        VM_A, w.blob_host(w.a), {"Authorization": f"Bearer {cont(w)}", "X-Vaultlink-Container": w.b["container_id"]},
        "PUT", "/keys/key", b"garbage"), 403, "AccessDenied"),
    Attack("A: surrounding whitespace in a token", VM_A, lambda w: w.raw(
        VM_A, w.blob_host(w.a), [(b"authorization", b"Bearer " + cont(w).encode() + b" \t")], path="/?prefix="),
        401, "Unauthenticated"),
    Attack("A: a token with a byte outside ASCII", VM_A, lambda w: w.raw(
        VM_A, w.blob_host(w.a), [(b"x-api-key", cont(w).encode() + b"\xc2\xa0")], path="/?prefix="),
        401, "Unauthenticated"),
    Attack("A: a repeated X-Api-Key", VM_A, lambda w: blob_list(
        w, [(b"x-api-key", cont(w).encode()), (b"x-api-key", cont(w, "b").encode())]), 401, "AmbiguousCredentials"),
    Attack("A: Basic credentials", VM_A, lambda w: blob_list(w, {"Authorization": "Basic dXNlcjpwYXNz"}),
           401, "Unauthenticated"),
    Attack("A: an agent credential on the management API", "127.0.0.1", lambda w: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {reg(w)}"}, path="/v1/vaults", ip="127.0.0.1"),
        403, "AccessDenied"),
    Attack("A: a container credential on the management API", "127.0.0.1", lambda w: w.send(
        "127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {cont(w)}"}, path="/v1/vaults", ip="127.0.0.1"),
        403, "AccessDenied"),
    # write-once (the retention issue's first part): a machine cannot destroy its own recovery points
    Attack("write-once: a machine overwriting its own manifest", VM_A, lambda w: w.send(
        VM_A, w.blob_host(w.a), {"Authorization": f"Bearer {cont(w)}"}, "PUT", "/" + own_snapshot(w), b"garbage"),
        400, "ContentMismatch"),
    Attack("write-once: a machine overwriting its own key file", VM_A, lambda w: w.send(
        VM_A, w.blob_host(w.a), {"Authorization": f"Bearer {cont(w)}"}, "PUT", "/keys/key", b"garbage"),
        409, "BlobExists"),
    Attack("write-once: a pack under a name that is not its hash", VM_A, lambda w: w.send(
        VM_A, w.blob_host(w.a), {"Authorization": f"Bearer {cont(w)}"}, "PUT", "/packs/" + "0" * 64, b"pack"),
        400, "ContentMismatch"),
    # B: principal swap through a service endpoint
    Attack("B: Basic + an allowed key + another key in X-Api-Key", APP_VM, lambda w: w.send(
        APP_VM, "backup.local-1.vaultlink.internal",
        [(b"authorization", b"Basic eA=="), (b"authorization", f"Bearer {w.s.owner_key}".encode()),
         (b"x-api-key", w.tenant_key.encode()), (b"content-type", b"application/json")],
        "POST", "/v1/vaults", b'{"name": "swapped", "region": "local-1"}', ip=w.se["ips"][0]),
        401, "AmbiguousCredentials"),
    # I: a Reader deletes queue work items
    Attack("I: a Reader deleting a queue work item", VM_A, lambda w: w.send(
        VM_A, f"{w.a['write_account']}.queue.vaultlink.internal",
        {"Authorization": f"Bearer {w.reader_key}", "X-Vaultlink-Container": w.a["container_id"]},
        "DELETE", "/messages/q123"), 403, "AccessDenied"),
    # J: a machine's own credential (its file copied by someone who is not root there) queues work for its agent,
    # which runs as root what its queue holds: a restore's target or a backup's paths and exclusions of its choice
    Attack("J: a machine's credential queueing a work item for its own agent", VM_A, lambda w: w.send(
        VM_A, f"{w.a['write_account']}.queue.vaultlink.internal",
        {"Authorization": f"Bearer {cont(w)}", "Content-Type": "application/json"}, "POST", "/messages",
        b'{"kind": "restore", "job_id": "j123", "recovery_point": "rp1", "target": "/etc"}'), 403, "AccessDenied"),
    Attack("held: a private endpoint from the internet", INTERNET, lambda w: w.send(
        INTERNET, w.backup_host(), {"Authorization": f"Bearer {w.s.owner_key}"}), 403, "EndpointUnreachable"),
    Attack("held: the public endpoint of a vault that denies it", "127.0.0.1", lambda w: w.send(
        "127.0.0.1", w.backup_host(), {"Authorization": f"Bearer {w.s.owner_key}"}, ip="127.0.0.1"),
        403, "PublicNetworkAccessDisabled"),
    Attack("held: a name the service does not answer for", VM_A, lambda w: w.send(
        VM_A, "evil.example.com", {"Authorization": f"Bearer {w.s.owner_key}"}), 404, "UnknownServiceName"),
    Attack("held: a registration secret for another vault's name", VM_B, lambda w: w.send(
        VM_B, w.backup_host(), {"Authorization": "Bearer vlr_R0000000000000000_forged"},
        "POST", "/containers/register", b'{"hostname": "x"}'), 401, "InvalidApiKey"),
    Attack("F: a refusal raised inside the handler (no container named)", VM_A, lambda w: blob_list(
        w, {"Authorization": f"Bearer {w.s.owner_key}"}), 400, "InvalidInput"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused_audited_and_changes_nothing(world: World, attack: Attack) -> None:
    before = world.blobs_digest()
    rps = world.s.ok("recovery-point", "list", "prod")
    since = time.time()
    r = attack.run(world)
    assert r.status_code == attack.status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == attack.code, r.text
    events = world.audited(attack.code, attack.source, since)
    assert events, f"no audit event for {attack.name}"
    assert all(e["decision"] == "denied" for e in events), events
    assert world.blobs_digest() == before, "stored data changed"
    assert world.s.ok("recovery-point", "list", "prod") == rps
    assert not [v for v in world.s.ok("vault", "list") if v["name"] == "swapped"]


def test_what_each_credential_may_still_do(world: World) -> None:
    """The refusals above are not a blanket block: each credential keeps exactly its own rights."""
    own = blob_list(world, {"Authorization": f"Bearer {cont(world)}"})
    assert own.status_code == 200 and any(n.startswith("snapshots/") for n in own.json()["names"])
    b_own = world.send(VM_B, world.blob_host(world.b), {"Authorization": f"Bearer {cont(world, 'b')}"},
                       path="/?prefix=")
    assert b_own.status_code == 200
    assert set(own.json()["names"]).isdisjoint(b_own.json()["names"]) or own.json() != b_own.json()
    key = world.send(VM_A, world.blob_host(world.a), {"Authorization": f"Bearer {cont(world)}"},
                     path="/keys/key").content
    again = world.send(VM_A, world.blob_host(world.a), {"Authorization": f"Bearer {cont(world)}"}, "PUT",
                       "/keys/key", key)
    assert again.status_code == 200, "a retry with identical bytes is idempotent"
    owner = blob_list(world, {"Authorization": f"Bearer {world.s.owner_key}",
                              "X-Vaultlink-Container": world.b["container_id"]})
    assert owner.status_code == 200, owner.text


def test_pipelined_requests_are_each_checked(world: World) -> None:
    """Two requests in one TCP write: the second one's credential is checked on its own."""
    before = world.blobs_digest()
    host = world.blob_host(world.a)
    first = f"GET /?prefix= HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {cont(world)}\r\n\r\n"
    second = (f"PUT /keys/key HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {reg(world)}\r\n"
              f"X-Vaultlink-Container: {world.b['container_id']}\r\nContent-Length: 7\r\n\r\ngarbage")
    with raw_connection(world.pe_ip, world.port, VM_A, timeout=10) as sock:
        sock.sendall((first + second).encode())
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1 ") < 2 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    statuses = [int(part[:3]) for part in data.split(b"HTTP/1.1 ")[1:]]
    assert statuses == [200, 403], data[:500]
    assert world.blobs_digest() == before


def test_malformed_http_is_refused_and_audited(world: World) -> None:
    since = time.time()
    with raw_connection(world.pe_ip, world.port, VM_A, timeout=10) as sock:
        sock.sendall(b"GARBAGE \x00\x01 NOT HTTP\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert world.audited("MalformedHttpRequest", VM_A, since)
