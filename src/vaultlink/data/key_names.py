"""The names of a repository's key versions: ``keys/key`` is version 1, ``keys/key.N`` version N (a passphrase
change writes the next one beside the others). Pure: the agent's repository and the service (which retires old
versions, ``service/dataplane/key_versions.py``) read them alike."""

from __future__ import annotations

from collections.abc import Iterable

KEY_NAME = "keys/key"


def key_version(name: str) -> int:
    """``keys/key`` is 1, ``keys/key.N`` is N; 0 for any other name."""
    if name == KEY_NAME:
        return 1
    suffix = name[len(KEY_NAME) + 1:] if name.startswith(KEY_NAME + ".") else ""
    return int(suffix) if suffix.isascii() and suffix.isdigit() and len(suffix) < 9 else 0


def newest_first(names: Iterable[str]) -> list[str]:
    """The key version names among ``names``, newest first."""
    return sorted((n for n in names if key_version(n) > 0), key=key_version, reverse=True)
