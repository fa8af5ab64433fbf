"""Sizes in words: one way of writing a byte count for the CLI, the progress bar and the console."""

from __future__ import annotations

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``, ``48`` → ``"48 bytes"`` (binary units)."""
    value, unit = float(n), UNITS[0]
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == UNITS[0] else f"{value:.1f} {unit}"
