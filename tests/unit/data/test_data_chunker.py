from __future__ import annotations

from pathlib import Path

from data_helpers import SMALL, rand_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data.chunker import Chunker, ChunkerParams, is_compiled


def test_compiled_extension_in_use() -> None:
    assert is_compiled()


def test_chunks_cover_input_and_respect_limits() -> None:
    data = rand_bytes(2_000_000, 7)
    parts = [bytes(p) for p in Chunker(SMALL).cut(data)]
    assert b"".join(parts) == data
    assert all(len(p) <= SMALL.max_size for p in parts)
    assert all(len(p) >= SMALL.min_size for p in parts[:-1])


def test_cut_file_equals_cut_of_whole_buffer(tmp_path: Path) -> None:
    data = rand_bytes(3_000_000, 8)
    (tmp_path / "f").write_bytes(data)
    c = Chunker(ChunkerParams(min_size=4096, avg_size=16384, max_size=65536, seed=99))
    whole = [bytes(p) for p in c.cut(data)]
    assert [bytes(p) for p in c.cut_file(tmp_path / "f", segment=100_000)] == whole


def test_shifted_data_shares_most_chunks() -> None:
    data = rand_bytes(2_000_000, 9)
    c = Chunker(SMALL)
    a = {bytes(p) for p in c.cut(data)}
    b = [bytes(p) for p in c.cut(b"inserted!" + data)]
    shared = sum(len(p) for p in b if p in a)
    assert shared > 0.9 * len(data)


def test_seed_changes_boundaries() -> None:
    data = rand_bytes(1_000_000, 10)
    a = [len(p) for p in Chunker(SMALL).cut(data)]
    b = [len(p) for p in Chunker(ChunkerParams(8192, 32768, 131072, seed=12345)).cut(data)]
    assert a != b


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=300_000))
def test_property_chunks_concatenate_to_input(data: bytes) -> None:
    c = Chunker(ChunkerParams(min_size=64, avg_size=1024, max_size=4096))
    assert b"".join(bytes(p) for p in c.cut(data)) == data
