"""What the agent's command modules share: options, the state directory, the passphrase, the session."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from vaultlink.agent.state import default_state_dir, load_state
from vaultlink.config import passphrase_from_env
from vaultlink.errors import Interrupted, InvalidInput, NotFound

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="VAULTLINK_AGENT_STATE",
                 help="Where the agent keeps its registration (default ~/.vaultlink-agent)."),
]
PassFile = Annotated[
    str | None,
    typer.Option("--passphrase-file", help="File holding the encryption passphrase (else $VAULTLINK_PASSPHRASE, "
                 "else a prompt)."),
]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Do not draw the progress bar.")]
RetryFor = Annotated[
    float, typer.Option("--retry-for", help="Seconds to keep retrying an unreachable service before failing.")
]


def _session() -> Any:
    # lazy: the backup engine (cryptography, blake3, pyfastcdc) loads for `vaultlink agent` commands only, never
    # for the client commands that share this program
    from vaultlink.agent import session

    return session


def _state_dir(state_dir: Path | None) -> Path:
    return state_dir.expanduser() if state_dir else default_state_dir()


def _passphrase(path: str | None, confirm: bool = False) -> str:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise NotFound(f"cannot read the passphrase file {path!r}: {exc.strerror}", field="passphrase") from None
    env = passphrase_from_env()
    if env:
        return env
    if not sys.stdin.isatty():
        raise InvalidInput(
            "no encryption passphrase: pass --passphrase-file FILE or set VAULTLINK_PASSPHRASE.", field="passphrase"
        )
    return str(typer.prompt("Encryption passphrase (16+ characters)", hide_input=True,
                            confirmation_prompt=confirm))


def _agent(state_dir: Path | None, retry_for: float = 90.0) -> tuple[object, Path]:
    sd = _state_dir(state_dir)
    return _session().Agent(load_state(sd), retry_for=retry_for, state_dir=sd), sd


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C or SIGTERM (a service manager stopping the machine's jobs) stops the command as ``Interrupted``
    (exit code 130), after the agent ended its job as Aborted; inside ``handled``, which prints it."""

    def stop(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted() from None
    finally:
        signal.signal(signal.SIGTERM, previous)
