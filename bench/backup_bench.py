"""Backup through a private endpoint versus restic to a local repository, same dataset, same run.

    .venv/bin/python bench/backup_bench.py [--size-mib 1024] [--dir /tmp/vlbackup] [--skip-restic] [--keep]
    .venv/bin/python bench/backup_bench.py --small-files 100000   # 100k files of 1-8 KiB instead
    .venv/bin/python bench/backup_bench.py --restic-first         # the peer's steps first (order effects)
    .venv/bin/python bench/backup_bench.py --cold                 # every backup reads its files from the disk

1. Generates a mixed dataset (fixed seed; the generator of bench/data_bench.py): random files,
   compressible text, small files, exact duplicates, shifted copies.
2. Starts a real ``vaultlink serve`` (loopback fabric, own data dir and ports) and, with the real CLI,
   builds the private story: a vault that denies public network access, a vnet with a subnet, a
   private endpoint with DNS integration, vault credentials.
3. The agent is the ``vaultlink agent`` CLI in its own process, at a source address inside the vnet,
   resolving the vault's names through the service's DNS responder: register, first backup, second
   backup after modifying 5% of the files, full restore; repository size = the server's blob dir.
4. restic (Debian package) on an identical copy: init, the same steps, repository size. Its backups (and the
   engine alone's) run between vaultlink's backups and vaultlink's restore, and restic's restore right after
   vaultlink's: the two restores start from the same file-system state. ``--restic-first`` swaps the order.
   Both restores read their pack data from the disk: vaultlink's server never caches packs (O_DIRECT), and the
   peers' pack files are dropped from the page cache just before their restores (``evict``; since 2026-12-03).

Throughput = dataset size / wall time of the step, process start included for both tools. Every timed
step starts after ``sync`` (the previous steps' dirty pages are written back first, for both tools). Prints a
Markdown table with the ratios (vaultlink / restic) and the targets. Not a test; CI never runs it.
Every step runs once; every wait is bounded; traffic goes to 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, fresh_workdir, preflight, remove_tree, run_measured  # noqa: E402
from data_bench import PASS, MiB, du, make_dataset, modify, print_report  # noqa: E402

VM = "127.10.1.100"


def evict(root: Path) -> None:
    """Drop the files under ``root`` from the page cache (``posix_fadvise(DONTNEED)`` after a ``sync``: their
    pages are clean by then). A peer's restore then reads its pack data from the disk, as
    vaultlink's does (its server writes and reads packs with O_DIRECT) and as any restore of an older backup
    would; each tool's own cache of indexes and snapshots stays warm."""
    os.sync()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


COLD: list[Path] = []  # ``--cold``: the datasets dropped from the page cache before every timed step


