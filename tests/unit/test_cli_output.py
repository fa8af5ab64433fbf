"""The CLI's output (cli/common.py ``emit``): JSON for scripts, a table for people; an archive_command's
``-o json`` process never loads the table library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vaultlink.cli.common import OutputFormat, emit


def test_a_list_prints_as_a_table_and_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "prod", "region": "local-1"}, {"name": "dev", "region": None}]
    emit(rows, OutputFormat.table, columns=["name", "region"])
    shown = capsys.readouterr().out
    assert "prod" in shown and "local-1" in shown and "dev" in shown and "region" in shown
    emit(rows, OutputFormat.json)
    assert json.loads(capsys.readouterr().out) == rows


def test_json_output_does_not_import_rich() -> None:
    code = ("import sys; from vaultlink.cli.common import OutputFormat, emit; emit({'a': 1}, OutputFormat.json); "
            "assert not any(m == 'rich' or m.startswith('rich.') for m in sys.modules), 'rich imported'")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"a": 1}



def test_a_bad_compression_level_is_refused_before_the_agent_starts() -> None:
    """``vaultlink agent backup --compression-level 25``: the error and its code, with no machine state needed
    (nothing is read, nothing is sent)."""
    vaultlink = str(Path(sys.executable).parent / "vaultlink")
    p = subprocess.run([vaultlink, "agent", "backup", "/", "--compression-level", "25", "--state-dir",
                        "/nonexistent/state", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    err = json.loads(p.stdout)["error"]
    assert err["code"] == "InvalidInput" and err["field"] == "compression_level"
    assert "0 (none) to 19" in err["message"]
