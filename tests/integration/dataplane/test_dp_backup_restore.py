"""Register, back up, restore and check through the data-plane services (in-process server)."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest
from dp_helpers import make_tree, registered, same_tree
from dp_world import PASS, DataPlane

from vaultlink.adapters.blob_local import LocalPieces
from vaultlink.errors import CorruptData, InvalidInput, PassphraseTooShort, UnsafePath, WrongPassphrase


def test_backup_then_restore_is_identical_and_recorded(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    out = agent.backup([str(src)], PASS)
    rp = out["recovery_point"]
    assert rp["files"] == 4 and rp["bytes_total"] == os.path.getsize(src / "docs" / "a.txt") + 3_000_000
    assert rp["protected_item"] == str(src) and rp["hostname"] == "vm1"
    assert rp["dedup_ratio"] > 1.6  # copy.bin duplicates r.bin
    assert out["job"]["status"] == "Completed"
    res = agent.restore(rp["id"], str(tmp_path / "out"), PASS)
    assert res["files"] == 4
    assert same_tree(src, tmp_path / "out" / "src")
    with dp.svc.store.transaction() as txn:
        v = txn.require("vault", dp.vault["id"])
        jobs = txn.find("job", parent_id=dp.vault["id"])
    assert v["protection_history"] == {"attempted": True, "container_registered": True, "item_protected": True}
    assert [(j["type"], j["status"]) for j in jobs] == [("Backup", "Completed"), ("Restore", "Completed")]


def test_service_never_sees_plaintext(dp: DataPlane, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    secret = b"TOP-SECRET-MARKER-" * 1000
    (src / "s.txt").write_bytes(secret)
    agent = registered(dp, tmp_path / "state")
    agent.backup([str(src)], PASS)
    for f in dp.blob_files():
        data = f.read_bytes()
        assert b"TOP-SECRET-MARKER" not in data and PASS.encode() not in data
    db = (dp.tmp / "data" / "vaultlink.db").read_bytes()
    assert PASS.encode() not in db


def test_second_backup_skips_unchanged_files_and_dedups(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    agent.backup([str(src)], PASS)
    with open(src / "docs" / "a.txt", "ab") as fh:
        fh.write(b"one more line\n")
    out = agent.backup([str(src)], PASS)
    st = out["stats"]
    assert st["files_unchanged"] == 3 and st["bytes_read"] == os.path.getsize(src / "docs" / "a.txt")
    assert st["bytes_new"] < 1_100_000
    res = agent.restore(out["recovery_point"]["id"], str(tmp_path / "out"), PASS)
    assert res["files"] == 4 and same_tree(src, tmp_path / "out" / "src")


def test_restore_include_pattern(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(src)], PASS)["recovery_point"]
    agent.restore(rp["id"], str(tmp_path / "out"), PASS, include=["src/docs/deep*"])
    assert (tmp_path / "out" / "src" / "docs" / "deep" / "r.bin").exists()
    assert not (tmp_path / "out" / "src" / "docs" / "a.txt").exists()


def test_restore_refuses_symlink_in_target(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(src)], PASS)["recovery_point"]
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", out / "src")
    with pytest.raises(UnsafePath):
        agent.restore(rp["id"], str(out), PASS)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_short_passphrase_refused_at_first_registration(dp: DataPlane, tmp_path: Path) -> None:
    with pytest.raises(PassphraseTooShort):
        registered(dp, tmp_path / "state", passphrase="too short")
    assert not (tmp_path / "state" / "state.json").exists()


def test_wrong_passphrase_refused(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    with pytest.raises(WrongPassphrase):
        agent.backup([str(src)], "a different passphrase!!")


def test_corrupted_pack_found_by_check_and_restore(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(src)], PASS)["recovery_point"]
    assert agent.check(PASS, read_data=True)["ok"]
    packs = [f for f in dp.blob_files() if "/packs/" in str(f)]
    assert packs
    with open(packs[0], "r+b") as fh:  # flip a byte inside the first chunk's ciphertext
        fh.seek(64)
        b = fh.read(1)
        fh.seek(64)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(CorruptData) as ei:
        agent.check(PASS, read_data=True)
    assert ei.value.details["files"]
    with pytest.raises(CorruptData) as er:
        agent.restore(rp["id"], str(tmp_path / "out"), PASS)
    assert set(er.value.details["files"]) <= {f"src/{p}" for p in ("docs/a.txt", "docs/deep/r.bin", "docs/copy.bin")}
    assert any(f in er.value.message for f in er.value.details["files"])


def test_a_blob_read_failing_mid_answer_is_retried_and_the_restore_is_whole(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server sends a large range a piece at a time; a read failing once the answer has begun closes the
    connection (fewer bytes than announced), and the agent asks again: the restore completes, byte-identical."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(random.Random(3).randbytes(6 << 20))
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(src)], PASS)["recovery_point"]
    real = LocalPieces.__next__
    calls = {"pieces": 0, "failed": 0}

    def flaky(self: LocalPieces) -> bytes:
        calls["pieces"] += 1
        if calls["pieces"] == 2:  # the second piece of the first streamed range: after the answer's head
            calls["failed"] += 1
            raise OSError(errno.EIO, "Input/output error")
        return real(self)

    monkeypatch.setattr(LocalPieces, "__next__", flaky)
    res = agent.restore(rp["id"], str(tmp_path / "out"), PASS)
    assert calls["failed"] == 1 and calls["pieces"] > 6 and agent.http.retries >= 1
    assert res["files"] == 1 and same_tree(src, tmp_path / "out" / "src")


def _text_tree(root: Path, seed: int) -> Path:
    """About 3 MB of compressible text in two files (larger than a read segment: both chunking paths)."""
    rnd = random.Random(seed)
    words = [bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9))) for _ in range(400)]
    root.mkdir(parents=True)
    for name in ("a.txt", "b.txt"):
        (root / name).write_bytes(b" ".join(rnd.choices(words, k=260_000)))
    return root


def test_the_compression_level_of_a_backup_is_its_own_and_a_bad_one_is_refused(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    before = dp.blob_files()
    with pytest.raises(InvalidInput, match="compression-level must be 0"):
        agent.backup([str(make_tree(tmp_path / "x"))], PASS, compression_level=20)
    assert dp.blob_files() == before  # refused before anything was sent
    with dp.svc.store.transaction() as txn:
        assert txn.find("job", parent_id=dp.vault["id"]) == []
    raw = agent.backup([str(_text_tree(tmp_path / "raw", 1))], PASS, compression_level=0)
    assert raw["stats"]["stored_bytes"] >= raw["stats"]["bytes_new"]  # stored as they are (sealed)
    packed = agent.backup([str(_text_tree(tmp_path / "packed", 2))], PASS)  # the default level
    assert packed["stats"]["stored_bytes"] < 0.75 * packed["stats"]["bytes_new"]
    for name, out in (("raw", raw), ("packed", packed)):
        agent.restore(out["recovery_point"]["id"], str(tmp_path / f"out-{name}"), PASS)
        assert same_tree(tmp_path / name, tmp_path / f"out-{name}" / name)
