"""Configuration: the only reader of the environment and of config files.

Precedence (highest first): command-line options, environment variables,
the config file (TOML), defaults.

Config file keys (all optional)::

    data_dir = "/var/lib/vaultlink"
    public_address = "127.0.0.1"      # the public endpoint ("the internet")
    api_port = 8470                   # management API + data plane port (0 = pick a free one)
    dns_address = "127.0.0.1"
    dns_port = 8453                   # 0 = pick a free one
    domain = "vaultlink.internal"
    regions = "default"               # default | aws | azure | path to a catalog JSON file
    metadata_url = "sqlite:///…"      # or postgresql+psycopg://user@host/db
    blob_url = "file:///…"            # or s3://bucket?endpoint=http://127.0.0.1:7480
    replica_blob_url = "file:///…"    # the paired regions' copies (cross-region restore)
    blob_s3_access_key_id = ""        # for s3:// blob URLs (else the AWS environment variables)
    blob_s3_secret_access_key = ""
    sealing_key = ""                  # base64 of 32 bytes: seals AWS secret keys at rest ("" = <data dir>/sealing.key)
    storage_account_max_bytes = 1099511627776
    throttle_rate = 2000.0            # data-plane requests/second per principal
    throttle_burst = 4000
    max_body_bytes = 67108864         # largest request body
    body_timeout = 30.0               # seconds between two parts of a body (slow clients)
    header_timeout = 10.0             # seconds to send the headers (idle clients)
    max_header_bytes = 65536
    body_deadline = 3600.0            # seconds a whole request body may take (trickled bodies end)
    anon_throttle_rate = 50.0         # unauthenticated / failed-authentication requests/second per source
    anon_throttle_burst = 100
    audit_retention_days = 90.0       # audit events older than this are deleted
    audit_max_events = 5000000        # and the oldest beyond this count
    dns_udp_worker = true             # UDP DNS answered by a process of its own (false: on the event loop)
    maintenance_interval = 300.0      # seconds between passes that expire, purge and prune (0: never)
    schedule_interval = 30.0          # seconds between scheduler passes over backup plans (0: never)
    replication_interval = 10.0       # seconds between passes that copy new backup data to paired regions
    prune_worker = true               # prune in a process of its own (SQL metadata and file blobs)
    audit_worker = true               # write the audit log from a process of its own (SQL metadata)
    prune_grace_seconds = 3600.0      # a pack unreferenced this long (and no backup running) is removed
    test_clock_file = ""              # tests only: a file holding seconds added to the service's clock
    shared_ports = false              # several servers on one machine share api_port and dns_port (SO_REUSEPORT)
    tls = true                        # every listener speaks HTTPS (false: plain HTTP, insecure, for tests on loopback)
    fabric = "loopback"               # loopback | host | netns (DESIGN.md §3; README "Real networks")
    host_manage_addresses = true      # host mode: add/remove endpoint IPs over netlink (needs CAP_NET_ADMIN)
    host_interface = ""               # host mode: the interface for endpoint IPs no interface's subnet holds
    host_networks = ""                # host mode: comma-separated CIDRs vnets may use ("" = any real range)
    netns_dir = "/run/netns"          # netns mode: where the vnets' named namespaces are mounted
    netns_etc_dir = "/etc/netns"      # netns mode: <dir>/<namespace>/resolv.conf points VMs at their vnet's DNS
    netns_prefix = "vl-"              # netns mode: namespace names are <prefix><vnet id>, <prefix>internet
    netns_public_address = "198.18.0.1"  # netns mode: the public endpoint's address in the internet namespace
    netns_dns_port = 53               # netns mode: each vnet's DNS address answers on this port
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vaultlink.errors import InvalidInput

ENV_DATA_DIR = "VAULTLINK_DATA_DIR"
ENV_URL = "VAULTLINK_URL"
ENV_API_KEY = "VAULTLINK_API_KEY"
ENV_CONFIG = "VAULTLINK_CONFIG"
ENV_AGENT_STATE = "VAULTLINK_AGENT_STATE"
ENV_PASSPHRASE = "VAULTLINK_PASSPHRASE"


def agent_state_dir() -> Path:
    """The agent's state directory: ``VAULTLINK_AGENT_STATE`` or ``~/.vaultlink-agent``."""
    env = os.environ.get(ENV_AGENT_STATE)
    return Path(env).expanduser() if env else Path.home() / ".vaultlink-agent"


