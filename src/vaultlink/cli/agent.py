"""``vaultlink agent``: the client that runs on protected machines (register, backup, restore, check)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from vaultlink.agent.state import load_state
from vaultlink.cli.agent_browse import diff, dump, find, ls
from vaultlink.cli.agent_common import (
    NoProgress,
    PassFile,
    RetryFor,
    StateDir,
    _agent,
    _passphrase,
    _session,
    _state_dir,
    interruptible,
)
from vaultlink.cli.agent_db import db, db_restore, protect
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled
from vaultlink.data.formats import ZSTD_LEVEL, check_level
from vaultlink.data.restore_plan import Pick
from vaultlink.data.tree import check_patterns
from vaultlink.errors import FilesUnreadable, InvalidInput, NotFound

app = typer.Typer(help="The backup agent: register this machine, back up, restore, check.", no_args_is_help=True)
app.add_typer(protect, name="protect")  # agent protect postgres|sqlite
app.add_typer(db, name="db")  # agent db backup|wal-push|wal-fetch|restore
app.command("ls")(ls)
app.command("diff")(diff)
app.command("find")(find)
app.command("dump")(dump)


def _worker() -> Any:
    # lazy: the long-running loop (and the engine under it) loads for `vaultlink agent run` only
    from vaultlink.agent import worker

    return worker


def _progress_bar(label: str, enabled: bool, unit: str | None = None) -> Any:
    """A bar of bytes and files (backup, restore) or, with ``unit``, of a count (``check``: packs)."""
    if not enabled:
        return contextlib.nullcontext(None)
    # lazy: rich's progress machinery (about 20 ms of imports) loads only when a bar is drawn
    from vaultlink.agent import progress

    return progress.progress_bar(label) if unit is None else progress.count_bar(label, unit)


@app.command("register")
def register(
    credentials: Annotated[str, typer.Option("--credentials", help="The vault credentials file.")],
    source_ip: Annotated[str, typer.Option(
        "--source-ip", help="This machine's address in its vnet (default: what the kernel picks).")] = "",
    dns: Annotated[str, typer.Option(
        "--dns", help="The DNS server this machine uses, HOST:PORT (default: /etc/resolv.conf's).")] = "",
    hostname: Annotated[str | None, typer.Option("--hostname", help="Name of this machine in the vault.")] = None,
    kind: Annotated[str, typer.Option(
        "--kind", help="What registers: mars (this agent), workload, dpm or mabs (a backup server).")] = "mars",
    agent_version: Annotated[str, typer.Option(
        "--agent-version", help="The registering product's version (default: this vaultlink's; dpm: a year).")] = "",
    proxy: Annotated[str, typer.Option(
        "--proxy", help="Reach the vault through this HTTP proxy, http://[USER:PASSWORD@]HOST:PORT (kept; "
                        "default: HTTPS_PROXY). The proxy resolves the vault's names: it must sit in the vnet.")] = "",
    no_proxy: Annotated[str, typer.Option(
        "--no-proxy", help="Comma-separated names, .suffixes, CIDRs or * reached directly (default: NO_PROXY "
                           "with an environment proxy).")] = "",
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Register this machine with a vault (again after its private endpoint changed). Kind and version are
    checked against what may register (private endpoints: DPM 2022 and later, never MABS)."""
    with handled(output):
        out = _session().register(credentials, source_ip, dns, _state_dir(state_dir),
                                  _passphrase(passphrase_file, True), hostname, agent_kind=kind,
                                  agent_version=agent_version, proxy=proxy, no_proxy=no_proxy)
        emit(out, output, ("container", "hostname", "new", "storage_accounts", "state_dir"))


