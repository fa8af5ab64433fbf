"""Which PostgreSQL client program the agent runs (agent/postgres.py ``pg_tool``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vaultlink.agent import postgres
from vaultlink.errors import NotFound


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_debian_pg_wrapper_is_skipped_for_the_newest_installed_version(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = _exe(tmp_path / "share" / "pg_wrapper")
    (tmp_path / "bin").mkdir()
    os.symlink(wrapper, tmp_path / "bin" / "psql")
    versions = [str(_exe(tmp_path / "lib" / v / "bin" / "psql")) for v in ("9.6", "15", "13")]
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: list(versions))
    assert postgres.pg_tool("psql") == versions[1]  # 15, not 9.6 (which sorts last as text)


def test_a_psql_on_path_that_is_not_the_wrapper_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _exe(tmp_path / "bin" / "psql")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [str(_exe(tmp_path / "lib" / "16" / "bin" / "psql"))])
    assert postgres.pg_tool("psql") == str(mine)


def test_missing_client_tools_say_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(NotFound, match="postgresql-client"):
        postgres.pg_tool("pg_basebackup")