def passphrase_from_env() -> str | None:
    """The agent's encryption passphrase from ``VAULTLINK_PASSPHRASE``, if set."""
    return os.environ.get(ENV_PASSPHRASE) or None


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    return Path.home() / ".vaultlink"


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    public_address: str = "127.0.0.1"
    api_port: int = 8470
    dns_address: str = "127.0.0.1"
    dns_port: int = 8453
    domain: str = "vaultlink.internal"
    regions: str = "default"
    metadata_url: str = ""
    blob_url: str = ""
    replica_blob_url: str = ""  # where vaults with cross-region restore keep their paired-region copy
    blob_s3_access_key_id: str = ""  # credentials for s3:// blob URLs ("" = boto3's chain: AWS_* variables)
    blob_s3_secret_access_key: str = field(default="", repr=False)
    sealing_key: str = field(default="", repr=False)
    storage_account_max_bytes: int = 1 << 40
    throttle_rate: float = 2000.0
    throttle_burst: int = 4000
    max_body_bytes: int = 64 << 20
    body_timeout: float = 30.0  # seconds allowed between two parts of a request body
    header_timeout: float = 10.0  # seconds allowed to send a request's headers (and idle keep-alive)
    max_header_bytes: int = 64 << 10
    body_deadline: float = 3600.0  # seconds a whole request body may take
    anon_throttle_rate: float = 50.0  # unauthenticated or failed-authentication requests/second per source
    anon_throttle_burst: int = 100
    audit_retention_days: float = 90.0
    audit_max_events: int = 5_000_000
    dns_udp_worker: bool = True  # answer DNS over UDP in a process of its own (runtime/dns_worker.py)
    maintenance_interval: float = 300.0  # seconds between expire/purge/prune passes (0: only on request)
    replication_interval: float = 10.0  # seconds between replication passes (0: only `vault replicate`)
    prune_worker: bool = True  # prune in a process of its own (runtime/prune_worker.py) with SQL and file stores
    audit_worker: bool = True  # write the audit log from a process of its own (runtime/audit_worker.py), SQL only
    prune_grace_seconds: float = 3600.0  # how long a pack stays unreferenced before prune removes it
    schedule_interval: float = 30.0  # seconds between scheduler passes over backup plans (0: never)
    test_clock_file: str = ""  # tests only: a file whose number (seconds) is added to the service's clock
    shared_ports: bool = False  # SO_REUSEPORT on every listener: servers of one deployment on one machine
    tls: bool = True  # HTTPS on every listener with the deployment's CA (runtime/tls.py); false: plain HTTP
    fabric: str = "loopback"  # loopback | host | netns: how vnets and endpoints exist on the machine
    # a backup-gateway endpoint's other ports (1026-1028, 1031, 2222) listen at PORT + this offset (-1: 20000
    # in loopback mode, which binds no privileged port and shares 127.0.0.0/8 with the machine; 0 in host and
    # netns modes: the real ports); its 443 is api_port, as for every endpoint
    gateway_port_offset: int = -1
    host_manage_addresses: bool = True  # host mode: the service adds and removes endpoint IPs (netlink)
    host_interface: str = ""  # host mode: interface for endpoint IPs that no interface's subnet holds
    host_networks: str = ""  # host mode: the real ranges tenants' vnets may use (comma-separated CIDRs)
    netns_dir: str = "/run/netns"
    netns_etc_dir: str = "/etc/netns"
    netns_prefix: str = "vl-"
    netns_public_address: str = "198.18.0.1"  # RFC 2544 benchmarking range: never routed on the internet
    netns_dns_port: int = 53

    @property
    def effective_metadata_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.data_dir / 'vaultlink.db'}"

    @property
    def effective_blob_url(self) -> str:
        return self.blob_url or f"file://{self.data_dir / 'blobs'}"

    @property
    def effective_replica_blob_url(self) -> str:
        return self.replica_blob_url or f"file://{self.data_dir / 'replica-blobs'}"


_INT_FIELDS = {"api_port", "dns_port", "storage_account_max_bytes", "throttle_burst", "max_body_bytes",
               "max_header_bytes", "anon_throttle_burst", "audit_max_events", "netns_dns_port",
               "gateway_port_offset"}
_BOOL_FIELDS = {"dns_udp_worker", "prune_worker", "audit_worker", "host_manage_addresses", "shared_ports", "tls"}
FABRIC_MODES = ("loopback", "host", "netns")
_FLOAT_FIELDS = {"throttle_rate", "body_timeout", "header_timeout", "body_deadline", "anon_throttle_rate",
                 "audit_retention_days", "maintenance_interval", "prune_grace_seconds", "schedule_interval"}


