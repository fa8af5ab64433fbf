"""``vaultlink agent diff`` (what changed between two points, path by path), ``agent find`` (which points hold
a file) and ``agent dump`` (one file of a point to stdout, a restore job), driven as a user would, through a
private endpoint."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import registered_vm


def test_diff_names_what_changed_and_dump_writes_one_file(server: Server, tmp_path: Path) -> None:
    s = server
    vm, _creds = registered_vm(s, tmp_path)
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("alpha\n")
    (src / "docs" / "gone.txt").write_text("removed later\n")
    big = os.urandom(5 * 2**20 + 123)  # several chunks, fetched ahead of the one written
    (src / "db.dump").write_bytes(big)
    (src / "same.txt").write_text("unchanged\n")
    rp1 = vm.ok("backup", str(src), "--no-progress")["recovery_point"]["id"]
    (src / "docs" / "a.txt").write_text("alpha, edited\n")
    (src / "docs" / "gone.txt").unlink()
    (src / "docs" / "new.txt").write_text("new\n")
    os.chmod(src / "same.txt", 0o600)  # metadata only
    rp2 = vm.ok("backup", str(src), "--no-progress")["recovery_point"]["id"]

    out = vm.ok("diff", rp1, rp2)
    assert [(c["change"], c["path"]) for c in out["changes"]] == [
        ("M", "src/docs/a.txt"), ("-", "src/docs/gone.txt"), ("+", "src/docs/new.txt")]
    assert out["summary"]["added"] == 1 and out["summary"]["removed"] == 1 and out["summary"]["modified"] == 1
    assert out["summary"]["bytes_added"] == len("alpha, edited\n") + len("new\n")
    meta = vm.ok("diff", rp1, rp2, "--metadata")
    assert ("U", "src/same.txt") in [(c["change"], c["path"]) for c in meta["changes"]]
    table = vm.run("diff", rp1, rp2, "-o", "table")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[:3] == ["M    src/docs/a.txt", "-    src/docs/gone.txt", "+    src/docs/new.txt"]
    assert "1 added, 1 removed, 1 modified" in table.stdout
    assert vm.ok("diff", rp2, rp2) == {"changes": [], "summary": {**out["summary"], "added": 0, "removed": 0,
                                                                 "modified": 0, "bytes_added": 0, "bytes_removed": 0}}
    assert vm.run("diff", rp1, "rp-0000000000000000").error_code == "RecoveryPointNotFound"
    assert vm.ok("diff", "latest~1", "latest") == out  # this machine's newest point, and the one before it
    assert [n["path"] for n in vm.ok("ls", "latest", "src/docs/new.txt")][-1] == "src/docs/new.txt"
    # find: which points hold a file, newest first (gone.txt only in the first; a.txt in both)
    found = vm.ok("find", "gone.txt", "*.txt")
    assert [(f["recovery_point"], f["path"]) for f in found if f["path"].endswith(("gone.txt", "a.txt"))] == [
        (rp2, "src/docs/a.txt"), (rp1, "src/docs/a.txt"), (rp1, "src/docs/gone.txt")]
    assert [f["path"] for f in vm.ok("find", "/src/docs/new.txt", "--newest", "1")] == ["src/docs/new.txt"]
    assert vm.ok("find", "nothing-like-this") == []
    assert vm.run("find", "/").error_code == "InvalidInput"
    table = vm.run("find", "db.dump", "-o", "table")
    assert [ln.split()[0] for ln in table.stdout.splitlines()] == [rp2, rp1], table.stdout
    none = vm.run("ls", "latest~2")
    assert none.exit_code == 4 and "has 2 completed recovery point(s)" in none.json["error"]["message"]

    def dump(*args: str, stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([VAULTLINK, "agent", "dump", *args, "--state-dir", str(vm.state), "--passphrase-file",
                               str(vm.pw)], env=s.env(), stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)

    got = dump(rp2, "src/db.dump")
    assert got.returncode == 0 and got.stdout == big, got.stderr
    assert f"src/db.dump: {len(big):,} bytes" in got.stderr.decode()
    assert dump(rp2, "/src/docs/a.txt").stdout == b"alpha, edited\n"  # a leading / is forgiven
    assert dump("latest~1", "src/docs/a.txt").stdout == b"alpha\n"
    restores = [j for j in s.ok("job", "list", "prod") if j["type"] == "Restore"]
    assert len(restores) == 3 and {j["status"] for j in restores} == {"Completed"}

    for path, code, exit_code in (("src/docs", "InvalidInput", 2), ("src/nothing", "NotFound", 4)):
        bad = dump(rp2, path)  # the error on stderr: stdout carries a file's bytes alone
        assert bad.returncode == exit_code and bad.stdout == b"", bad.stderr
        assert bad.stderr.decode().startswith(f"error: {code}: "), bad.stderr
    assert "restore it with `vaultlink agent restore" in dump(rp2, "src/docs").stderr.decode()
    assert "such as 'src', 'src/db.dump'" in dump(rp2, "db.dump").stderr.decode()

    piped = subprocess.run(f"{VAULTLINK} agent dump {rp2} src/db.dump --state-dir {vm.state} --passphrase-file "
                           f"{vm.pw} | head -c 100 | wc -c", shell=True, env=s.env(), capture_output=True, text=True,
                           timeout=60)
    assert piped.stdout.strip() == "100" and "Traceback" not in piped.stderr, piped.stderr

    primary, secondary = pty.openpty()  # a terminal: binary bytes are not written to it
    try:
        tty = dump(rp2, "src/db.dump", stdout=secondary)
    finally:
        os.close(secondary)
        os.close(primary)
    assert tty.returncode == 2 and b"send them to a file" in tty.stderr
