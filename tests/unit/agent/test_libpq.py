"""The agent's libpq binding (agent/libpq.py): found on a machine with PostgreSQL's client library, absent
(``None``, so the agent runs pg_basebackup) where there is none."""

from __future__ import annotations

import pytest

from vaultlink.agent import libpq, pg_stream
from vaultlink.errors import InvalidInput


def test_a_machine_without_libpq_reads_through_pg_basebackup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libpq, "NAMES", ("libpq-that-is-not-here.so.5",))
    assert libpq.load() is None
    assert pg_stream.open_stream("host=127.0.0.1 port=1") is None  # no connection tried


def test_this_machine_has_libpq_and_a_bad_dsn_is_refused_before_connecting() -> None:
    assert libpq.load() is not None  # scripts/install-system-deps.sh installs PostgreSQL (and libpq5)
    for dsn in ("host=127.0.0.1 port=5432 =broken", "host=127.0.0.1 port=notaport", "postgresql://[::1"):
        with pytest.raises(InvalidInput, match="--dsn"):
            pg_stream.open_stream(dsn)