@app.command("backup")
def backup(
    paths: Annotated[list[str], typer.Argument(help="Directories or files to back up.")],
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    no_progress: NoProgress = False,
    retry_for: RetryFor = 90.0,
    compression_level: Annotated[int, typer.Option(
        "--compression-level", help="zstd level of the new chunks: 1 (fastest) to 19 (smallest), 0 stores them "
                                    "uncompressed.")] = ZSTD_LEVEL,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-e", help="Leave out what matches (repeatable; fnmatch, '*' crosses '/'): '/abs/path/*' a "
                                "whole path, any other the end of one ('*.tmp', 'node_modules', '.cache/pip')."
    )] = None,
    exclude_file: Annotated[str | None, typer.Option(
        "--exclude-file", help="A file of exclude patterns, one a line ('#' starts a comment).")] = None,
    one_file_system: Annotated[bool, typer.Option(
        "--one-file-system", "-x", help="Do not descend into other file systems' mount points (kernel ones such "
                                        "as /proc and /sys are never read below a path given).")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Back up PATHs into the vault: a new recovery point."""
    with handled(output), interruptible():
        check_level(compression_level)  # before anything else: nothing is read or sent
        patterns = check_patterns([*(exclude or ()), *_exclude_file(exclude_file)],
                                  "exclude_file" if exclude_file else "exclude")
        agent, sd = _agent(state_dir, retry_for)
        pw = _passphrase(passphrase_file)
        try:
            with _progress_bar("backup", not no_progress and output == OutputFormat.table) as cb:
                out = agent.backup(paths, pw, cb, state_dir=sd,  # type: ignore[attr-defined]
                                   compression_level=compression_level, exclude=patterns,
                                   one_file_system=one_file_system)
        finally:
            agent.close()  # type: ignore[attr-defined]
        rp, st = out["recovery_point"], out["stats"]
        if output == OutputFormat.json:
            emit(out, output)
        else:
            emit({"recovery_point": rp["id"], "files": st["files"], "unchanged": st["files_unchanged"],
                  "bytes": st["bytes_total"], "new_bytes": st["bytes_new"], "stored_bytes": st["stored_bytes"],
                  "dedup_ratio": st["dedup_ratio"], "seconds": round(st["duration"], 2),
                  **({"unreadable": st["error_count"]} if st.get("error_count") else {})}, output)
    _unreadable(rp["id"], st, output)


def _exclude_file(path: str | None) -> list[str]:
    if path is None:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFound(f"cannot read the exclude file {path!r}: {getattr(exc, 'strerror', None) or exc}",
                       field="exclude_file") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _unreadable(rp: str, stats: dict[str, Any], output: OutputFormat, shown: int = 20) -> None:
    """After a backup's output: what it could not read (a warning naming the first ``shown`` paths), and the exit
    code of ``FilesUnreadable``, so that a script sees a recovery point that lacks files."""
    count = int(stats.get("error_count") or 0)
    if not count:
        return
    err = FilesUnreadable.counted(count, f"recovery point {rp}")
    if output != OutputFormat.json:  # the JSON output carries them in stats.errors and stats.error_count
        sys.stderr.write(f"warning: {err.code}: {err.message}\n")
        for e in stats.get("errors", [])[:shown]:
            sys.stderr.write(f"  - {e['path']}: {e['error']}\n")
        if count > shown:
            sys.stderr.write(f"  - … and {count - shown} more\n")
    raise typer.Exit(err.exit_code)


@app.command("restore")
def restore(
    recovery_point: Annotated[str | None, typer.Argument(
        help="The recovery point: its id (rp-…), latest (this machine's newest) or latest~N.")] = None,
    target: Annotated[str, typer.Option("--target", help="Directory to restore into.")] = "",
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Only paths matching (repeatable; fnmatch on the paths `agent ls` shows).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-e", help="Leave out what matches (repeatable; as `agent backup --exclude`: 'node_modules', "
                                "'*.tmp', '/src/build').")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", help="A protected database cluster (agent protect postgres): restore it, to a point in time "
                           "with --point-in-time (same as `agent db restore`).")] = None,
    point_in_time: Annotated[str | None, typer.Option(
        "--point-in-time", help="With --database: the moment to restore to (ISO 8601).")] = None,
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    no_progress: NoProgress = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Restore a recovery point into TARGET (never writes outside it), or a database to a point in time."""
    if database is not None or point_in_time is not None:
        with handled(output):
            if database is None or recovery_point is not None:
                raise InvalidInput("--point-in-time restores a database: give --database NAME and no recovery "
                                   "point.", field="database")
        db_restore(database, target, point_in_time, state_dir, passphrase_file or "", output)
        return
    with handled(output), interruptible():
        if not recovery_point or not target:
            raise InvalidInput("give the recovery point and --target DIR.", field="recovery_point")
        agent, _sd = _agent(state_dir)
        pw = _passphrase(passphrase_file)
        try:
            with _progress_bar("restore", not no_progress and output == OutputFormat.table) as cb:
                out = agent.restore(agent.point_id(recovery_point), target, pw,  # type: ignore[attr-defined]
                                    Pick.checked(include, exclude), cb)
        finally:
            agent.close()  # type: ignore[attr-defined]
        emit(out, output)


@app.command("check")
def check(
    read_data: Annotated[bool, typer.Option("--read-data", help="Also read and verify every chunk.")] = False,
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    no_progress: NoProgress = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Verify this machine's backup data in the vault; names damaged files."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        pw = _passphrase(passphrase_file)
        try:
            with _progress_bar("check", not no_progress and output == OutputFormat.table, "packs") as cb:
                out = agent.check(pw, read_data, cb)  # type: ignore[attr-defined]
        finally:
            agent.close()  # type: ignore[attr-defined]
        emit(out, output, ("ok", "snapshots", "packs", "chunks", "bytes_read"))


@app.command("run")
def run(
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between two looks at an empty queue.")] = 10.0,
    once: Annotated[bool, typer.Option("--once", help="Run what is queued now, then stop.")] = False,
    retry_for: RetryFor = 90.0,
    rotate_hours: Annotated[float, typer.Option(
        "--rotate-credential-hours", help="Replace the machine's credential when it is this old (0: never).")] = 24.0,
) -> None:
    """Run as a service: take the backup jobs the vault's plans queue for this machine, one JSON line per
    event (contrib/vaultlink-agent.service runs it under systemd). SIGTERM lets a running backup finish. Once a
    day, between two jobs, it replaces the machine's credential (`agent rotate-credential`)."""
    with handled(OutputFormat.table):
        if rotate_hours < 0:
            raise InvalidInput("--rotate-credential-hours must be 0 (never) or more.", field="rotate_credential_hours")
        agent, sd = _agent(state_dir, retry_for)
        pw = _passphrase(passphrase_file)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def log(event: dict[str, Any]) -> None:
            print(json.dumps(event), flush=True)

        try:
            _worker().run(agent, pw, sd, poll, once, stop, log, rotate_hours * 3600.0)
        finally:
            agent.close()  # type: ignore[attr-defined]


@app.command("passphrase")
def passphrase(
    new_passphrase_file: Annotated[str, typer.Option("--new-passphrase-file", help="File holding the new one.")],
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    retire_old: Annotated[bool, typer.Option(
        "--retire-old", help="Then retire every other key version: the old passphrase no longer opens the data "
        "through the service (the vault's owner can bring them back: `vaultlink container keys`).")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add a passphrase: the vault data's keys wrapped under it in a new key version, beside the old ones (stored
    data is write-once: the old passphrase keeps opening the data unless --retire-old retires them)."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        try:
            out = agent.change_passphrase(  # type: ignore[attr-defined]
                _passphrase(passphrase_file), _passphrase(new_passphrase_file), retire_old)
        finally:
            agent.close()  # type: ignore[attr-defined]
        emit(out, output)


@app.command("rotate-credential")
def rotate_credential(state_dir: StateDir = None, output: OutputOpt = OutputFormat.table) -> None:
    """Replace this machine's container credential: the new one is saved in the state directory, and once it is
    first used the old one (and any copy of it) stops working. Not while a backup of this machine runs."""
    with handled(output):
        agent, sd = _agent(state_dir)
        try:
            out = agent.rotate_credential(sd)  # type: ignore[attr-defined]
        finally:
            agent.close()  # type: ignore[attr-defined]
        emit(out, output)


@app.command("recovery-points")
def recovery_points(state_dir: StateDir = None, output: OutputOpt = OutputFormat.table) -> None:
    """List this machine's recovery points."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        try:
            out = agent.recovery_points()  # type: ignore[attr-defined]
        finally:
            agent.close()  # type: ignore[attr-defined]
        emit(out, output, ("id", "time", "protected_item", "files", "bytes_total", "dedup_ratio"))


@app.command("status")
def status(state_dir: StateDir = None, output: OutputOpt = OutputFormat.table) -> None:
    """Show this machine's registration (without its credential)."""
    with handled(output):
        emit(load_state(_state_dir(state_dir)).public(), output)

