"""``vault usage`` a machine at a time: a machine's points' pack lists are read into the sets of its packs, its stored
packs are then sized, and only then is the next machine's read. Before, every point's pack list of the whole vault
was held at once (about 1 MB per point of a 100 GiB machine: hundreds of MB for a vault of large machines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.service import maintenance, prune


def test_usage_reads_one_machine_at_a_time_and_counts_every_pack(dp: DataPlane, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    machines = [registered(dp, tmp_path / f"s{i}", f"vm{i}") for i in (1, 2)]
    for i, agent in enumerate(machines):
        src = make_tree(tmp_path / f"src{i}")
        agent.backup([str(src)], PASS)
        (src / "more.txt").write_text(f"a second point on machine {i}")
        agent.backup([str(src)], PASS)
    seen: list[tuple[str, str]] = []
    real_packs, real_stored = prune.point_packs, prune.stored_packs

    def packs(txn: Any, rp: Any) -> Any:
        seen.append(("points", rp["container_id"]))
        return real_packs(txn, rp)

    def stored(svc: Any, c: Any, accounts: Any) -> Any:
        seen.append(("stored", c["id"]))
        return real_stored(svc, c, accounts)

    monkeypatch.setattr(prune, "point_packs", packs)
    monkeypatch.setattr(prune, "stored_packs", stored)
    used = maintenance.vault_usage(dp.svc, dp.owner, dp.vault["name"])
    order = [(what, cid) for i, (what, cid) in enumerate(seen) if i == 0 or seen[i - 1] != (what, cid)]
    ids = list(dict.fromkeys(cid for _, cid in seen))  # in the order the machines were read
    assert len(ids) == 2 and sorted(order, key=lambda e: ids.index(e[1])) == order, seen  # grouped per machine
    assert [what for what, _ in order] == ["points", "stored"] * 2, seen
    assert used["recovery_points"] == 4 and used["packs"] > 0 and used["live_bytes"] > 0
    assert used["reclaimable_bytes"] == used["soft_deleted_bytes"] == used["unknown_bytes"] == 0
