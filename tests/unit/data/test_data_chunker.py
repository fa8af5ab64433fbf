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


def _tar(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_tar_stream_is_cut_at_its_files_and_an_unchanged_range_keeps_its_pieces() -> None:
    import io
    import random

    from vaultlink.data.chunker import TAR_PIECE, Chunker, cut_tar_stream

    rnd = random.Random(3)
    small = {f"base/1/{i}": rnd.randbytes(rnd.randrange(0, 20000)) for i in range(60)}
    big = rnd.randbytes(5 * TAR_PIECE + 1234)
    first = _tar({"backup_label": b"START WAL LOCATION: 0/2000028\n", **small, "base/1/16384": big})
    changed = bytearray(big)
    changed[3 * TAR_PIECE + 10] ^= 1  # one byte of the big file's fourth piece
    second = _tar({"backup_label": b"START WAL LOCATION: 0/3000028\n", **small, "base/1/16384": bytes(changed)})

    def cut(data: bytes) -> list[bytes]:
        return [bytes(p) for p in cut_tar_stream(io.BufferedReader(io.BytesIO(data)), Chunker())]  # type: ignore[arg-type]

    a, b = cut(first), cut(second)
    assert b"".join(a) == first and b"".join(b) == second
    assert max(map(len, a)) <= TAR_PIECE + 512
    # the big file starts a piece and is cut every TAR_PIECE bytes from its start: only one piece differs
    assert len(set(b) - set(a)) == 2, "the piece with backup_label, and the one changed piece"
    assert len(a) == len(b)


def test_a_stream_that_is_not_a_tar_falls_back_to_content_defined_chunks() -> None:
    import io
    import random

    from vaultlink.data.chunker import Chunker, cut_tar_stream

    data = random.Random(5).randbytes(3 << 20)
    pieces = [bytes(p) for p in cut_tar_stream(io.BufferedReader(io.BytesIO(data)), Chunker())]  # type: ignore[arg-type]
    assert b"".join(pieces) == data
    truncated = _tar({"a": b"x" * 100_000})[:50_000]
    assert b"".join(bytes(p) for p in cut_tar_stream(io.BufferedReader(io.BytesIO(truncated)), Chunker())) == \
        truncated  # type: ignore[arg-type]
