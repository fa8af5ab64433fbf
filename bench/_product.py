"""What every benchmark shares: the product as a user installs it.

- :func:`preflight` refuses to run when vaultlink is not the installed package (a ``src/`` on
  ``sys.path`` instead of ``pip install .``) or when an accelerator the product does not declare is
  importable (a benchmark must measure what users get), and prints the versions it runs;
- :class:`Service` is a real ``vaultlink serve`` (the installed console script, its own data dir and
  ports) with the real CLI and the management API against it.

Every wait is bounded; every server binds 127.0.0.1; stopped by its own PID.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

VAULTLINK = str(Path(sys.executable).parent / "vaultlink")
# Restored trees stay until a run ends. On ext4 without a journal (this machine's /tmp) a new inode skips
# every recently deleted one, each check reading its inode-table block: a restore of 1 GiB made seconds after
# another 1 GiB tree was removed spent 2-3 more CPU-seconds in the kernel (perf: recently_deleted,
# find_get_block_common) than the same restore with nothing deleted, and that landed on whichever side of a
# comparison came next (measured: bench/README-tls.md).
UNDECLARED = ("uvloop",)  # accelerators vaultlink does not depend on: a benchmark must not pick them up


def _requirements() -> set[str]:
    reqs = md.requires("vaultlink") or []
    return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
            for r in reqs if "extra ==" not in r}


SETTLE = 360.0  # seconds such a file system keeps skipping a deleted inode (ext4: 60 s, 360 s while its block is dirty)
_STAMP = Path("/tmp/.vaultlink-bench-deleted")  # when a benchmark last removed a tree


def journal_less_ext4(path: Path) -> bool:
    """Whether ``path`` is on ext4 without a journal (``/proc/fs/ext4/DEV`` without ``/proc/fs/jbd2/DEV-8``):
    there, each new inode checks every recently deleted one of its group (``recently_deleted`` in the kernel)."""
    try:
        st = os.stat(path)
        dev = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve().name
    except OSError:
        return False
    return Path(f"/proc/fs/ext4/{dev}").exists() and not Path(f"/proc/fs/jbd2/{dev}-8").exists()


def remove_tree(path: Path) -> None:
    """``rmtree`` that notes the time, so that the next benchmark waits for the inodes to settle."""
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        _STAMP.write_text(f"{time.time():.0f}\n")


def settle(path: Path) -> None:
    """On ext4 without a journal, wait until trees removed by a benchmark in the last ``SETTLE`` seconds no longer
    slow down creating files: a 1 GiB restore made a minute after a 1 GiB tree was removed paid 1-3 more
    CPU-seconds in the kernel, on whichever side of a comparison came first (bench/README-backup.md,
    2026-12-04). ``VAULTLINK_BENCH_SETTLE=0`` skips the wait (and the figures may show it)."""
    if os.environ.get("VAULTLINK_BENCH_SETTLE") == "0" or not journal_less_ext4(path):
        return
    try:
        left = float(_STAMP.read_text().strip()) + SETTLE - time.time()
    except (OSError, ValueError):
        return
    if left > 0:
        left = min(left, SETTLE)
        print(f"# waiting {left:.0f} s: a tree was removed lately on {path}'s file system (ext4 without a journal "
              "slows down new files for minutes after; VAULTLINK_BENCH_SETTLE=0 skips the wait)", flush=True)
        time.sleep(left)


def fresh_workdir(path: str | Path) -> Path:
    """A benchmark's work directory, empty (an earlier run's leftovers would skew sizes and caches): an earlier
    one is set aside and removed when this run ends; on ext4 without a journal, the run starts once the inodes a
    benchmark removed lately have settled (:func:`settle`)."""
    work = Path(path)
    if work.exists():  # set aside, removed when this run ends: no timed step here follows its removal
        old = work.with_name(f"{work.name}.old-{os.getpid()}")
        work.rename(old)
        atexit.register(remove_tree, old)
    work.mkdir(parents=True)
    settle(work)
    return work


def need_disk(path: Path, size: int, what: str) -> None:
    """Refuse to start when the file system of ``path`` has less than ``size`` bytes free (plus 2 GiB): the
    restored trees a run keeps (see above) must not fill the disk halfway through."""
    free = shutil.disk_usage(path).free
    if free < size + (2 << 30):
        raise SystemExit(f"{what} needs about {(size + (2 << 30)) / 2**30:.1f} GiB free under {path}, and "
                         f"{free / 2**30:.1f} GiB are; use fewer --rounds, a smaller --size-mib or another --dir.")


def preflight(peers: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Check that the product runs as installed; return and print the versions of it, its dependencies, the
    machine and the ``peers`` (name → a command printing its version)."""
    try:
        dist = md.distribution("vaultlink")
    except md.PackageNotFoundError:
        raise SystemExit("vaultlink is not installed in this interpreter: `pip install .` (README) first") from None
    spec = importlib.util.find_spec("vaultlink")
    if spec is None or spec.origin is None:
        raise SystemExit("vaultlink cannot be imported")
    declared = _requirements()
    for mod in UNDECLARED:
        if mod not in declared and importlib.util.find_spec(mod) is not None:
            raise SystemExit(f"{mod} is importable but vaultlink does not depend on it: a benchmark must measure the "
                             f"product as installed. Run from a venv made by the README's command.")
    if not Path(VAULTLINK).exists():
        raise SystemExit(f"{VAULTLINK} is missing: install vaultlink in this venv")
    # what `pip install .` does at install time: the product's bytecode compiled once, so that no process the
    # benchmark starts compiles it at import (an editable install under PYTHONDONTWRITEBYTECODE would, ~0.1 s
    # per agent run and ~0.6 s per server start); quick when it is up to date
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(spec.origin).parent)], capture_output=True,
                   timeout=300, check=False)
    out = {"vaultlink": dist.version, "python": platform.python_version(), "cpus": str(os.cpu_count()),
           "cpu": _cpu_model(), "kernel": platform.release()}
    for dep in ("uvicorn", "httptools", "starlette", "fastapi", "dnslib", "sqlalchemy", "blake3", "zstandard",
                "cryptography", "pyfastcdc", "httpx"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dep] = md.version(dep)
    for name, cmd in (peers or {}).items():
        if shutil.which(cmd[0]) is None:
            raise SystemExit(f"{cmd[0]} is missing: apt-get install -y {cmd[0]}")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        text = (p.stdout or p.stderr).strip().splitlines()
        out[name] = text[0] if text else "?"
    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("# versions: " + ", ".join(f"{k} {v}" for k, v in out.items()))
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def _mem(pid: int) -> tuple[int, int]:
    """A process's peak and current resident memory (``VmHWM``, ``VmRSS``, KiB); zeros once it is gone."""
    hwm = rss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return hwm, rss


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    """The processes ``pid``'s threads started (``/proc/PID/task/*/children``)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out += [int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    except OSError:
        pass
    return out


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float, int]:
    """Run ``cmd`` to the end; (stdout, wall seconds, peak RSS in KiB of that process and the ones it started).

    Sampled every 20 ms while it runs: the peak is the larger of the process's own ``VmHWM``
    (``/proc/PID/status``) and the most its resident memory and its children's (``VmRSS``) added up to at one
    sample (a first backup counts the tree for its progress in a child process). A child caught between ``fork``
    and ``exec`` (its command line still the parent's) is left out: its pages are the parent's, and counting them
    doubled a 100k-file restore's peak to 169 MiB in one sample of a thousand (2026-12-07). The rusage of
    ``wait4`` would count the benchmark's own memory too (Linux keeps the high-water mark of the forked image
    across ``exec``)."""
    import tempfile
    import threading

    peak = [0]
    done = threading.Event()

    def sample(pid: int) -> None:
        own = b""
        while not done.is_set():
            own = own or _cmdline(pid)
            hwm, rss = _mem(pid)
            # a child with the parent's own command line is between fork and exec: its pages are the parent's
            kids = [k for k in _children(pid) if _cmdline(k) != own]
            peak[0] = max(peak[0], hwm, rss + sum(_mem(k)[1] for k in kids))
            done.wait(0.02)

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        th = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
        th.start()
        proc.wait()
        wall = time.perf_counter() - t
        done.set()
        th.join()
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {text} {err.read()}")
    return text, wall, peak[0]


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(path: str) -> tuple[float, float]:
    """(user, system) CPU-seconds from a /proc stat file; zeros when it is gone."""
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def process_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) per thread of ``pid`` (``thread <tid> <name>``) and per child process."""
    out: dict[str, tuple[float, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        out[f"thread {tid} ({'event loop' if tid == str(pid) else name})"] = _stat(f"/proc/{pid}/task/{tid}/stat")
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=10).stdout.split()
    for kid in kids:
        try:
            cmd = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        what = next((c.decode() for c in cmd if c.startswith(b"vaultlink.")), cmd[0].decode())
        out[f"process {kid} ({what})"] = _stat(f"/proc/{kid}/stat")
    return out


def cpu_delta(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]],
              floor: float = 0.02) -> dict[str, tuple[float, float]]:
    """What each thread and process of two :func:`process_cpu` readings used in between (at least ``floor``)."""
    out = {}
    for k, (u, s) in after.items():
        u0, s0 = before.get(k, (0.0, 0.0))
        if u - u0 + s - s0 >= floor:
            out[k] = (round(u - u0, 2), round(s - s0, 2))
    return out


