"""The network tier: every test gets an outer network + mount namespace of its own (``tests/netmodes``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, stop_server
from tests.netmodes import OuterNs, require_namespaces, start_in


@pytest.fixture
def outer() -> Iterator[OuterNs]:
    require_namespaces()
    ns = OuterNs()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def aws_netns_server(outer: OuterNs, tmp_path: Path) -> Iterator[Server]:
    """A server in netns mode with the AWS region catalog, in the test's outer namespace."""
    srv = start_in(outer, tmp_path, "netns", 'regions = "aws"\n')
    try:
        yield srv
    finally:
        stop_server(srv)
