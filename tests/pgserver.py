"""A PostgreSQL server of a test's own, on 127.0.0.1, that the test may stop and start again (the shared
one of ``./scripts/test`` serves every other test in parallel, so it is never stopped)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path:
    initdb = shutil.which("initdb") or (sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [""])[-1]
    if not initdb:
        raise RuntimeError("PostgreSQL is not installed (scripts/install-system-deps.sh installs it)")
    return Path(os.path.realpath(initdb)).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """``start()`` / ``stop()`` as often as a test likes; ``url`` stays the same across them."""

    def __init__(self, userns: bool = False, conf: str = "", host: str = "127.0.0.1") -> None:
        self.host = host
        # its own directory under /tmp: pytest's tmp_path is private to root, where ``postgres`` cannot reach
        self.dir = Path(tempfile.mkdtemp(prefix="vaultlink-pg-"))
        self.port = _free_port()
        self.bin = _bindir()
        self._as: list[str] = []
        if os.getuid() == 0 and userns:
            # PostgreSQL refuses to run as root: in a user namespace of its own it is uid 1000 to itself and
            # still the files' owner to the kernel, so its archive_command may run this venv's vaultlink
            self._as = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--"]
        elif os.getuid() == 0:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "vaultlink", "--auth=trust")
        if conf:
            with open(self.dir / "data" / "postgresql.conf", "a", encoding="utf-8") as f:
                f.write(conf)
        with open(self.dir / "data" / "pg_hba.conf", "a", encoding="utf-8") as f:  # any loopback address
            f.write("host all all 127.0.0.0/8 trust\nhost replication all 127.0.0.0/8 trust\n")
        self.start()
        self._run("createdb", "-h", self.host, "-p", str(self.port), "-U", "vaultlink", "vaultlink")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://vaultlink@{self.host}:{self.port}/vaultlink"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def psql(self, sql: str, db: str = "vaultlink", port: int | None = None, host: str | None = None) -> str:
        p = subprocess.run([str(self.bin / "psql"), "-h", host or self.host, "-p", str(port or self.port), "-U",
                            "vaultlink", "-d", db, "-Atqc", sql], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr}")
        return p.stdout.strip()

    def run_tool(self, tool: str, *args: str) -> None:
        """A PostgreSQL program as the server's own user (pg_ctl on another data directory, say)."""
        self._run(tool, *args)

    def _run(self, tool: str, *args: str, prefix: tuple[str, ...] = ()) -> None:
        p = subprocess.run([*prefix, *self._as, str(self.bin / tool), *args], capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{tool} failed: {p.stdout}{p.stderr}")

    def start(self, prefix: tuple[str, ...] = ()) -> None:
        """Started; ``prefix`` runs it (before switching to the server's own user): a mount namespace, say."""
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-c listen_addresses={self.host} -p {self.port} -k {self.dir}", "start", prefix=prefix)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-m", "fast", "stop")

    def close(self) -> None:
        """Stopped (if running) and its files gone."""
        if (self.dir / "data" / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
