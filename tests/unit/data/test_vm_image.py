"""VM images read through qemu-utils (agent/vm_image.py), on real qcow2 and raw files: the allocation map
reads data ranges only (also from a backing file), the change tracking gives exactly the blocks written,
an incremental point reads only those and restores the same image, compressed clusters are refused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from data_helpers import make_repo

from vaultlink.agent import vm_image as I
from vaultlink.data.stream import read_stream
from vaultlink.errors import ImageUnreadable, InvalidInput

MiB = 1 << 20
B = I.BLOCK


def sh(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout


def as_raw(path: Path, tmp: Path) -> bytes:
    out = tmp / f"{path.name}.flat"
    sh("qemu-img", "convert", "-O", "raw", str(path), str(out))
    data = out.read_bytes()
    out.unlink()
    return data


def test_blocks_come_from_the_allocation_map_and_the_backing_chain(tmp_path: Path) -> None:
    base, top = tmp_path / "base.qcow2", tmp_path / "vm.qcow2"
    sh("qemu-img", "create", "-f", "qcow2", str(base), "8M")
    sh("qemu-io", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 5M 256k", str(base))
    sh("qemu-img", "create", "-f", "qcow2", "-b", base.name, "-F", "qcow2", str(top))
    sh("qemu-io", "-c", "write -P 0x33 512k 64k", str(top))
    r = I.BlockReader(str(top), "qcow2")
    try:
        assert r.size == 8 * MiB and len(r.files) == 2
        flat = as_raw(top, tmp_path)
        got = b"".join(I.ZERO if r.is_zero(i) else r.read(i) for i in range(r.size // B))
        assert got == flat
        assert r.bytes_read == MiB + 256 * 1024, "only allocated data is read"
    finally:
        r.close()
    assert [i["name"] for i in I.scan(str(tmp_path))] == ["base.qcow2", "vm.qcow2"]


def test_change_tracking_reads_only_written_blocks_and_restores_the_image(tmp_path: Path) -> None:
    img = tmp_path / "vm.qcow2"
    sh("qemu-img", "create", "-f", "qcow2", str(img), "16M")
    sh("qemu-io", "-c", "write -P 0x41 0 4M", str(img))
    repo = make_repo()
    bm = I.add_bitmap(str(img))
    first = I.backup_image("vm", str(img), "qcow2", repo, None, None, hostname="h", tags={}, parent=None)
    assert not first.tracked and first.blocks == 16 * MiB // B
    sh("qemu-io", "-c", f"write -P 0x42 {3 * B} {B}", "-c", f"write -P 0x43 {200 * B + 100} 10", str(img))
    dirty = I.dirty_ranges(str(img), bm)
    assert dirty == [(3 * B, B), (200 * B, B)]
    second = I.backup_image("vm", str(img), "qcow2", repo, first.result.manifest, dirty, hostname="h", tags={},
                            parent="rp1")
    assert second.tracked and second.blocks_read == 2 and second.result.stats.bytes_read == 2 * B
    out = tmp_path / "back.raw"
    done = I.restore_image(second.result.manifest, repo, str(out), "raw", read_stream)
    assert out.read_bytes() == as_raw(img, tmp_path) and done["size"] == 16 * MiB
    assert os.stat(out).st_blocks * 512 < 8 * MiB, "zero blocks are holes"
    with pytest.raises(InvalidInput):
        I.restore_image(second.result.manifest, repo, str(out), "raw", read_stream)
    I.remove_bitmap(str(img), bm)
    assert I.bitmaps(str(img)) == []


def test_raw_images_and_compressed_clusters(tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(4 * MiB)
        f.seek(MiB + 7)
        f.write(b"x" * 1000)
    repo = make_repo()
    done = I.backup_image("disk", str(raw), "raw", repo, None, None, hostname="h", tags={}, parent=None)
    assert done.result.stats.bytes_read <= 4096 * 2, "a sparse raw image reads its data only"
    out = tmp_path / "disk.qcow2"
    I.restore_image(done.result.manifest, repo, str(out), "qcow2", read_stream)
    assert I.image_format(str(out)) == "qcow2" and as_raw(out, tmp_path) == raw.read_bytes()
    packed = tmp_path / "packed.qcow2"
    sh("qemu-img", "convert", "-c", "-O", "qcow2", str(out), str(packed))
    with pytest.raises(ImageUnreadable, match="compressed"):
        I.backup_image("p", str(packed), "qcow2", repo, None, None, hostname="h", tags={}, parent=None)
    with pytest.raises(ImageUnreadable):
        I.dirty_ranges(str(packed), "no-such-bitmap")


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_a_restored_image_is_on_the_disk_before_and_after_it_takes_its_name(
        tmp_path: Path, sync_events: list[str], fmt: str) -> None:
    raw = tmp_path / "disk.img"
    raw.write_bytes(os.urandom(3 * B))
    repo = make_repo()
    done = I.backup_image("disk", str(raw), "raw", repo, None, None, hostname="h", tags={}, parent=None)
    out = tmp_path / "back" / f"disk.{fmt}"
    out.parent.mkdir()
    I.restore_image(done.result.manifest, repo, str(out), fmt, read_stream)
    assert sync_events[-3:] == ["fsync file", "rename", "fsync dir"], "a crash must not leave a named, cut image"
    assert as_raw(out, tmp_path) == raw.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name], "no temporary file is left"


def test_a_failed_qcow2_conversion_leaves_no_target_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "disk.img"
    raw.write_bytes(os.urandom(2 * B))
    repo = make_repo()
    done = I.backup_image("disk", str(raw), "raw", repo, None, None, hostname="h", tags={}, parent=None)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "qemu-img").write_text('#!/bin/sh\nfor a; do out="$a"; done\nprintf half > "$out"\n'
                                   'echo "No space left on device" >&2\nexit 1\n')
    (fake / "qemu-img").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    out = tmp_path / "back" / "disk.qcow2"
    out.parent.mkdir()
    with pytest.raises(ImageUnreadable, match="No space left"):
        I.restore_image(done.result.manifest, repo, str(out), "qcow2", read_stream)
    assert list(out.parent.iterdir()) == [], "a cut conversion must not stand as the restored image"
