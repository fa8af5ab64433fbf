"""A running job's progress, reported by the agent to the service (the console shows it live): what a
backup reports, and the refusals of the route (a job that ended, another machine's job, bad numbers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.agent import job_progress
from vaultlink.api import console_html_backup
from vaultlink.data import Progress
from vaultlink.errors import Conflict, InvalidInput, NotFound
from vaultlink.service.dataplane import manage


def test_a_backup_reports_its_progress_and_the_job_page_draws_it(dp: DataPlane, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_progress, "EVERY_SECONDS", 0.0)
    agent = registered(dp, tmp_path / "state")
    seen: list[Progress] = []
    out = agent.backup([str(make_tree(tmp_path / "src"))], PASS, progress=seen.append)
    assert seen, "the local progress bar still gets every report"
    job = manage.get_job(dp.svc, dp.owner, out["job"]["id"])
    p = job["progress"]
    assert p["bytes_total"] == out["stats"]["bytes_total"] and 0 < p["bytes_done"] <= p["bytes_total"]
    assert p["files_total"] == out["stats"]["files"] and p["updated"] > 0
    running = {**job, "status": "InProgress", "progress": {**p, "bytes_done": p["bytes_total"] // 2}}
    html = console_html_backup.job(running)
    assert '<progress max="' in html and "50%" in html
    assert "<progress" not in console_html_backup.job(job), "an ended job shows its outcome"


def test_the_progress_route_refuses_what_it_must(dp: DataPlane, tmp_path: Path) -> None:
    a = registered(dp, tmp_path / "a", hostname="vm-a")
    b = registered(dp, tmp_path / "b", hostname="vm-b")
    started = a._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})
    jid = started["job"]["id"]
    good = {"files_total": 3, "bytes_total": 300, "files_done": 1, "bytes_done": 100, "bytes_new": 50,
            "elapsed": 1.5}
    assert a._call("POST", f"/jobs/{jid}/progress", {"progress": good})["progress"]["bytes_done"] == 100
    with pytest.raises(NotFound):  # another machine's job
        b._call("POST", f"/jobs/{jid}/progress", {"progress": good})
    for bad in ({**good, "bytes_done": -1}, {**good, "files_total": "3"}, {**good, "elapsed": True}, {}):
        with pytest.raises(InvalidInput):
            a._call("POST", f"/jobs/{jid}/progress", {"progress": bad})
    assert manage.get_job(dp.svc, dp.owner, jid)["progress"]["bytes_done"] == 100, "refusals change nothing"
    with pytest.raises(NotFound):  # another machine cannot end it either
        b._call("POST", f"/jobs/{jid}/finish", {"status": "Failed", "error": "not mine"})
    a._call("POST", f"/jobs/{jid}/finish", {"status": "Failed", "error": "stopped by the test"})
    with pytest.raises(Conflict):
        a._call("POST", f"/jobs/{jid}/progress", {"progress": good})
    # ended again as it ended (a retry whose answer was lost): nothing changes; ended otherwise: refused
    again = a._call("POST", f"/jobs/{jid}/finish", {"status": "Failed", "error": "a second word"})
    assert again["status"] == "Failed" and again["error"] == "stopped by the test"
    with pytest.raises(Conflict):
        a._call("POST", f"/jobs/{jid}/finish", {"status": "Aborted", "error": "changed its mind"})
    assert manage.get_job(dp.svc, dp.owner, jid)["error"] == "stopped by the test"


def test_a_report_that_fails_costs_nothing_but_that_report() -> None:
    calls: list[dict[str, float]] = []

    def post(body: dict[str, float]) -> None:
        calls.append(body)
        raise Conflict("the service is away")

    local: list[Progress] = []
    rep = job_progress.JobProgress(post, local.append, every=0.0)
    for done in (10, 20):
        rep(Progress(files_total=1, bytes_total=100, bytes_done=done, elapsed=1.0))
    assert [c["bytes_done"] for c in calls] == [10, 20] and len(local) == 2
    quiet = job_progress.JobProgress(post, None, every=3600.0)
    quiet(Progress(files_total=1, bytes_total=100))
    assert len(calls) == 2, "no report before the interval"


def test_a_second_backup_takes_its_totals_from_the_first_instead_of_counting_the_tree(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service hands a backup job the totals of the backup that made the item's last point; the engine
    shows them until its walk knows better, and walks the tree once (the count was a second walk of it)."""
    import importlib

    backup_mod = importlib.import_module("vaultlink.data.backup")
    monkeypatch.setattr(job_progress, "EVERY_SECONDS", 0.0)
    agent = registered(dp, tmp_path / "state")
    src = make_tree(tmp_path / "src")
    first = agent.backup([str(src)], PASS, progress=lambda p: None)
    counts: list[int] = []
    real = backup_mod.TreeCount
    monkeypatch.setattr(backup_mod, "TreeCount", lambda *a: counts.append(1) or real(*a))
    started = agent._call("POST", "/jobs", {"paths": [str(src)], "job_id": None})
    assert started["previous_totals"] == {"files": first["stats"]["files"], "bytes": first["stats"]["bytes_total"]}
    agent._call("POST", f"/jobs/{started['job']['id']}/finish", {"status": "Failed", "error": "only looked"})
    (src / "new-file").write_bytes(b"x" * 5000)
    seen: list[tuple[int, int]] = []
    second = agent.backup([str(src)], PASS, progress=lambda p: seen.append((p.files_total, p.bytes_total)))
    assert counts == [] and seen
    assert seen[0][0] >= first["stats"]["files"] and seen[0][1] >= first["stats"]["bytes_total"]
    assert seen[-1] == (second["stats"]["files"], second["stats"]["bytes_total"])  # exact at the end
    assert second["stats"]["files"] == first["stats"]["files"] + 1
    fresh = registered(dp, tmp_path / "state2", hostname="vm-new")
    assert fresh._call("POST", "/jobs", {"paths": [str(src)], "job_id": None})["previous_totals"] is None
