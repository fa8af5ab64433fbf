"""Name resolution like a VM: ask the given DNS server, from the machine's own address.

``DnsResolver`` sends A queries with dnspython from ``source_ip`` (so the responder sees the asker's
vnet and answers split-horizon), follows CNAME chains in the answer and caches results briefly. A
name that does not resolve raises ``NameNotResolved`` naming the missing FQDN and the record to add.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from vaultlink.dns import names as N
from vaultlink.errors import InvalidInput, NameNotResolved, ServiceUnavailable

CACHE_SECONDS = 30.0
MAX_CHAIN = 8


class Resolver(Protocol):
    def resolve(self, name: str) -> str:
        """The IPv4 address of ``name``; raises ``NameNotResolved`` / ``ServiceUnavailable``."""
        ...

    def forget(self, name: str) -> None: ...


def parse_hostport(value: str, default_port: int = 53) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"--dns must be HOST:PORT (e.g. 127.0.0.1:8453), not {value!r}.", field="dns")
    return host, int(port)


def missing_record_hint(name: str, domain: str) -> str:
    """What to add so that ``name`` resolves privately."""
    pl = N.privatelink_name_for(name, domain) or name
    zone = N.zone_of(pl, domain)
    where = f" in zone {zone}" if zone else ""
    cname = f" ({name} must be a CNAME to it)" if pl != name else ""
    return (
        f"add an A record for {pl}{where} with the private endpoint's IP for it{cname}; "
        "`vaultlink endpoint dns-config ENDPOINT` lists the exact records (hosts-file line: '<ip> "
        f"{pl}'), or create the endpoint with DNS zone integration"
    )


def system_nameserver(path: str = "/etc/resolv.conf") -> str:
    """The first IPv4 ``nameserver`` of the machine's resolver configuration (a VM's platform DNS)."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
                    return parts[1]
    except OSError:
        pass
    raise InvalidInput(f"no IPv4 nameserver in {path}; pass --dns HOST:PORT.", field="dns")


class DnsResolver:
    def __init__(self, server: str, source_ip: str, domain: str, timeout: float = 2.0) -> None:
        """``server`` HOST:PORT, or "" for the machine's own resolver (``/etc/resolv.conf``, port 53);
        ``source_ip`` "" lets the kernel pick the source address."""
        server = server or system_nameserver()
        self.host, self.port = parse_hostport(server)
        self.server = server
        self.source_ip = source_ip or None
        self.domain = domain
        self.timeout = timeout
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name.lower().rstrip("."), None)

    def resolve(self, name: str) -> str:
        key = name.lower().rstrip(".")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        ip = self._query(key)
        with self._lock:
            self._cache[key] = (ip, now + CACHE_SECONDS)
        return ip

    def _ask(self, name: str) -> object:
        import dns.exception
        import dns.flags
        import dns.message
        import dns.query

        q = dns.message.make_query(name, "A")
        try:
            r = dns.query.udp(q, self.host, timeout=self.timeout, port=self.port, source=self.source_ip)
            if r.flags & dns.flags.TC:
                r = dns.query.tcp(q, self.host, timeout=self.timeout, port=self.port, source=self.source_ip)
        except dns.exception.Timeout:
            raise ServiceUnavailable(
                f"the DNS server {self.server} did not answer for {name} within {self.timeout:g}s (asked from "
                f"{self.source_ip or 'this machine'}); check --dns."
            ) from None
        except OSError as exc:
            raise ServiceUnavailable(
                f"cannot ask the DNS server {self.server} from {self.source_ip or 'this machine'}: "
                f"{exc.strerror or exc}; check --dns and --source-ip."
            ) from None
        except dns.exception.DNSException as exc:  # e.g. an answer from another address than asked
            raise ServiceUnavailable(
                f"the DNS server {self.server} gave no usable answer for {name} (asked from "
                f"{self.source_ip or 'this machine'}: {exc}); check --dns and --source-ip."
            ) from None
        return r

    def _query(self, name: str) -> str:
        import dns.rcode
        import dns.rdatatype

        r = self._ask(name)
        rcode = r.rcode()  # type: ignore[attr-defined]
        answer = r.answer  # type: ignore[attr-defined]
        cur = name
        for _ in range(MAX_CHAIN):
            a = next(
                (rr for rr in answer if rr.rdtype == dns.rdatatype.A and rr.name.to_text().rstrip(".").lower() == cur),
                None,
            )
            if a is not None:
                return str(next(iter(a)).address)
            cn = next(
                (rr for rr in answer
                 if rr.rdtype == dns.rdatatype.CNAME and rr.name.to_text().rstrip(".").lower() == cur),
                None,
            )
            if cn is None:
                break
            cur = next(iter(cn)).target.to_text().rstrip(".").lower()
        if rcode == dns.rcode.REFUSED:
            why = "REFUSED"
        elif rcode == dns.rcode.NXDOMAIN:
            why = "NXDOMAIN"
        elif rcode == dns.rcode.NOERROR:
            why = "no A record"
        else:
            why = dns.rcode.to_text(rcode)
        chain = f" (via CNAME {name} -> {cur})" if cur != name else ""
        raise NameNotResolved(
            f"{cur} does not resolve ({why}){chain} through the DNS server {self.server} asked from "
            f"{self.source_ip}: {missing_record_hint(cur, self.domain)}.",
            field="dns",
            fqdn=cur,
            name=name,
            record=N.privatelink_name_for(cur, self.domain) or cur,
        )


class StaticResolver:
    """A fixed name -> IP map (tests; ``*`` matches every name)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = {k.lower(): v for k, v in table.items()}

    def resolve(self, name: str) -> str:
        ip = self.table.get(name.lower()) or self.table.get("*")
        if ip is None:
            raise NameNotResolved(f"{name} does not resolve: {missing_record_hint(name, 'vaultlink.internal')}.",
                                  fqdn=name)
        return ip

    def forget(self, name: str) -> None:
        return None
