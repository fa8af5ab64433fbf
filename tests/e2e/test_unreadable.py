"""A backup that cannot read some of its files (the agent without root's right to read any file, as a service
account runs): its recovery point holds the rest, the command names what it left out and exits 8
(``FilesUnreadable``) after its output, its JSON carries them, the job counts them, and a restore brings back the
files it could read. Before, such a backup printed its table and exited 0: a script never knew."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, CliResult, Server
from tests.e2e.test_private_backup import Vm, registered_vm

NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")  # root that obeys file permissions


def backup_without_dac(vm: Vm, src: Path, *extra: str) -> CliResult:
    assert shutil.which(NO_DAC[0]), "setpriv (util-linux) runs the agent without CAP_DAC_OVERRIDE"
    p = subprocess.run([*NO_DAC, VAULTLINK, "agent", "backup", str(src), "--no-progress", "--state-dir",
                        str(vm.state), "--passphrase-file", str(vm.pw), *extra],
                       env=vm.s.env(), capture_output=True, text=True, timeout=120)
    return CliResult(p.returncode, p.stdout, p.stderr)


def test_files_a_backup_cannot_read_are_named_and_the_command_exits_8(server: Server, tmp_path: Path) -> None:
    s = server
    vm, _creds = registered_vm(s, tmp_path)
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "ok.txt").write_text("readable\n")
    (src / "locked.txt").write_text("not for this user\n")
    (src / "private").mkdir()
    (src / "private" / "inside.txt").write_text("never reached\n")
    (src / "locked.txt").chmod(0)
    (src / "private").chmod(0)
    try:
        r = backup_without_dac(vm, src)
        assert r.exit_code == 8, (r.stdout, r.stderr)
        assert "warning: FilesUnreadable: 2 file(s) or directories could not be read" in r.stderr, r.stderr
        assert f"{src / 'locked.txt'}: " in r.stderr and f"{src / 'private'}: " in r.stderr
        assert "Permission denied" in r.stderr and "back up again" in r.stderr and "Traceback" not in r.stderr
        assert "unreadable" in r.stdout and "recovery_point" in r.stdout  # the table came first, on stdout

        j = backup_without_dac(vm, src, "-o", "json")
        assert j.exit_code == 8 and j.stderr == "", j.stderr
        st = j.json["stats"]  # one JSON document: the backup's, with what it left out
        assert st["error_count"] == 2 and sorted(e["path"] for e in st["errors"]) == [
            str(src / "locked.txt"), str(src / "private")]
        rp = j.json["recovery_point"]["id"]
    finally:
        (src / "locked.txt").chmod(0o644)
        (src / "private").chmod(0o755)

    jobs = [job for job in s.ok("job", "list", "prod") if job.get("recovery_point_id") == rp]
    assert len(jobs) == 1 and jobs[0]["status"] == "Completed" and jobs[0]["stats"]["errors"] == 2, jobs
    vm.ok("restore", rp, "--target", str(tmp_path / "back"), "--no-progress")
    back = tmp_path / "back" / "src"
    assert [str(p.relative_to(back)) for p in sorted(back.rglob("*")) if p.is_file()] == ["docs/ok.txt"]
    assert (back / "docs" / "ok.txt").read_text() == "readable\n"

    clean = vm.run("backup", str(src), "--no-progress")  # readable again: a whole backup exits 0
    assert clean.exit_code == 0 and clean.json["stats"]["error_count"] == 0, clean.stderr
