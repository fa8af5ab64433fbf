"""Benchmark of the backup engine against restic, in the same run, on this machine.

    .venv/bin/python bench/data_bench.py [--size-mib 256] [--dir /tmp/vlbench] [--skip-restic] [--keep]

1. Primitive throughput: chunker, keyed BLAKE3, AES-256-GCM, zstd level 3.
2. A generated mixed dataset (fixed seed): random files, compressible text,
   small files, duplicated files, shifted copies.
3. vaultlink (LocalBlobStore, fsync on) and restic (local repository) each:
   first backup, second backup after modifying 5% of the files, full restore,
   repository size. Prints a Markdown table with ratios (vaultlink / restic).
Not a test; CI never runs it. Bounded: fixed dataset, one pass of each step.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _product import fresh_workdir, preflight, remove_tree  # bench/ is on the path: this script's directory

MiB = 1024 * 1024
PASS = "benchmark passphrase 0123456789"


def prims(n: int = 256 * MiB) -> dict[str, float]:
    import blake3
    import zstandard
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from vaultlink.data.chunker import Chunker, is_compiled

    assert is_compiled(), "pyfastcdc runs its pure-Python fallback"
    rnd = os.urandom(n)
    text = _text(random.Random(2), 64 * MiB)
    out: dict[str, float] = {}

    def rate(label: str, nbytes: int, fn: object) -> None:
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out[label] = nbytes / MiB / (time.perf_counter() - t)

    mv = memoryview(rnd)
    c = Chunker()
    rate("FastCDC (compiled) chunking", n, lambda: sum(1 for _ in c.cut(rnd)))
    key = os.urandom(32)
    rate(
        "keyed BLAKE3 (1 MiB pieces)",
        n,
        lambda: [blake3.blake3(mv[i : i + MiB], key=key).digest() for i in range(0, n, MiB)],
    )
    a, nonce = AESGCM(key), os.urandom(12)
    rate(
        "AES-256-GCM (1 MiB pieces)",
        n,
        lambda: [a.encrypt(nonce, mv[i : i + MiB], b"x" * 32) for i in range(0, n, MiB)],
    )
    z = zstandard.ZstdCompressor(level=3)
    tv = memoryview(text)
    rate(
        "zstd-3 compressible text",
        len(text),
        lambda: [z.compress(tv[i : i + MiB]) for i in range(0, len(text), MiB)],
    )
    rate(
        "zstd-3 random (incompressible)",
        64 * MiB,
        lambda: [z.compress(mv[i : i + MiB]) for i in range(0, 64 * MiB, MiB)],
    )
    comp = [z.compress(tv[i : i + MiB]) for i in range(0, len(text), MiB)]
    d = zstandard.ZstdDecompressor()
    rate("zstd decompress text", len(text), lambda: [d.decompress(x) for x in comp])
    return out


_WORDS: list[bytes] = []


def _text(rng: random.Random, n: int) -> bytes:
    if not _WORDS:
        w = random.Random(99)
        _WORDS.extend(
            bytes(w.choice(b"etaoinshrdlucmfwypvbgkqjxz") for _ in range(w.randint(1, 10)))
            for _ in range(20000)
        )
        _WORDS.extend([b"\n", b"the", b"of", b"and", b"= 0;", b"{", b"}", b"\n    "])
    words = rng.choices(_WORDS, k=n // 5 + 16)
    return b" ".join(words)[:n]


def make_dataset(root: Path, size: int, seed: int = 42) -> list[Path]:
    """~``size`` bytes: 40% random, 35% text, 5% small files, 10% duplicates, 10% shifted copies."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    files: list[Path] = []
    made = 0

    def write(rel: str, data: bytes) -> None:
        nonlocal made
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        files.append(p)
        made += len(data)

    i = 0
    while made < size * 0.40:
        write(f"random/d{i % 7}/r{i}.bin", rng.randbytes(rng.randint(64 * 1024, 24 * MiB)))
        i += 1
    while made < size * 0.75:
        write(f"text/d{i % 11}/t{i}.txt", _text(rng, rng.randint(4 * 1024, 6 * MiB)))
        i += 1
    while made < size * 0.80:
        write(f"small/s{i % 13}/f{i}.dat", _text(rng, rng.randint(100, 48 * 1024)))
        i += 1
    big = [f for f in files if f.stat().st_size > MiB]
    while made < size * 0.90:
        src = rng.choice(big)
        write(f"dups/{i}-{src.name}", src.read_bytes())
        i += 1
    while made < size:
        src = rng.choice(big)
        data = src.read_bytes()
        cut = rng.randint(0, len(data))
        write(f"shifted/{i}-{src.name}", data[:cut] + rng.randbytes(rng.randint(1, 5000)) + data[cut:])
        i += 1
    return files


