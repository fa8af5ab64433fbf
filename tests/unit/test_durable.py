"""``durable.write_atomic``: the server's keys and the agent's machine state survive a crash and a full disk."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from vaultlink import durable
from vaultlink.agent.state import write_private


def test_the_data_reaches_the_disk_before_the_rename_and_the_rename_after(tmp_path: Path,
                                                                           sync_events: list[str]) -> None:
    durable.write_atomic(tmp_path / "sealing.key", b"key\n")
    assert sync_events == ["fsync file", "rename", "fsync dir"]
    assert (tmp_path / "sealing.key").read_bytes() == b"key\n"
    assert stat.S_IMODE((tmp_path / "sealing.key").stat().st_mode) == 0o600


def test_a_full_disk_leaves_the_old_file_and_nothing_beside_it(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    write_private(path, {"credential": "old"})
    real_write = os.write
    calls = [0]

    def write(fd: int, data: Any) -> int:
        calls[0] += 1
        if calls[0] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data)[:3])  # a short write first: the rest must still be written

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError) as exc:
        write_private(path, {"credential": "new"})
    assert exc.value.errno == errno.ENOSPC
    assert '"credential": "old"' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_short_writes_are_completed_and_a_crash_s_leftover_gets_the_mode(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    leftover = tmp_path / "owner.key.tmp"
    leftover.write_bytes(b"half")
    leftover.chmod(0o644)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[:5]))
    durable.write_atomic(tmp_path / "owner.key", b"vlk_0123456789\n")
    assert (tmp_path / "owner.key").read_bytes() == b"vlk_0123456789\n"
    assert stat.S_IMODE((tmp_path / "owner.key").stat().st_mode) == 0o600
    assert not leftover.exists()
    durable.write_atomic(tmp_path / "ca.pem", b"-----BEGIN", mode=0o644)
    assert stat.S_IMODE((tmp_path / "ca.pem").stat().st_mode) == 0o644


def test_a_directory_the_disk_cannot_flush_is_an_error_one_the_file_system_cannot_is_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = [errno.EIO]

    def fsync(fd: int) -> None:
        raise OSError(code[0], os.strerror(code[0]))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as exc:
        durable.sync_dir(tmp_path)  # the rename in it may be lost: the caller must know
    assert exc.value.errno == errno.EIO
    code[0] = errno.EINVAL
    durable.sync_dir(tmp_path)  # a file system without directory fsync
    with pytest.raises(FileNotFoundError):
        durable.sync_dir(tmp_path / "gone")


def test_publish_flushes_a_new_file_then_names_it_then_flushes_the_directory(tmp_path: Path,
                                                                             sync_events: list[str]) -> None:
    tmp = tmp_path / ".db.sqlite.vaultlink-tmp"
    tmp.write_bytes(b"SQLite format 3\0")
    durable.publish(tmp, tmp_path / "db.sqlite")
    assert sync_events == ["fsync file", "rename", "fsync dir"]
    assert [p.name for p in tmp_path.iterdir()] == ["db.sqlite"]
