"""Blob name rules shared by every BlobStore adapter (see ``vaultlink.ports.BlobStore``)."""

from __future__ import annotations

import re

from vaultlink.errors import InvalidInput

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def check_name(name: str) -> str:
    """Return ``name`` if valid: ``/``-separated ``[A-Za-z0-9._-]`` segments, none empty, ``.`` or ``..``."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("blob name must be a non-empty string", field="name")
    for seg in name.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT.fullmatch(seg):
            raise InvalidInput(
                f"invalid blob name {name!r}: segments are [A-Za-z0-9._-], no '..'", field="name"
            )
    return name


def check_range(name: str, size: int, offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise InvalidInput(f"range {offset}+{length} is outside blob {name!r} of {size} bytes", field="range")
