"""``vaultlink agent ls``: what a recovery point holds, before a restore chooses from it, and a restore whose
``--include`` selects nothing. Before, a user had no way to see a point's paths, and a mistyped pattern (an
absolute path, the most common one) restored nothing, made an empty target and exited 0."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import registered_vm


def test_ls_lists_a_point_and_a_restore_of_nothing_is_refused(server: Server, tmp_path: Path) -> None:
    s = server
    vm, _creds = registered_vm(s, tmp_path)
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "docs" / "b.log").write_bytes(os.urandom(70_000))
    os.chmod(src / "docs" / "b.log", 0o640)
    for i in range(3000):  # more lines than any pipe buffer: `| head` must end the listing cleanly
        (src / f"f{i:04}").write_text(str(i))
    (src / "link").symlink_to("docs/a.txt")
    rp = vm.ok("backup", str(src), "--no-progress")["recovery_point"]["id"]

    listed = vm.ok("ls", rp)
    assert [n["path"] for n in listed][:4] == ["src", "src/docs", "src/docs/a.txt", "src/docs/b.log"]
    assert len(listed) == 3000 + 5
    b = next(n for n in listed if n["path"] == "src/docs/b.log")
    assert b["type"] == "file" and b["size"] == 70_000 and b["mode"] == "0640"
    assert next(n for n in listed if n["path"] == "src/link")["target"] == "docs/a.txt"

    table = vm.run("ls", rp, "src/docs/*.txt", "-o", "table")  # what `restore --include` would write
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [ln.split()[-1] for ln in lines] == ["src", "src/docs", "src/docs/a.txt"], lines
    assert lines[2].startswith("-rw-r--r--") and " 6 " in lines[2]

    piped = subprocess.run(f"{VAULTLINK} agent ls {rp} --state-dir {vm.state} --passphrase-file {vm.pw} "
                           "-o table | head -3", shell=True, env=s.env(), capture_output=True, text=True, timeout=60)
    assert len(piped.stdout.splitlines()) == 3 and "Traceback" not in piped.stderr, piped.stderr

    bad = str(src / "docs")  # an absolute path: paths in a point are relative
    for r in (vm.run("ls", rp, bad), vm.run("restore", rp, "--target", str(tmp_path / "out"), "--include", bad)):
        assert r.exit_code == 4 and r.error_code == "NotFound", (r.stdout, r.stderr)
        message = r.json["error"]["message"]
        assert "no path of the recovery point matches --include" in message
        assert "such as 'src', 'src/docs', 'src/docs/a.txt'" in message
    assert not (tmp_path / "out").exists(), "a restore of nothing makes no target"
    failed = [j for j in s.ok("job", "list", "prod") if j["type"] == "Restore"]
    assert [j["status"] for j in failed] == ["Failed"] and "matches --include" in failed[0]["error"]

    vm.ok("restore", rp, "--target", str(tmp_path / "out"), "--include", "src/docs/*.txt", "--no-progress")
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert got == ["src", "src/docs", "src/docs/a.txt"]

    # --exclude leaves out what matches, with the rules of `backup --exclude`; ls shows what restore writes
    assert [n["path"] for n in vm.ok("ls", rp, "src/docs", "--exclude", "*.log")] == ["src", "src/docs",
                                                                                       "src/docs/a.txt"]
    kept = [n["path"] for n in vm.ok("ls", rp, "--exclude", "/src/f*", "-e", "link")]
    vm.ok("restore", rp, "--target", str(tmp_path / "ex"), "--exclude", "/src/f*", "-e", "link", "--no-progress")
    got = sorted(str(p.relative_to(tmp_path / "ex")) for p in (tmp_path / "ex").rglob("*"))
    assert got == kept == ["src", "src/docs", "src/docs/a.txt", "src/docs/b.log"]
    everything = vm.run("restore", rp, "--target", str(tmp_path / "none"), "--exclude", "src")
    assert everything.exit_code == 4 and everything.json["error"]["field"] == "exclude", everything.stdout
    assert "is left by --exclude 'src'" in everything.json["error"]["message"]
    assert not (tmp_path / "none").exists()
    malformed = vm.run("restore", rp, "--target", str(tmp_path / "none"), "--exclude", "/")
    assert malformed.exit_code == 2 and malformed.error_code == "InvalidInput", malformed.stdout
    assert vm.run("ls", "rp-0000000000000000").error_code == "RecoveryPointNotFound"

    checked = vm.run("check", "--read-data", "-o", "table")  # a long check shows how far it is
    assert checked.exit_code == 0 and re.search(r"check .* 100% +(\d+)/\1 +packs", checked.stderr), checked.stderr
    assert "True" in checked.stdout
