"""SQLite files, backed up consistently (issue #19): SQLite's online backup API copies the database page by
page while other connections keep writing (a copy restarts on a change made by another process, so it is
a snapshot of one moment); the copy is streamed through the engine as the item ``sqlite://NAME`` and
restored into a new file that must pass ``PRAGMA integrity_check``."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from vaultlink.agent.postgres import check_name
from vaultlink.agent.session import Agent
from vaultlink.agent.state import save_state
from vaultlink.data import Repository
from vaultlink.data.stream import backup_stream, read_stream
from vaultlink.durable import publish
from vaultlink.errors import CorruptData, InvalidInput, NotFound


def item_path(name: str) -> str:
    return f"sqlite://{name}"


class SqliteDb:
    def __init__(self, agent: Agent, name: str) -> None:
        self.agent, self.name = agent, check_name(name)

    @staticmethod
    def protect(agent: Agent, state_dir: Path, name: str, path: str) -> dict[str, Any]:
        check_name(name)
        full = os.path.abspath(path)
        if not os.path.isfile(full):
            raise NotFound(f"{full} is not a file.", field="path")
        agent.state.workloads[name] = {"kind": "sqlite", "path": full}
        save_state(state_dir, agent.state)
        return {"database": name, "item": item_path(name), "path": full}

    def _path(self) -> str:
        w = self.agent.state.workloads.get(self.name)
        if not w or w.get("kind") != "sqlite":
            raise NotFound(f"database {self.name} is not protected on this machine: "
                           f"`vaultlink agent protect sqlite {self.name} --path FILE` first.")
        return w["path"]

    def base_backup(self, passphrase: str, state_dir: Path) -> dict[str, Any]:
        source = self._path()

        def engine(repo: Repository, parent: str | None) -> Any:
            state_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".sqlite-", suffix=".db") as tmp:
                src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
                dst = sqlite3.connect(tmp.name)
                try:
                    src.backup(dst, pages=4096)  # a page range at a time: writers go on meanwhile
                finally:
                    dst.close()
                    src.close()
                with open(tmp.name, "rb") as f:
                    return backup_stream(f"{self.name}/db.sqlite", f, repo, hostname=self.agent.state.hostname,
                                         tags={"workload": "sqlite", "database": self.name}, parent=parent)

        return self.agent.run_job([item_path(self.name)], passphrase, state_dir, engine)

    def restore(self, passphrase: str, target: str, rp_id: str | None = None) -> dict[str, Any]:
        out = Path(target)
        if out.exists():
            raise InvalidInput(f"{target} exists: restore a database into a new file.", field="target")
        rps = sorted((rp for rp in self.agent.recovery_points()
                      if rp.get("paths") == [item_path(self.name)] and rp.get("status") == "Completed"),
                     key=lambda rp: float(rp["time"]))
        chosen = [rp for rp in rps if rp_id in (None, rp["id"])]
        if not chosen:
            raise NotFound(f"database {self.name} has no such recovery point.")
        base = chosen[-1]
        repo = self.agent.open_repository(passphrase)
        tmp = out.with_name(out.name + ".vaultlink-tmp")
        try:
            manifest = repo.load_manifest(base["manifest"])
            with open(tmp, "wb") as f:
                for data in read_stream(manifest, repo):
                    f.write(data)
            conn = sqlite3.connect(tmp)
            try:
                verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                conn.close()
            if verdict != "ok":
                raise CorruptData(f"the restored database fails its integrity check: {verdict}")
            publish(tmp, out)
        finally:
            repo.close()
            tmp.unlink(missing_ok=True)
        return {"database": self.name, "target": str(out), "recovery_point": base["id"],
                "bytes": out.stat().st_size}
