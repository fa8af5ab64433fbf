"""TLS on every listener (DESIGN.md §3): a server context per listening address, with a certificate from the
deployment's CA (``service/pki.py``) for the service's names and that address, issued when the listener
opens. ``<data dir>/ca.pem`` is what clients trust (``AWS_CA_BUNDLE``, the CLI, the vault credentials)."""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from pathlib import Path

from vaultlink.durable import write_atomic
from vaultlink.service import pki
from vaultlink.service.core import Service

MAX_CONTEXTS = 65536  # listeners are bounded by the endpoints' addresses; contexts cached per address


class Tls:
    def __init__(self, svc: Service) -> None:
        self.ca = pki.authority(svc)
        self.names = pki.service_names(svc)
        self.public = {svc.config.public_address, "127.0.0.1"} - {"0.0.0.0"}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        svc.ca_pem = self.ca.pem.decode("ascii")

    def export(self, data_dir: Path) -> Path:
        """Write ``ca.pem`` (public: the CA's certificate only) where clients find it."""
        path = data_dir / "ca.pem"
        write_atomic(path, self.ca.pem, mode=0o644)
        return path

    def context(self, address: str) -> ssl.SSLContext:
        """The server context of a listener on ``address`` (its certificate names the address too)."""
        with self._lock:
            ctx = self._contexts.get(address)
            if ctx is not None:
                return ctx
        ips = {address} | (self.public if address in self.public else set())
        chain, key = pki.issue(self.ca, self.names, ips - {"0.0.0.0"})
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="vaultlink-tls-") as tmp:  # load_cert_chain reads files only
            cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
            cert_file.write_bytes(chain)
            ctx.load_cert_chain(cert_file, key_file)
        with self._lock:
            if len(self._contexts) >= MAX_CONTEXTS:
                self._contexts.clear()
            self._contexts[address] = ctx
        return ctx