def timed(fn: Any) -> float:
    """Wall time of ``fn``, after flushing dirty pages so no step pays for an earlier one's writeback (and, with
    ``--cold``, after dropping every copy of the dataset from the page cache: each backup reads from the disk)."""
    for d in COLD:
        evict(d)
    os.sync()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def private_story(svc: Service, work: Path, space: str = "127.10.0.0/16", subnet: str = "127.10.1.0/24") -> Path:
    """On ``svc``: a vault denying public access, vm-net (``space``, subnet ``default``), a private endpoint
    with DNS integration; returns the vault credentials file."""
    svc.cli("vault", "create", "bench", "--region", "local-1")
    svc.cli("vault", "update", "bench", "--public-network-access", "Disabled")
    svc.cli("vnet", "create", "vm-net", "--region", "local-1", "--address-space", space,
            "--subnet", f"default={subnet}")
    svc.cli("endpoint", "create", "--name", "bench-pe", "--region", "local-1", "--vault", "bench",
            "--group-id", "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    creds = work / "bench.vaultcredentials"
    p = subprocess.run([VAULTLINK, "vault", "credentials", "bench", "-o", str(creds)], env=svc.env(),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    return creds


def private_agent(svc: Service, work: Path, state_name: str = "vl-agent") -> tuple[Any, list[int], Path]:
    """The private story on ``svc`` (:func:`private_story`); returns ``run(cmd, *args)`` running
    ``vaultlink agent CMD`` as a machine in the vnet (JSON out), the list of each run's peak RSS (KiB), and
    the credentials file."""
    creds = private_story(svc, work)
    run, rss = agent_runner(svc, work, state_name)
    return run, rss, creds


def agent_runner(svc: Service, work: Path, state_name: str) -> tuple[Any, list[int]]:
    """``run(cmd, *args)`` running ``vaultlink agent CMD`` with the machine state ``work/state_name`` (JSON out),
    and the list of each run's peak RSS (KiB)."""
    pw = work / "passphrase"
    pw.write_text(PASS)
    state = work / state_name
    rss: list[int] = []

    def run(*args: str) -> Any:
        cmd, rest = args[0], args[1:]
        out, _wall, kib = run_measured([VAULTLINK, "agent", cmd, "--state-dir", str(state), "--passphrase-file",
                                        str(pw), *rest, "-o", "json"], svc.env())
        rss.append(kib)
        return json.loads(out) if out.strip() else None

    return run, rss


def run_vaultlink(data: Path, work: Path, modify_fn: Any, extra: tuple[str, ...] = (),
                  name: str = "vl", before_restore: Any = None) -> dict[str, float]:
    """The steps through the private endpoint; ``before_restore`` runs just before the restore (the peer's
    backups: see ``main``)."""
    svc = Service(work / f"{name}-server", *extra)
    try:
        run, rss, creds = private_agent(svc, work, f"{name}-agent")
        reg = run("register", "--credentials", str(creds), "--source-ip", VM, "--dns",
                  f"127.0.0.1:{svc.info['dns_port']}", "--hostname", "bench-vm")
        print(f"vaultlink: registered {reg['container']} from {VM} through the private endpoint")
        out: dict[str, float] = {}
        res: dict[str, Any] = {}
        out["backup1"] = timed(lambda: res.update(b1=run("backup", "--no-progress", str(data))))
        out["size_after_1"] = du(svc.data_dir / "blobs")
        modify_fn()
        out["backup2"] = timed(lambda: res.update(b2=run("backup", "--no-progress", str(data))))
        out["read_2"] = res["b2"]["stats"]["bytes_read"]
        out["repo_size"] = du(svc.data_dir / "blobs")
        rp = res["b2"]["recovery_point"]["id"]
        out["retries"] = res["b1"]["retries"] + res["b2"]["retries"]
        # start-up: a backup with nothing to do (the second backup again, unchanged), process start included
        out["noop_backup"] = timed(lambda: run("backup", "--no-progress", str(data)))
        if before_restore is not None:
            before_restore()
        out["restore"] = timed(lambda: run("restore", rp, "--no-progress", "--target", str(work / f"{name}-out")))
        # the vault really denies the public side, and every byte went through the private endpoint
        denied = svc.cli("audit", "list", "--vault", "bench", "--decision", "denied")
        out["denied"] = len(denied)
        out["peak_rss_mib"] = max(rss) / 1024
        return out
    finally:
        svc.stop()


def engine_first_backup(data: Path, work: Path) -> float:
    """The backup engine alone (no agent, no network: a local blob store), first backup of ``data``."""
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import Repository, backup

    repo = Repository.init(LocalBlobStore(work / "engine-repo"), PASS)
    seconds = timed(lambda: backup([data], repo))
    # kept until the run ends: removing its files now would slow down the restores that follow (_product.settle)
    return seconds


def run_restic(data: Path, work: Path, modify_fn: Any) -> tuple[dict[str, float], Any]:
    """restic's backups and no-change backup; returns the figures and the restore step, run later (``main``)."""
    env = dict(os.environ, RESTIC_PASSWORD=PASS, RESTIC_REPOSITORY=str(work / "restic-repo"),
               RESTIC_CACHE_DIR=str(work / "restic-cache"))

    rss: list[int] = []

    def r(*args: str) -> None:
        rss.append(run_measured(["restic", "--quiet", *args], env)[2])

    r("init", "--repository-version", "2")
    out: dict[str, float] = {}
    out["backup1"] = timed(lambda: r("backup", str(data)))
    out["size_after_1"] = du(work / "restic-repo")
    modify_fn()
    out["backup2"] = timed(lambda: r("backup", str(data)))
    out["repo_size"] = du(work / "restic-repo")
    out["noop_backup"] = timed(lambda: r("backup", str(data)))

    def restore() -> None:
        evict(work / "restic-repo" / "data")  # its packs, from the disk (see ``evict``)
        out["restore"] = timed(lambda: r("restore", "latest", "--target", str(work / "restic-out")))
        out["peak_rss_mib"] = max(rss) / 1024

    return out, restore


def run_borg(data: Path, work: Path, modify_fn: Any) -> dict[str, float]:
    """borg 1.2 (Debian): repokey-blake2 (authenticated encryption, like vaultlink's), lz4 (its default)."""
    repo = work / "borg-repo"
    env = dict(os.environ, BORG_PASSPHRASE=PASS, BORG_REPO=str(repo), BORG_BASE_DIR=str(work / "borg-base"),
               BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes", BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")
    rss: list[int] = []

    def b(*args: str, cwd: Path | None = None) -> None:
        cmd = ["borg", *args]
        if cwd is None:
            rss.append(run_measured(cmd, env)[2])
        else:  # borg extracts into the current directory
            old = os.getcwd()
            os.chdir(cwd)
            try:
                rss.append(run_measured(cmd, env)[2])
            finally:
                os.chdir(old)

    b("init", "--encryption=repokey-blake2")
    out: dict[str, float] = {}
    out["backup1"] = timed(lambda: b("create", "::one", str(data)))
    out["size_after_1"] = du(repo)
    modify_fn()
    out["backup2"] = timed(lambda: b("create", "::two", str(data)))
    out["repo_size"] = du(repo)
    dest = work / "borg-out"
    dest.mkdir()
    evict(repo / "data")  # its segments, from the disk (see ``evict``)
    out["restore"] = timed(lambda: b("extract", "::two", cwd=dest))
    out["peak_rss_mib"] = max(rss) / 1024
    out["noop_backup"] = timed(lambda: b("create", "::three", str(data)))
    return out


def make_small_files(root: Path, count: int, seed: int = 7) -> list[Path]:
    """``count`` files of 1-8 KiB (half random, half text), 1,000 to a directory: the issue's small-file
    runs (a source tree, a mail spool)."""
    import random

    rnd = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"vault", b"link", b"private", b"endpoint"]
    out = []
    for i in range(count):
        d = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            d.mkdir(parents=True)
        size = rnd.randint(1024, 8192)
        data = rnd.randbytes(size) if i % 2 else b" ".join(rnd.choice(words) for _ in range(size // 6))[:size]
        p = d / f"f{i:07d}.dat"
        p.write_bytes(data)
        out.append(p)
    return out


def same_tree(a: Path, b: Path) -> bool:
    import filecmp

    def walk(c: filecmp.dircmp[str]) -> bool:
        if c.left_only or c.right_only or c.funny_files:
            return False
        _, bad, err = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        return not bad and not err and all(walk(s) for s in c.subdirs.values())

    return walk(filecmp.dircmp(a, b))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--dir", default="/tmp/vlbackup")
    ap.add_argument("--skip-restic", action="store_true")
    ap.add_argument("--skip-borg", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--restic-first", action="store_true",
                    help="run restic's (and the engine's) backups before vaultlink's, and restic's restore before "
                         "vaultlink's: the first steps after the dataset is made run slower on this machine")
    ap.add_argument("--tls-cost", action="store_true",
                    help="also run vaultlink with tls = false on the same data and report what TLS costs")
    ap.add_argument("--cold", action="store_true",
                    help="drop the dataset from the page cache before every step (``evict``): every backup reads its "
                         "files from the disk, as a nightly backup of files nobody touched since does; without it, "
                         "what the page cache holds depends on the machine (this one pages out files untouched for "
                         "about a minute) and on which tool ran last")
    ap.add_argument("--small-files", type=int, default=0,
                    help="instead of the mixed dataset: this many files of 1-8 KiB (the issue's 10k/100k/1M runs)")
    a = ap.parse_args()
    work = fresh_workdir(a.dir)
    peers = {"restic": ["restic", "version"]}
    if not a.skip_borg:
        peers["borg"] = ["borg", "--version"]
    preflight(peers)
    t = time.perf_counter()
    data_root = work / "data"
    files = make_small_files(data_root, a.small_files) if a.small_files else make_dataset(data_root, a.size_mib * MiB)
    total = du(data_root)
    print(f"dataset: {len(files)} files, {total / MiB:.0f} MiB, generated in {time.perf_counter() - t:.1f}s")
    vl_data, rs_data, bg_data = work / "vl" / "data", work / "rs" / "data", work / "bg" / "data"
    plain_data = work / "plain" / "data"
    # copies for the peers that run (restic's also feeds the engine alone); vaultlink gets the generated tree
    # itself, moved: no copy and no mass deletion (new inodes after one are slow on this machine's /tmp)
    for d in (rs_data, *(() if a.skip_borg else (bg_data,)), *((plain_data,) if a.tls_cost else ())):
        d.parent.mkdir()
        shutil.copytree(data_root, d)
    vl_data.parent.mkdir()
    data_root.rename(vl_data)
    rel = [f.relative_to(data_root) for f in files]
    if a.cold:
        COLD.extend(d for d in (vl_data, rs_data, bg_data, plain_data) if d.exists())
    rs: dict[str, float] = {}
    restic_restore: Any = None
    engine = 0.0

    def peers_backups() -> None:
        """The engine alone and restic's backups, between vaultlink's backups and its restore: the two restores
        then run back to back, from the same file-system state (on this machine's ext4, making inodes costs
        more for minutes after many were deleted; a restore minutes apart from the other measured that)."""
        nonlocal restic_restore, engine, rs
        engine = engine_first_backup(rs_data, work)
        if not a.skip_restic and shutil.which("restic"):
            rs, restic_restore = run_restic(rs_data, work, lambda: modify([rs_data / p for p in rel]))

    def peer_restore() -> None:
        if restic_restore is not None:
            restic_restore()

    vl_modify = lambda: modify([vl_data / p for p in rel])  # noqa: E731
    if a.restic_first:  # the peers' backups, restic's restore, then vaultlink's steps, its restore last
        peers_backups()
        vl = run_vaultlink(vl_data, work, vl_modify, before_restore=peer_restore)
    else:
        vl = run_vaultlink(vl_data, work, vl_modify, before_restore=peers_backups)
        peer_restore()
    print("vaultlink:", {k: round(v, 3) for k, v in vl.items()})
    if rs:
        print("restic:", {k: round(v, 3) for k, v in rs.items()})
    ok = same_tree(vl_data, work / "vl-out" / "data")
    print(f"vaultlink restore identical to the source: {ok}")
    if a.tls_cost:
        (work / "plain.toml").write_text("tls = false\n")
        plain = run_vaultlink(plain_data, work, lambda: modify([plain_data / p for p in rel]),
                              ("--config", str(work / "plain.toml")), "plain")
        print("vaultlink, plain HTTP:", {k: round(v, 3) for k, v in plain.items()})
        for step in ("backup1", "backup2", "restore"):
            print(f"TLS cost, {step}: {vl[step]:.2f} s with TLS vs {plain[step]:.2f} s plain = "
                  f"{plain[step] / vl[step]:.2f} x the plain throughput (target >= 0.90)")
    print(f"engine alone, first backup: {total / MiB / engine:,.0f} MiB/s ({engine:.2f} s); through the private "
          f"endpoint: {vl['backup1'] and total / MiB / vl['backup1']:,.0f} MiB/s = {engine / vl['backup1']:.2f} x the "
          "engine (target >= 0.85)")
    print_report(vl, rs, total, "vaultlink (private endpoint)", "restic (local repo)")
    bg: dict[str, float] = {}
    if not a.skip_borg:
        bg = run_borg(bg_data, work, lambda: modify([bg_data / p for p in rel]))
        print("borg:", {k: round(v, 3) for k, v in bg.items()})
        print_report(vl, bg, total, "vaultlink (private endpoint)", "borg 1.2 (local repo)")
    for name, r in (("vaultlink agent", vl), ("restic", rs), ("borg", bg)):
        if r:
            print(f"{name:16} peak RSS {r['peak_rss_mib']:6.0f} MiB; no-change backup {r['noop_backup']:.2f} s")
    if not a.keep:
        remove_tree(work)
    if not ok:
        raise SystemExit("the restored tree differs from the source")


if __name__ == "__main__":
    main()
