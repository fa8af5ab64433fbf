"""Fixtures: an in-process vault data plane (see ``dp_world``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dp_world import DataPlane, make_dataplane


@pytest.fixture
def dp(tmp_path: Path) -> Iterator[DataPlane]:
    yield from make_dataplane(tmp_path)


@pytest.fixture
def small_dp(tmp_path: Path) -> Iterator[DataPlane]:
    """Storage accounts of 1 MiB: the vault grows a new one after the first pack."""
    yield from make_dataplane(tmp_path, storage_account_max_bytes=1 << 20)
