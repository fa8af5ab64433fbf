"""The few calls of libpq a base backup needs, through ctypes, on the machine's own libpq.

A database machine has libpq (``libpq5`` on Debian: PostgreSQL's client programs, pg_basebackup among them,
are built on it), so the agent needs no driver package to read a base backup itself. ctypes releases the
interpreter during every call, so the agent's compression threads run while libpq receives and copies;
psycopg's C module kept it during those calls, and importing psycopg cost 0.12-0.2 s of the agent's start
(measured: ``bench/README-postgres.md``). ``load()`` returns ``None`` where there is no libpq.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_void_p
from typing import Any

NAMES = ("libpq.so.5", "libpq.so")

# ConnStatusType, PostgresPollingStatusType and ExecStatusType (libpq-fe.h)
CONNECTION_BAD = 1
POLLING_FAILED, POLLING_READING, POLLING_WRITING, POLLING_OK = 0, 1, 2, 3
PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_OUT = 1, 2, 3

NoticeProcessor = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "PQconnectStartParams": (c_void_p, [POINTER(c_char_p), POINTER(c_char_p), c_int]),
    "PQconnectPoll": (c_int, [c_void_p]),
    "PQstatus": (c_int, [c_void_p]),
    "PQsocket": (c_int, [c_void_p]),
    "PQerrorMessage": (c_char_p, [c_void_p]),
    "PQserverVersion": (c_int, [c_void_p]),
    "PQsetNoticeProcessor": (c_void_p, [c_void_p, NoticeProcessor, c_void_p]),
    "PQsendQuery": (c_int, [c_void_p, c_char_p]),
    "PQisBusy": (c_int, [c_void_p]),
    "PQconsumeInput": (c_int, [c_void_p]),
    "PQgetResult": (c_void_p, [c_void_p]),
    "PQresultStatus": (c_int, [c_void_p]),
    "PQresultErrorMessage": (c_char_p, [c_void_p]),
    "PQntuples": (c_int, [c_void_p]),
    "PQnfields": (c_int, [c_void_p]),
    "PQgetvalue": (c_char_p, [c_void_p, c_int, c_int]),
    "PQgetisnull": (c_int, [c_void_p, c_int, c_int]),
    "PQclear": (None, [c_void_p]),
    "PQgetCopyData": (c_int, [c_void_p, POINTER(c_void_p), c_int]),
    "PQfreemem": (None, [c_void_p]),
    "PQfinish": (None, [c_void_p]),
}


class Result:
    """A ``PGresult`` read at once (status, error, values) and cleared."""

    def __init__(self, pq: Any, res: int) -> None:
        self.status: int = pq.PQresultStatus(res)
        self.error: bytes = pq.PQresultErrorMessage(res) or b""
        self.rows: list[list[bytes | None]] = [
            [None if pq.PQgetisnull(res, r, c) else pq.PQgetvalue(res, r, c) for c in range(pq.PQnfields(res))]
            for r in range(min(pq.PQntuples(res), 1000))]
        self.ntuples: int = pq.PQntuples(res)
        pq.PQclear(res)


class Conn:
    """One libpq connection, started non-blocking (``PQconnectStartParams``)."""

    def __init__(self, pq: Any, params: dict[str, str]) -> None:
        self.pq = pq
        keys = (c_char_p * (len(params) + 1))(*[k.encode() for k in params], None)
        values = (c_char_p * (len(params) + 1))(*[v.encode() for v in params.values()], None)
        self.ptr: int | None = pq.PQconnectStartParams(keys, values, 1)  # 1: "dbname" may be a whole DSN
        if not self.ptr:
            raise MemoryError("libpq could not allocate a connection")
        self.notices: list[str] = []
        self._notice = NoticeProcessor(self._on_notice)  # referenced here while libpq may call it
        pq.PQsetNoticeProcessor(self.ptr, self._notice, None)

    def _on_notice(self, _arg: int | None, message: bytes | None) -> None:
        if len(self.notices) < 20:
            self.notices.append((message or b"").decode(errors="replace").strip())

    def bad(self) -> bool:
        return bool(self.pq.PQstatus(self.ptr) == CONNECTION_BAD)

    def error(self) -> str:
        return (self.pq.PQerrorMessage(self.ptr) or b"").decode(errors="replace").strip()

    def result(self) -> Result | None:
        res = self.pq.PQgetResult(self.ptr)
        return Result(self.pq, res) if res else None

    def copy_data(self) -> tuple[int, int]:
        """``PQgetCopyData`` without waiting: (length, buffer to ``free``) or (0: nothing yet, -1: done, -2)."""
        buf = c_void_p()
        n = self.pq.PQgetCopyData(self.ptr, ctypes.byref(buf), 1)
        return n, (buf.value or 0)

    def free(self, buf: int) -> None:
        self.pq.PQfreemem(buf)

    def finish(self) -> None:
        if self.ptr:
            self.pq.PQfinish(self.ptr)
            self.ptr = None


def load() -> Any | None:
    """libpq with the signatures above declared, or ``None`` if this machine has none."""
    for name in NAMES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            for fn, (restype, argtypes) in _SIGNATURES.items():
                f = getattr(lib, fn)
                f.restype, f.argtypes = restype, argtypes
        except AttributeError:  # a libpq too old for some call
            continue
        return lib
    return None
