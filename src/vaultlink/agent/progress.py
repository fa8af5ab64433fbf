"""A rich progress bar for backups and restores: bytes, files, rate and ETA (on stderr); and one that counts (the
packs a check verifies).

Rate and ETA come from the engine's own counters (bytes done / time since the operation started),
not from rich's sampled speed: rich estimates speed from the deltas between its updates, which
for a run of a few updates (a fast backup or restore) gives nonsense such as "48 bytes/s".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from vaultlink.data import Progress as EngineProgress
from vaultlink.units import human_size


def human_rate(bytes_per_s: float) -> str:
    """``1536.0`` → ``"1.5 KiB/s"`` (binary units, like the bar's byte counts)."""
    return human_size(bytes_per_s) + "/s" if bytes_per_s > 0 else "-"


def human_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -:--:--"
    s = max(0, round(seconds))
    return f"ETA {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class RateColumn(ProgressColumn):
    """The engine's average rate: bytes done / elapsed."""

    def render(self, task: Task) -> Text:
        return Text(human_rate(float(task.fields.get("rate", 0.0))), style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """Time left at the engine's average rate; when finished, how long it took."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(f"took {float(task.fields.get('elapsed', 0.0)):.1f} s", style="progress.elapsed")
        return Text(human_eta(task.fields.get("eta")), style="progress.remaining")


def fields_of(p: EngineProgress) -> dict[str, Any]:
    """The bar's fields for one engine progress report."""
    return {"files": f"{p.files_done}/{p.files_total} files", "rate": p.rate, "eta": p.eta, "elapsed": p.elapsed}


@contextmanager
def _drawn_when_used(bar: Progress) -> Iterator[Callable[[], None]]:
    """Yields ``draw()``, which starts ``bar`` at its first call (from any thread); the bar is stopped at the end if
    it was drawn: a command refused before any work shows no bar."""
    once = threading.Lock()  # held once the bar is drawn

    def draw() -> None:
        if once.acquire(blocking=False):
            bar.start()

    try:
        yield draw
    finally:
        if once.locked():
            bar.stop()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[EngineProgress], None]]:
    """Yields a callback for the engine's ``progress=`` that draws a bar on stderr (the agent's CLI decides whether
    to draw one before importing this module: ``cli/agent._progress_bar``)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[files]}"),
        RateColumn(),
        EtaColumn(),
        console=Console(stderr=True),
        transient=False,
        refresh_per_second=5,
    )
    task = bar.add_task(label, total=None, files="", rate=0.0, eta=None, elapsed=0.0)
    with _drawn_when_used(bar) as draw:

        def update(p: EngineProgress) -> None:
            draw()
            bar.update(task, total=max(p.bytes_total, 1), completed=p.bytes_done, **fields_of(p))

        yield update


@contextmanager
def count_bar(label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """Yields ``update(done, total)`` drawing ``done/total unit`` on stderr, from the first update on (any thread)."""
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                   TextColumn(unit), TimeElapsedColumn(), console=Console(stderr=True), refresh_per_second=5)
    task = bar.add_task(label, total=None)
    with _drawn_when_used(bar) as draw:

        def update(done: int, total: int) -> None:
            draw()
            bar.update(task, total=max(total, 1), completed=done)

        yield update
