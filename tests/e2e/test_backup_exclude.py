"""What a backup leaves out, through the real CLI: ``--exclude`` (repeatable), ``--exclude-file``, kernel file
systems below a path given (a ``proc`` mounted inside the tree, as ``/proc`` is under ``/``) and, with
``--one-file-system``, any other mount point (kept, empty). The mounts are made in a mount namespace of the
test's own (``unshare --mount``), never on the host. Before, ``agent backup /`` read ``/proc/kcore`` and every
cache directory: there was no way to leave anything out."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import Vm, registered_vm


def json_of(r: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(r.stdout)


def _in_mounts(vm: Vm, src: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``agent backup SRC ARGS`` in a new mount namespace where SRC/proc is a proc and SRC/scratch a tmpfs."""
    assert shutil.which("unshare"), "unshare (util-linux) makes the test's own mount namespace"
    cmd = " ".join(shlex.quote(a) for a in (VAULTLINK, "agent", "backup", str(src), "--no-progress", "-o", "json",
                                            "--state-dir", str(vm.state), "--passphrase-file", str(vm.pw), *args))
    script = (f"set -e; mount -t proc proc {shlex.quote(str(src / 'proc'))}; "
              f"mount -t tmpfs -o size=4m tmpfs {shlex.quote(str(src / 'scratch'))}; "
              f"echo on-tmpfs > {shlex.quote(str(src / 'scratch' / 'f.txt'))}; exec {cmd}")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=vm.s.env(),
                          capture_output=True, text=True, timeout=120)


def test_exclude_patterns_kernel_file_systems_and_one_file_system(server: Server, tmp_path: Path) -> None:
    s = server
    vm, _creds = registered_vm(s, tmp_path)
    src = tmp_path / "src"
    for rel in ("docs/a.txt", "docs/b.tmp", "app/node_modules/m.js", "app/main.py", "home/.cache/pip/w",
                "home/notes"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    (src / "proc").mkdir()
    (src / "scratch").mkdir()
    (tmp_path / "excludes").write_text("# caches\n.cache\n\n  node_modules  \n")

    r = _in_mounts(vm, src, "--exclude", "*.tmp", "--exclude-file", str(tmp_path / "excludes"))
    assert r.returncode == 0, (r.stdout, r.stderr)
    paths = [n["path"] for n in vm.ok("ls", json_of(r)["recovery_point"]["id"])]
    assert paths == ["src", "src/app", "src/app/main.py", "src/docs", "src/docs/a.txt", "src/home",
                     "src/home/notes", "src/proc", "src/scratch", "src/scratch/f.txt"], paths
    assert json_of(r)["stats"]["error_count"] == 0, "nothing of the proc was read, nor failed"

    x = _in_mounts(vm, src, "-x")
    assert x.returncode == 0, (x.stdout, x.stderr)
    paths = [n["path"] for n in vm.ok("ls", json_of(x)["recovery_point"]["id"])]
    assert "src/scratch" in paths and "src/scratch/f.txt" not in paths and "src/app/node_modules/m.js" in paths

    missing = vm.run("backup", str(src), "--exclude-file", str(tmp_path / "nope"), "--no-progress")
    assert missing.exit_code == 4 and missing.error_code == "NotFound" and "exclude file" in missing.stdout
    empty = vm.run("backup", str(src), "--exclude", "/", "--no-progress")
    assert empty.exit_code == 2 and empty.error_code == "InvalidInput", empty.stderr
    jobs = s.ok("job", "list", "prod")
    assert len(jobs) == 2, "a refused option starts no job"

