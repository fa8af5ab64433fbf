"""A backup job whose recovery point lacks files it could not read says so wherever the job is shown: the AWS
API's StatusMessage (DescribeBackupJob, ListBackupJobs) and the console's job tables and page."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from vaultlink.api import console_html_backup
from vaultlink.compat.aws.backup_jobs import _job_out
from vaultlink.domain.jobs import unreadable_warning

VAULT = {"account_id": "111122223333", "region": "local-1", "name": "prod", "arn": "arn:aws:backup:local-1:v"}


def job(**kw: Any) -> dict[str, Any]:
    return {"id": "j1", "type": "Backup", "status": "Completed", "recovery_point_id": "rp-1", "start": 1.0,
            "end": 2.0, **kw}


def test_only_a_completed_job_that_lacks_files_warns() -> None:
    assert unreadable_warning(job(stats={"files": 3, "errors": 2})).startswith(
        "2 file(s) or directories could not be read and are not in the recovery point")
    for quiet in (job(stats={"files": 3}), job(stats={"files": 3, "errors": 0}), job(stats=None),
                  job(status="Failed", error="boom", stats={"errors": 2}), job(stats={"errors": True})):
        assert unreadable_warning(quiet) is None, quiet


def test_the_aws_api_and_the_console_show_the_warning() -> None:
    call = SimpleNamespace(partition="aws")
    out = _job_out(job(stats={"files": 3, "errors": 2}), VAULT, call)  # type: ignore[arg-type]
    assert out["State"] == "COMPLETED" and "2 file(s) or directories could not be read" in out["StatusMessage"]
    assert _job_out(job(stats={"files": 3}), VAULT, call)["StatusMessage"] is None  # type: ignore[arg-type]
    html = console_html_backup.jobs_table([job(stats={"files": 3, "bytes_total": 10, "errors": 2})], "jobs")
    assert 'class="warning"' in html and "could not be read" in html
    assert "could not be read" not in console_html_backup.jobs_table([job(stats={"files": 3})], "jobs")
