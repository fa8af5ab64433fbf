"""The agent's progress bar shows the engine's real rate and ETA, also for runs too fast for rich's sampling."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from vaultlink.agent.progress import EtaColumn, RateColumn, fields_of, human_rate, progress_bar
from vaultlink.data import Progress as EngineProgress
from vaultlink.errors import NotFound


def _render(updates: list[EngineProgress]) -> list[list[str]]:
    bar = Progress(RateColumn(), EtaColumn(), auto_refresh=False)
    task = bar.add_task("restore", total=None, files="", rate=0.0, eta=None, elapsed=0.0)
    shown = []
    for p in updates:
        bar.update(task, total=p.bytes_total, completed=p.bytes_done, **fields_of(p))
        shown.append([str(c.render(bar.tasks[0])) for c in bar.columns])
    return shown


def test_fast_run_shows_its_real_rate() -> None:
    gib = 1 << 30
    shown = _render([
        EngineProgress(files_total=9, bytes_total=gib, bytes_done=0, elapsed=0.0),
        EngineProgress(files_total=9, bytes_total=gib, bytes_done=gib - 48, elapsed=1.9),
        EngineProgress(files_total=9, bytes_total=gib, bytes_done=gib, files_done=9, elapsed=2.0),
    ])
    assert shown[0] == ["-", "ETA -:--:--"]
    assert shown[1][0].endswith("MiB/s") and float(shown[1][0].split()[0]) > 500
    assert shown[2] == ["512.0 MiB/s", "took 2.0 s"]


def test_human_rate_units() -> None:
    assert human_rate(0) == "-"
    assert human_rate(48) == "48 bytes/s"
    assert human_rate(1536) == "1.5 KiB/s"
    assert human_rate(3 * 2**40) == "3.0 TiB/s"


def test_a_command_refused_before_any_work_draws_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotFound), progress_bar("backup"):
        raise NotFound("backup path /nope does not exist.")  # the path check, before the engine reports anything
    assert capsys.readouterr().err == ""
    with progress_bar("backup") as update:
        update(EngineProgress(files_total=1, bytes_total=10, bytes_done=10, files_done=1, elapsed=0.1))
    assert "backup" in capsys.readouterr().err
