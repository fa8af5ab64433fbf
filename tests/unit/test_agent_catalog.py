"""The agent catalog (domain/agents.py): kinds, version forms, private-endpoint minimums."""

from __future__ import annotations

import pytest

from vaultlink.domain.agents import check_agent
from vaultlink.errors import AgentNotSupported, InvalidInput


@pytest.mark.parametrize("kind,version,private", [
    ("mars", "0.1.0", True), ("mars", "2.3", True), ("workload", "1.0.0-rc1", True),
    ("dpm", "2022", True), ("dpm", "2025", True), ("dpm", "2019", False), ("mabs", "4.0", False),
])
def test_allowed(kind: str, version: str, private: bool) -> None:
    assert check_agent(kind, version, private) == (kind, version)


@pytest.mark.parametrize("kind,version,private,says", [
    ("dpm", "2019", True, "2022 and later"),
    ("dpm", "2012", False, "older than the oldest supported (2016)"),
    ("mabs", "4.0", True, "cannot register through a private endpoint"),
    ("mabs", "2.0", False, "older than the oldest supported"),
    ("mars", "0.0.9", True, "pip install -U vaultlink"),
    ("robot", "1.0", False, "unknown; supported: mars"),
    (None, "1.0", False, "unknown"),
])
def test_refused_with_what_to_do(kind: object, version: str, private: bool, says: str) -> None:
    with pytest.raises(AgentNotSupported, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_agent(kind, version, private)


@pytest.mark.parametrize("kind,version", [("dpm", "2022.1"), ("dpm", "x"), ("mars", "one"), ("mars", 3),
                                          ("mars", "1." * 40)])
def test_malformed_versions(kind: str, version: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_agent(kind, version, True)
    assert err.value.code == "InvalidInput"


def test_an_unknown_kind_is_echoed_bounded() -> None:
    with pytest.raises(AgentNotSupported) as err:
        check_agent("k" * 100_000, "1.0", True)
    assert len(err.value.message) < 600