class Service:
    """A real ``vaultlink serve`` in its own process, with the real CLI and the management API."""

    def __init__(self, data_dir: Path, *extra: str, wrap: tuple[str, ...] = ()) -> None:
        """``wrap``: a command prefix for the server (``("taskset", "-c", "1")`` pins it to a core)."""
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)  # an existing data dir: the same service, restarted
        self.log = open(data_dir.parent / f"{data_dir.name}.log", "a")  # noqa: SIM115 - the server writes to it
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
        self.proc = subprocess.Popen(
            [*wrap, VAULTLINK, "serve", "--data-dir", str(data_dir), "--api-port", "0", "--dns-port", "0", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        info = data_dir / "server.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                self.info: dict[str, Any] = json.loads(info.read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit(f"vaultlink serve did not start: {self.log.name}")
        owner = data_dir / "owner.key"  # a second server of a deployment makes no owner (the first did)
        self.key = owner.read_text().strip() if owner.exists() else ""

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def dns_port(self) -> int:
        return int(self.info["dns_port"])

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
        env.update(VAULTLINK_DATA_DIR=str(self.data_dir), NO_PROXY="*")
        return env

    def cli(self, *args: str, timeout: float = 600) -> Any:
        p = subprocess.run([VAULTLINK, *args, "-o", "json"], env=self.env(), capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise SystemExit(f"vaultlink {' '.join(args)} failed ({p.returncode}): {p.stdout} {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One management call with the owner's key (no proxy: loopback only)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/v1" + path, data=data, method=method,
                                     headers={"authorization": f"Bearer {self.key}",
                                              "content-type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.tls()))
        with opener.open(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def tls(self) -> ssl.SSLContext:
        """A client context trusting this deployment's CA (``<data dir>/ca.pem``)."""
        ca = self.data_dir / "ca.pem"
        return ssl.create_default_context(cafile=str(ca)) if ca.exists() else ssl.create_default_context()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
