"""`vaultlink job list`, `vaultlink recovery-point list` and `vaultlink container list` through a real server: the
native API answers a page at a time from a cursor (``limit``, ``after``, the ``X-Next-After`` header of a full page),
the CLI pages by itself and shows what one answer showed before, and a cursor the service did not give is refused
with its code (audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Server
from tests.e2e.test_private_backup import make_data
from tests.e2e.test_retention import Clock, audited_refusal, setup_machine, world

__all__ = ["world"]


def _follow(s: Server, path: str, **params: Any) -> list[str]:
    ids: list[str] = []
    after = None
    with s.http() as http:
        for _ in range(50):
            r = http.get(path, params={**params, "limit": 1, **({"after": after} if after else {})})
            assert r.status_code == 200, r.text
            ids += [x["id"] for x in r.json()]
            after = r.headers.get("X-Next-After")
            if after is None:
                assert r.json() == [], "only a full page names a next one"
                return ids
            assert len(r.json()) == 1
    raise AssertionError("no end")


def test_job_and_point_listings_page_through_the_api_and_the_cli(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, _clock = world
    vm, _creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 2)
    points = [vm.ok("backup", str(src))["recovery_point"]["id"] for _ in range(3)]
    restore = s.ok("recovery-point", "restore", points[0], "--container", "vm-a", "--target", str(tmp_path / "r"))

    jobs = s.ok("job", "list", "prod")
    assert len(jobs) == 4 and jobs[-1]["id"] == restore["id"] and [j["type"] for j in jobs] == ["Backup"] * 3 + [
        "Restore"]
    assert _follow(s, "/vaults/prod/jobs") == [j["id"] for j in jobs]
    assert _follow(s, "/vaults/prod/jobs", type="restore") == [restore["id"]]
    listed = s.ok("recovery-point", "list", "prod")
    assert [p["id"] for p in listed] == points == _follow(s, "/vaults/prod/recovery-points", container="vm-a")
    assert s.ok("recovery-point", "list", "prod", "--container", "elsewhere") == []
    machines = s.ok("container", "list", "prod")
    assert [m["hostname"] for m in machines] == ["vm-a"] == [m["hostname"] for m in machines if "secret_hash" not in m]
    assert _follow(s, "/vaults/prod/containers") == [m["id"] for m in machines]

    with s.http() as http:
        for params in ({"limit": 1, "after": "2"}, {"limit": 0}, {"after": listed[0]["id"]}):
            r = http.get("/vaults/prod/recovery-points", params=params)
            assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidInput", (params, r.text)
    audited_refusal(s, "InvalidInput", "recovery.list")
