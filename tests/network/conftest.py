"""The network tier: every test gets an outer network + mount namespace of its own (``tests/netmodes``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.netmodes import OuterNs, require_namespaces


@pytest.fixture
def outer() -> Iterator[OuterNs]:
    require_namespaces()
    ns = OuterNs()
    try:
        yield ns
    finally:
        ns.close()