def modify(files: list[Path], fraction: float = 0.05, seed: int = 7) -> int:
    """Change ``fraction`` of the files: overwrite 4 KiB in place or append 64 KiB. Returns count."""
    rng = random.Random(seed)
    chosen = rng.sample(files, max(1, int(len(files) * fraction)))
    for p in chosen:
        size = p.stat().st_size
        with open(p, "r+b") as f:
            if size > 8192 and rng.random() < 0.7:
                f.seek(rng.randint(0, size - 4096))
                f.write(rng.randbytes(4096))
            else:
                f.seek(0, 2)
                f.write(rng.randbytes(64 * 1024))
    return len(chosen)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(fn: object) -> float:
    """``fn``'s wall time, after ``sync``: the dataset copies and earlier steps' writes are on disk, so no timed
    step shares the cores with their writeback (a 1 GiB restore right after the copies took 2.2-2.5 s, not 1.5)."""
    os.sync()
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def run_vaultlink(data: Path, work: Path, modify_fn: object) -> dict[str, float]:
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import Repository, backup, restore

    store = LocalBlobStore(work / "vl-repo")
    repo = Repository.init(store, PASS)
    res: dict[str, object] = {}
    out: dict[str, float] = {}
    out["backup1"] = timed(lambda: res.update(first=backup([data], repo)))
    first = res["first"]
    out["new_bytes_1"] = first.stats.bytes_new  # type: ignore[attr-defined]
    out["size_after_1"] = du(work / "vl-repo")
    modify_fn()  # type: ignore[operator]
    repo = Repository.open(store, PASS)
    out["backup2"] = timed(lambda: res.update(second=backup([data], repo, first.manifest)))  # type: ignore[attr-defined]
    second = res["second"]
    out["read_2"] = second.stats.bytes_read  # type: ignore[attr-defined]
    out["repo_size"] = du(work / "vl-repo")
    repo = Repository.open(store, PASS)
    m = repo.load_manifest(second.name)  # type: ignore[attr-defined]
    out["restore"] = timed(lambda: restore(m, repo, work / "vl-out"))
    return out


def run_restic(data: Path, work: Path, modify_fn: object) -> dict[str, float]:
    env = dict(
        os.environ,
        RESTIC_PASSWORD=PASS,
        RESTIC_REPOSITORY=str(work / "restic-repo"),
        RESTIC_CACHE_DIR=str(work / "restic-cache"),
    )

    def r(*args: str) -> None:
        subprocess.run(["restic", "--quiet", *args], env=env, check=True, stdout=subprocess.DEVNULL)

    r("init", "--repository-version", "2")
    out: dict[str, float] = {}
    out["backup1"] = timed(lambda: r("backup", str(data)))
    out["size_after_1"] = du(work / "restic-repo")
    modify_fn()  # type: ignore[operator]
    out["backup2"] = timed(lambda: r("backup", str(data)))
    out["repo_size"] = du(work / "restic-repo")
    out["restore"] = timed(lambda: r("restore", "latest", "--target", str(work / "restic-out")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--dir", default="/tmp/vlbench")
    ap.add_argument("--skip-restic", action="store_true")
    ap.add_argument("--skip-prims", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    preflight(None if a.skip_restic else {"restic": ["restic", "version"]})
    # an earlier run's tree is set aside (removed when this run ends), and the run waits until trees removed
    # lately have settled: on ext4 without a journal, new files pay for recently deleted inodes (_product.settle)
    work = fresh_workdir(a.dir)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    print(f"# data bench  {stamp}  cpus={os.cpu_count()}  python={sys.version.split()[0]}")
    if not a.skip_prims:
        print("\n| primitive | MiB/s (1 core) |\n|---|---:|")
        for k, v in prims().items():
            print(f"| {k} | {v:,.0f} |")
    size = a.size_mib * MiB
    t = time.perf_counter()
    data_root = work / "data"
    files = make_dataset(data_root, size)
    total = du(data_root)
    print(
        f"\ndataset: {len(files)} files, {total / MiB:.0f} MiB, generated in {time.perf_counter() - t:.1f}s"
    )
    # two identical copies of the dataset so each tool modifies its own; the original stays until the run ends (on
    # ext4 without a journal, files made soon after a removal pay for it: _product.settle)
    vl_data, rs_data = work / "vl" / "data", work / "rs" / "data"
    vl_data.parent.mkdir()
    rs_data.parent.mkdir()
    shutil.copytree(data_root, vl_data)
    shutil.copytree(data_root, rs_data)
    rel = [f.relative_to(data_root) for f in files]
    vl = run_vaultlink(vl_data, work, lambda: modify([vl_data / p for p in rel]))
    print("vaultlink:", {k: round(v, 3) for k, v in vl.items()})
    rs: dict[str, float] = {}
    if not a.skip_restic and shutil.which("restic"):
        rs = run_restic(rs_data, work, lambda: modify([rs_data / p for p in rel]))
        print("restic:", {k: round(v, 3) for k, v in rs.items()})
    print_report(vl, rs, total)
    if not a.keep:
        remove_tree(work)


def print_report(vl: dict[str, float], rs: dict[str, float], total: int, label: str = "vaultlink",
                 peer: str = "restic") -> None:
    """The markdown table of both tools' steps and their ratios against the issue's targets."""
    print(f"\n| step | {label} | {peer} | ratio (target) |\n|---|---:|---:|---:|")
    for step, target in (("backup1", "~2"), ("backup2", ">= 1.0"), ("restore", ">= 1.8")):
        v = total / MiB / vl[step]
        line = f"| {step} MiB/s | {v:,.0f} ({vl[step]:.2f} s) |"
        if rs:
            x = total / MiB / rs[step]
            line += f" {x:,.0f} ({rs[step]:.2f} s) | {v / x:.2f} ({target}) |"
        print(line)
    line = f"| repository MiB | {vl['repo_size'] / MiB:,.1f} |"
    if rs:
        line += f" {rs['repo_size'] / MiB:,.1f} | {vl['repo_size'] / rs['repo_size']:.3f} (<= 1.05) |"
    print(line)


if __name__ == "__main__":
    main()
