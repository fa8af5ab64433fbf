"""A rich progress bar for backups and restores: bytes, files, rate and ETA (on stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vaultlink.data import Progress as EngineProgress


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[EngineProgress], None] | None]:
    """Yields a callback for the engine's ``progress=`` (or None when disabled)."""
    if not enabled:
        yield None
        return
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[files]}"),
        TransferSpeedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        refresh_per_second=5,
    )
    task = bar.add_task(label, total=None, files="")

    def update(p: EngineProgress) -> None:
        bar.update(task, total=max(p.bytes_total, 1), completed=p.bytes_done,
                   files=f"{p.files_done}/{p.files_total} files")

    with bar:
        yield update
