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


def _grows(path: Path, first: bytes, more: bytes) -> object:
    """A file object that reads ``first``, then finds ``more`` appended (a file growing while read)."""
    import io

    class Growing(io.RawIOBase):
        def __init__(self) -> None:
            self.data, self.pos = first, 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: object) -> int:
            mv = memoryview(b)  # type: ignore[arg-type]
            if self.pos >= len(self.data) and self.data is first:
                self.data = first + more
            n = min(len(mv), len(self.data) - self.pos)
            mv[:n] = self.data[self.pos:self.pos + n]
            self.pos += n
            return n

    return Growing()


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 400_000), segment=st.integers(1, 150_000), seed=st.integers(0, 1000))
def test_own_chunks_are_copies_with_the_cut_points_of_the_whole(size: int, segment: int, seed: int) -> None:
    import io
    import tempfile

    data = rand_bytes(size, seed)
    c = Chunker(ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=seed))
    whole = [bytes(p) for p in c.cut(data)]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "f"
        f.write_bytes(data)
        got = list(c.cut_file(f, segment=segment, own=True))
    assert all(type(p) is bytes for p in got) and got == whole
    assert list(c.cut_stream(io.BytesIO(data), segment=segment)) == whole


def test_own_chunks_of_a_file_that_grows_while_read(tmp_path: Path) -> None:
    c = Chunker(ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5))
    first, more = rand_bytes(100_000, 1), rand_bytes(70_000, 2)
    got = list(c._cut_own(_grows(tmp_path, first, more), 40_000))  # type: ignore[arg-type]
    assert got == [bytes(p) for p in c.cut(first + more)]


def test_own_chunks_hold_one_segment_not_every_segment_a_kept_chunk_came_from(tmp_path: Path) -> None:
    """A caller keeping the last chunks of each segment (work in flight) holds one segment buffer plus those
    chunks; views would keep every segment they were cut from alive."""
    import tracemalloc

    params = ChunkerParams(min_size=64 * 1024, avg_size=256 * 1024, max_size=1024 * 1024, seed=3)
    c = Chunker(params)
    f = tmp_path / "big"
    f.write_bytes(rand_bytes(24 << 20, 4))
    for own, bound in ((True, 2 * (2 << 20) + 4 * (1 << 20)), (False, None)):
        kept: list[object] = []
        tracemalloc.start()
        try:
            for i, chunk in enumerate(c.cut_file(f, segment=2 << 20, own=own)):
                if i % 7 == 0:  # one chunk of every few kept, the others let go
                    kept = [*kept[-3:], chunk]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        if bound is not None:
            assert peak < bound, peak
        else:
            assert peak > 4 * (2 << 20)  # the views held their segments: what ``own`` is for


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 1 << 40), kind=st.sampled_from(["random", "zeros", "two letters"]),
       size=st.integers(1, 120_000), window=st.data())
def test_a_chunk_ending_before_the_end_of_a_window_is_the_whole_cut_one(
    seed: int, kind: str, size: int, window: st.DataObject
) -> None:
    """What ``_cut_own`` relies on: cut from any chunk start over any window, every chunk that ends before the
    window's end is a chunk of the whole (FastCDC's hash starts afresh at each chunk)."""
    import random

    rnd = random.Random(seed)
    data = {"random": rnd.randbytes(size), "zeros": bytes(size),
            "two letters": bytes(rnd.choice(b"ab") for _ in range(size))}[kind]
    c = Chunker(ChunkerParams(min_size=256, avg_size=2048, max_size=8192, seed=seed))
    whole, off = [], 0
    for p in c.cut(data):
        whole.append((off, off + len(p)))
        off += len(p)
    start = window.draw(st.sampled_from(whole))[0]
    end = window.draw(st.integers(start + 1, size))
    pos = start
    for p in c.cut(data[start:end]):
        if pos + len(p) == end:
            break
        assert (pos, pos + len(p)) in whole
        pos += len(p)


def test_own_reads_reuse_one_buffer_a_thread_and_two_at_once_do_not_share_it(tmp_path: Path) -> None:
    """A file read after another in the same thread reads into the same buffer (a new one per file cost as many
    page faults as the file had bytes); two reads at once each have their own, so neither sees the other's
    bytes."""
    c = Chunker(ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=9))
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(rand_bytes(1_500_000, 1))  # over SMALL_READ: read in segments
    b.write_bytes(rand_bytes(1_200_000, 2))
    want_a, want_b = [bytes(p) for p in c.cut(a.read_bytes())], [bytes(p) for p in c.cut(b.read_bytes())]
    assert list(c.cut_file(a, own=True)) == want_a
    first = c._local.own
    assert list(c.cut_file(b, own=True)) == want_b
    assert c._local.own is first
    ga, gb = c.cut_file(a, own=True), c.cut_file(b, own=True)
    got_a: list[bytes | memoryview] = []
    got_b: list[bytes | memoryview] = []
    while len(got_b) < len(want_b):  # interleaved in one thread
        got_a.append(next(ga))
        got_b.append(next(gb))
    got_a += list(ga)
    assert got_a == want_a and got_b == want_b
