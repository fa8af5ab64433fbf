"""A small DNS world shared by the dns unit tests.

- vnet1 127.10.0.0/16: linked to the vault zone (no fallback) and the blob zone (fallback);
- vnet2 127.20.0.0/16: linked to the queue zone only;
- vnet3 127.30.0.0/16: has a service endpoint with private DNS (backup.local-1.D → 127.30.1.4);
- vnet4 127.10.5.0/24: inside vnet1's range (longest prefix wins), linked to nothing;
- the internet: anything else (127.0.0.0/16 in loopback mode).
"""

from __future__ import annotations

from collections.abc import Callable

from dnslib import QTYPE, DNSRecord

from vaultlink.dns import names as N
from vaultlink.dns.model import (
    DnsView,
    PrivateZone,
    PublicRecord,
    Vnet,
    VnetLink,
    make_record_set,
    service_endpoint_zone,
)

D = N.DEFAULT_DOMAIN
PUBLIC_IP = "127.0.0.1"
VNET1_VM = "127.10.1.5"
VNET2_VM = "127.20.1.5"
VNET3_VM = "127.30.1.5"
VNET4_VM = "127.10.5.9"
INTERNET = "127.0.0.9"


def build_view(generation: int = 0, v1_ip: str = "127.10.1.4", extra_records: int = 0) -> DnsView:
    vz, bz, qz = N.vault_privatelink_zone("ge"), N.blob_privatelink_zone(), N.queue_privatelink_zone()
    vault_records = [make_record_set(vz, "v1", "A", [v1_ip], 10)]
    if extra_records:
        ips = [f"127.10.9.{i}" for i in range(1, extra_records + 1)]
        vault_records.append(make_record_set(vz, "big", "A", ips, 10))
        vault_records.append(make_record_set(vz, "text", "TXT", [c * 200 for c in "wxyz"], 10))
    vault_records.append(make_record_set(vz, "loop1", "CNAME", [f"loop2.{vz}"], 10))
    vault_records.append(make_record_set(vz, "loop2", "CNAME", [f"loop1.{vz}"], 10))
    vault_records.append(make_record_set(vz, "deep.sub", "TXT", ["hello"], 10))
    zones = [
        PrivateZone.create(vz, vault_records, [VnetLink("vnet1")]),
        PrivateZone.create(
            bz, [make_record_set(bz, "acct1", "A", ["127.10.1.6"], 10)], [VnetLink("vnet1", True)]
        ),
        PrivateZone.create(qz, [make_record_set(qz, "acct1", "A", ["127.20.1.7"], 10)], [VnetLink("vnet2")]),
        service_endpoint_zone(N.regional_service_name("backup", "local-1"), "vnet3", ["127.30.1.4"]),
    ]
    public_names = {
        N.vault_public_name(v, "ge"): N.vault_privatelink_name(v, "ge") for v in ("v1", "v2", "big", "text")
    }
    for acct in ("acct1", "acct2"):
        public_names[N.blob_public_name(acct)] = N.blob_privatelink_name(acct)
        public_names[N.queue_public_name(acct)] = N.queue_privatelink_name(acct)
    public_records = [
        PublicRecord(N.endpoint_service_name("ep1", "backup", "local-1"), "A", 60, ("127.30.1.4",)),
        PublicRecord(N.regional_service_name("backup", "local-1"), "A", 60, (PUBLIC_IP,)),
    ]
    return DnsView.create(
        public_address=PUBLIC_IP,
        zones=zones,
        vnets=[
            Vnet.create("vnet1", ["127.10.0.0/16"]),
            Vnet.create("vnet2", ["127.20.0.0/16"]),
            Vnet.create("vnet3", ["127.30.0.0/16"]),
            Vnet.create("vnet4", ["127.10.5.0/24"]),
        ],
        public_names=public_names,
        public_records=public_records,
        public_ttl=300,
        generation=generation,
    )


Ask = Callable[..., DNSRecord]


def rdata(reply: DNSRecord, qtype: str | None = None) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if qtype is None or QTYPE[rr.rtype] == qtype]
