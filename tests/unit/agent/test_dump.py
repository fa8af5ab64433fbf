"""``agent/dump.py``: one file of a snapshot written to a stream, its chunks fetched ahead of the one written
and each verified; a file that does not add up to its recorded size is ``CorruptData``."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path

import pytest

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.agent import dump as dump_mod
from vaultlink.data import ChunkerParams, Repository, backup
from vaultlink.errors import CorruptData, InvalidInput, NotFound

SMALL = ChunkerParams(min_size=8 * 1024, avg_size=32 * 1024, max_size=128 * 1024)


def test_a_file_of_many_chunks_comes_back_whole_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = random.Random(3).randbytes(2_000_000)  # about 60 chunks: more than AHEAD
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "big.bin").write_bytes(content)
    (tmp_path / "src" / "link").symlink_to("sub/big.bin")
    repo = Repository.init(MemoryBlobStore(), "correct horse battery staple", log_n=10, pack_size=256 * 1024,
                           chunker_params=SMALL)
    nodes = backup([tmp_path / "src"], repo).manifest.nodes
    node = dump_mod.find_file(nodes, "/src/sub/big.bin", "rp-1")
    assert len(node.chunks) > dump_mod.AHEAD
    monkeypatch.setattr(dump_mod, "AHEAD", 3)
    out = io.BytesIO()
    assert dump_mod.write_file(repo, node, out) == len(content) and out.getvalue() == content

    with pytest.raises(CorruptData, match="not the file"):
        dump_mod.write_file(repo, dataclasses.replace(node, size=len(content) + 1), io.BytesIO())
    with pytest.raises(InvalidInput, match="is a directory"):
        dump_mod.find_file(nodes, "src/sub", "rp-1")
    with pytest.raises(InvalidInput, match=r"symlink to 'sub/big\.bin'"):
        dump_mod.find_file(nodes, "src/link", "rp-1")
    with pytest.raises(NotFound, match="such as 'src', 'src/link'") as exc:
        dump_mod.find_file(nodes, "big.bin", "rp-1")
    assert exc.value.field == "path"
