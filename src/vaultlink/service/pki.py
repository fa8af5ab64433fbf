"""The deployment's certificate authority and the listeners' certificates (DESIGN.md §3: TLS everywhere).

The CA is made once, at the first start of the first server, and kept in the metadata store (kind ``pki``,
its private key sealed with the deployment's sealing key), so every server of a deployment presents one
CA; ``<data dir>/ca.pem`` exports its certificate for clients, and vault credentials files carry it.
Each listener gets a certificate of its own, issued at start (or when its endpoint appears): the
service's names under the domain (by wildcard: every vault, storage account and endpoint name is one
label under a fixed suffix) and the listener's addresses, so a client may verify a name or an IP.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vaultlink.errors import AlreadyExists
from vaultlink.service import sealing
from vaultlink.service.core import Service

CA_ID = "ca"
CA_YEARS = 10
LEAF_DAYS = 397  # what browsers accept for a server certificate


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_authority(common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vaultlink")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(cert, key)


def authority(svc: Service) -> Authority:
    """The deployment's CA from the metadata store, made (by whichever server is first) if there is none."""
    with svc.store.transaction() as txn:
        rec = txn.get("pki", CA_ID)
    if rec is None:
        ca = new_authority(f"vaultlink CA {secrets.token_hex(4)}")
        key_pem = ca.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
        new = {"id": CA_ID, "account_id": "", "parent_id": "", "name": None, "cert_pem": ca.pem.decode("ascii"),
               "key_sealed": sealing.seal(svc.sealing_key, key_pem, b"pki/ca"), "created": svc.clock.now()}
        try:
            with svc.store.transaction() as txn:
                txn.insert("pki", CA_ID, new)
            return ca
        except AlreadyExists:  # another server made it first: use that one
            with svc.store.transaction() as txn:
                rec = txn.get("pki", CA_ID)
    assert rec is not None
    key = serialization.load_pem_private_key(sealing.unseal(svc.sealing_key, rec["key_sealed"], b"pki/ca"), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Authority(x509.load_pem_x509_certificate(rec["cert_pem"].encode("ascii")), key)


def issue(ca: Authority, dns_names: Iterable[str], ips: Iterable[str]) -> tuple[bytes, bytes]:
    """(certificate chain PEM, private key PEM) of a server certificate for ``dns_names`` and ``ips``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = sorted(set(dns_names))
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(set(ips))]
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "vaultlink")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    chain = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return chain, key_pem


def service_names(svc: Service) -> list[str]:
    """Every name a listener may be asked for, as DNS names and wildcards (DESIGN.md §4)."""
    d = svc.config.domain
    names = {"localhost", f"*.blob.{d}", f"*.privatelink.blob.{d}", f"*.queue.{d}", f"*.privatelink.queue.{d}"}
    for region in svc.catalog.regions.values():
        names |= {f"*.{region.geo}.backup.{d}", f"*.privatelink.{region.geo}.backup.{d}"}
        for service in ("backup", "backup-gateway"):
            names |= {f"{service}.{region.name}.{d}", f"*.{service}.{region.name}.vpce.{d}"}
    return sorted(names)
