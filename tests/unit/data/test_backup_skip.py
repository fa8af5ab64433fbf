"""What a backup leaves out (``count_walk.Skip``): ``--exclude`` patterns (an absolute one matches a whole path,
any other the end of one; an excluded directory takes its subtree; a root is never excluded), kernel file
systems below a root (``/proc`` under ``/``), and other file systems with ``--one-file-system``. The walk and the
progress count (a child process) leave out the same paths. Before, ``agent backup /`` read ``/proc/kcore`` (128
TiB as it claims) and there was no way to leave out a cache directory."""

from __future__ import annotations

import os
import time
from pathlib import Path

from data_helpers import make_repo

from vaultlink.data import backup
from vaultlink.data.count import TreeCount
from vaultlink.data.count_walk import Skip, count_tree, pseudo_devices
from vaultlink.data.tree import Unreadable, iter_tree

NONE: frozenset[int] = frozenset()


def _tree(root: Path) -> None:
    for rel in ("docs/a.txt", "docs/b.tmp", "docs/node_modules/x/y.js", "cache/pip/w.whl", "cache/keep",
                "build/out.o", "node_modules/top.js", "notes.tmp.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode() * 10)


def _walk(root: Path, skip: Skip) -> list[str]:
    errors = Unreadable()
    out = [n.path for n, _src in iter_tree([str(root)], errors, skip)]
    assert not errors.count
    return out


def test_patterns_match_ends_of_paths_or_whole_absolute_ones(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    skip = Skip(["*.tmp", "node_modules/", "cache/pip", f"{src}/build", ""], pseudo=NONE)
    got = _walk(src, skip)
    assert got == ["src", "src/cache", "src/cache/keep", "src/docs", "src/docs/a.txt", "src/notes.tmp.txt"]
    assert list(count_tree([str(src)], skip=skip))[-1] == (3, 10 * (len("cache/keep") + len("docs/a.txt")
                                                                     + len("notes.tmp.txt")))
    assert _walk(src, Skip(["src"], pseudo=NONE))[0] == "src", "a root is never excluded"
    assert len(_walk(src, Skip(pseudo=NONE))) == 16


def test_the_child_count_takes_the_same_rules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    skip = Skip(["*.tmp", "node_modules", "/nowhere/*"], pseudo=NONE)
    counter = TreeCount([str(src)], skip)
    try:
        deadline = time.monotonic() + 30
        while not counter.finished and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counter.finished and counter.totals == list(count_tree([str(src)], skip=skip))[-1]
        assert counter.totals[0] == 5
    finally:
        counter.close()


def test_other_file_systems_below_a_root_are_kept_empty(tmp_path: Path) -> None:
    """``descend`` decides on device numbers: the root's own, a kernel file system's, any other's."""
    assert Skip(pseudo=frozenset({7})).descend(5, 5) and Skip(pseudo=frozenset({5})).descend(5, 5)
    assert not Skip(pseudo=frozenset({7})).descend(7, 5), "a kernel file system below a root"
    assert Skip(pseudo=NONE).descend(9, 5), "another disk's mount point is walked by default"
    assert not Skip(one_file_system=True, pseudo=NONE).descend(9, 5)
    assert Skip(["x"], True).argv() == ["--exclude", "x", "--one-file-system"]


def test_kernel_file_systems_are_read_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                    "23 22 0:21 / /proc rw,nosuid - proc proc rw\n"
                    "24 22 0:22 / /sys rw - sysfs sysfs rw\n"
                    "25 22 0:40 / /tmp rw - tmpfs tmpfs rw\n"
                    "garbage line\n")
    assert pseudo_devices(str(info)) == {os.makedev(0, 21), os.makedev(0, 22)}
    assert pseudo_devices(str(tmp_path / "missing")) == frozenset()
    assert os.stat("/proc").st_dev in pseudo_devices(), "this machine's /proc"


def test_a_backup_leaves_out_what_it_is_told(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    repo = make_repo()
    res = backup([src], repo, skip=Skip(["*.tmp", "node_modules", "cache"], pseudo=NONE), progress=lambda p: None)
    assert [n.path for n in repo.manifest_nodes(res.name)] == [
        "src", "src/build", "src/build/out.o", "src/docs", "src/docs/a.txt", "src/notes.tmp.txt"]
    assert res.stats.files == 3
