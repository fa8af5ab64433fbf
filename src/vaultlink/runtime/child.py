"""What a worker process the service starts does first (``prune_process.py``, ``audit_process.py``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Be killed when the service dies, even by ``kill -9`` (Linux ``PR_SET_PDEATHSIG``), and exit now if it
    already has: a worker must not outlive the process that started it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(3)