def load_config(config_file: str | Path | None = None, **overrides: Any) -> Config:
    """Build the service configuration from file, environment and overrides."""
    values: dict[str, Any] = {}
    path = config_file or os.environ.get(ENV_CONFIG)
    if path:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(
                f"config file {str(p)!r} does not exist; check --config.", field="config"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config file {str(p)!r} is not valid TOML: {exc}", field="config") from None
        known = {f.name for f in fields(Config)}
        for key, value in raw.items():
            if key not in known:
                raise InvalidInput(
                    f"config file {str(p)!r}: unknown key {key!r}; known keys: {', '.join(sorted(known))}",
                    field=key,
                )
            values[key] = value
    if os.environ.get(ENV_DATA_DIR) and "data_dir" not in overrides:
        values["data_dir"] = os.environ[ENV_DATA_DIR]
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in list(values):
        if key == "data_dir":
            values[key] = Path(values[key]).expanduser()
        elif key in _INT_FIELDS:
            try:
                values[key] = int(values[key])
            except (TypeError, ValueError):
                raise InvalidInput(f"{key} must be an integer", field=key) from None
        elif key in _FLOAT_FIELDS:
            values[key] = float(values[key])
        elif key in _BOOL_FIELDS:
            values[key] = _bool(key, values[key])
    mode = values.get("fabric", "loopback")
    if mode not in FABRIC_MODES:
        raise InvalidInput(f"fabric must be one of {', '.join(FABRIC_MODES)}, not {mode!r}.", field="fabric")
    for cidr in str(values.get("host_networks", "")).split(","):
        if cidr.strip():
            try:
                ipaddress.IPv4Network(cidr.strip(), strict=False)
            except ValueError:
                raise InvalidInput(f"host_networks: {cidr.strip()!r} is not an IPv4 CIDR.",
                                   field="host_networks") from None
    try:
        public = ipaddress.IPv4Address(str(values.get("netns_public_address", "198.18.0.1")))
    except ValueError:
        raise InvalidInput("netns_public_address must be an IPv4 address, e.g. 198.18.0.1.",
                           field="netns_public_address") from None
    if public.is_loopback or public.is_multicast or public.is_unspecified:
        raise InvalidInput("netns_public_address must be a unicast address outside 127.0.0.0/8 (the internet "
                           "namespace routes it to every vnet), e.g. 198.18.0.1.", field="netns_public_address")
    prefix = str(values.get("netns_prefix", "vl-"))
    if not prefix or len(prefix) > 8 or not all(c.isalnum() or c in "-_" for c in prefix):
        raise InvalidInput("netns_prefix must be 1-8 letters, digits, '-' or '_'.", field="netns_prefix")
    return replace(Config(), **values)


def _bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{key} must be true or false, not {value!r}", field=key)


@dataclass(frozen=True)
class ClientSettings:
    url: str | None
    api_key: str | None
    data_dir: Path
    server_info: dict[str, Any] = field(default_factory=dict)  # the local server's server.json
    ca_file: str | None = None  # the deployment's CA the CLI trusts (https:// servers)


def client_settings(
    url: str | None = None,
    api_key: str | None = None,
    data_dir: str | None = None,
    profile: str | None = None,
) -> ClientSettings:
    """Where the CLI finds the server and its key.

    Order: explicit options, ``VAULTLINK_URL``/``VAULTLINK_API_KEY``, a profile in
    ``~/.config/vaultlink/config.toml`` (``[profiles.NAME] url = … api_key = …``),
    then the local data dir's ``server.json`` and ``owner.key`` written by
    ``vaultlink serve``. The CA to trust: ``VAULTLINK_CA_FILE``, the profile's ``ca_file``, else the data
    dir's ``ca.pem``.
    """
    ca_file = os.environ.get("VAULTLINK_CA_FILE")
    ddir = Path(data_dir).expanduser() if data_dir else default_data_dir()
    url = url or os.environ.get(ENV_URL)
    api_key = api_key or os.environ.get(ENV_API_KEY)
    prof_name = profile or os.environ.get("VAULTLINK_PROFILE")
    if prof_name:
        cfg_path = (
            Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "vaultlink" / "config.toml"
        )
        try:
            profiles = tomllib.loads(cfg_path.read_text(encoding="utf-8")).get("profiles", {})
        except (FileNotFoundError, tomllib.TOMLDecodeError):
            profiles = {}
        prof = profiles.get(prof_name)
        if prof is None:
            raise InvalidInput(f"profile {prof_name!r} not found in {cfg_path}", field="profile")
        url = url or prof.get("url")
        api_key = api_key or prof.get("api_key")
        ca_file = ca_file or prof.get("ca_file")
    server_info: dict[str, Any] = {}
    info = ddir / "server.json"
    if info.exists():
        try:
            loaded = json.loads(info.read_text(encoding="utf-8"))
            server_info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            server_info = {}
    if url is None:
        url = server_info.get("url")
    if api_key is None:
        key_file = ddir / "owner.key"
        if key_file.exists():
            try:
                api_key = key_file.read_text(encoding="utf-8").strip() or None
            except OSError:
                api_key = None
    if ca_file is None and (ddir / "ca.pem").exists():
        ca_file = str(ddir / "ca.pem")
    return ClientSettings(url=url, api_key=api_key, data_dir=ddir, server_info=server_info, ca_file=ca_file)


def gateway_offset(config: Config) -> int:
    """Where a backup-gateway endpoint's ports listen: logical port + this."""
    if config.gateway_port_offset >= 0:
        return config.gateway_port_offset
    return 20000 if config.fabric == "loopback" else 0
