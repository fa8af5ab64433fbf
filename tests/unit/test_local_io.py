"""A file or directory of the machine that a command cannot read or write is ``LocalIOError`` (exit code 7), naming
the path, the system's reason and what to do; an ``OSError`` without a path (a socket's) is not one."""

from __future__ import annotations

import errno

import pytest
import typer

from vaultlink.cli.common import OutputFormat, handled
from vaultlink.errors import Interrupted, LocalIOError, NotFound, as_error


def test_a_full_disk_names_the_file_and_says_to_free_space(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exc, handled(OutputFormat.table):
        raise OSError(errno.ENOSPC, "No space left on device", "/restore/f1.txt")
    assert exc.value.exit_code == 7
    err = capsys.readouterr().err
    assert err.startswith("error: LocalIOError: /restore/f1.txt: No space left on device; free space on that disk")
    assert "Traceback" not in err


@pytest.mark.parametrize(("code", "fix"), [
    (errno.EACCES, "choose a place this user may write"),
    (errno.EROFS, "read-only"),
    (errno.ENOENT, "check the path"),
    (errno.EIO, "fix that"),
])
def test_each_reason_says_what_to_do(code: int, fix: str) -> None:
    err = LocalIOError.of(OSError(code, "reason", "/x", None, "/y"))
    assert err.message.startswith("/x -> /y: reason; ") and fix in err.message and err.exit_code == 7
    assert err.details["errno"] == errno.errorcode[code]


def test_an_oserror_without_a_path_is_not_the_machine_s_files() -> None:
    with pytest.raises(ConnectionResetError), handled(OutputFormat.json):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def test_what_a_stopped_command_tells() -> None:
    assert isinstance(as_error(KeyboardInterrupt()), Interrupted)
    full = as_error(OSError(errno.ENOSPC, "full"))
    assert isinstance(full, LocalIOError) and "path" not in full.details  # not "None"
    assert full.message.startswith("a file of this machine: full; free space")
    assert LocalIOError.of(OSError(errno.EIO, "io", "/x")).details["path"] == "/x"
    nf = NotFound("gone")
    assert as_error(nf) is nf
