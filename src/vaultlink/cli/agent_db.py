"""``vaultlink agent protect postgres|sqlite`` and ``vaultlink agent db …``: database workloads
(agent/postgres.py, agent/sqlite_db.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from vaultlink.cli.agent_common import PassFile, StateDir, _agent, _passphrase, _state_dir
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled
from vaultlink.errors import InvalidInput

protect = typer.Typer(help="Protect a database workload of this machine.", no_args_is_help=True)
db = typer.Typer(help="Database workloads: base backups, the WAL archive, point-in-time restore.",
                 no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The protected database cluster's name on this machine.")]


def _classes() -> tuple[Any, Any]:
    # lazy: the workloads (and the engine under them) load when a database command runs
    from vaultlink.agent import postgres, sqlite_db

    return postgres.Postgres, sqlite_db.SqliteDb


def _postgres(state_dir: Path | None, name: str, retry_for: float = 90.0) -> tuple[Any, Any]:
    """The agent and the workload ``name`` (PostgreSQL, or a SQLite file), by what protected it."""
    Postgres, SqliteDb = _classes()
    agent, _sd = _agent(state_dir, retry_for)
    kind = agent.state.workloads.get(name, {}).get("kind")  # type: ignore[attr-defined]
    return agent, (SqliteDb if kind == "sqlite" else Postgres)(agent, name)


def parse_time(text: str) -> float:
    """ISO 8601 (``2026-11-30T18:20:01Z``, ``…+01:00``; without a zone: UTC) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"point in time {text!r} is not ISO 8601 (2026-11-30T18:20:01Z).",
                           field="point_in_time") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@protect.command("postgres")
def protect_postgres(
    name: Name,
    dsn: Annotated[str, typer.Option("--dsn", help="libpq connection string: host=… port=… user=… (a "
                                                   "replication-capable role); host may be a listener name.")],
    role: Annotated[str, typer.Option("--from", help="Back up from the group's primary or a standby.")] = "primary",
    node: Annotated[list[str] | None, typer.Option(
        "--node", help="Another member of the group (a DSN; repeatable).")] = None,
    state_dir: StateDir = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Protect a PostgreSQL cluster: base backups over a replication connection, the WAL through archive_command."""
    _protect(state_dir, output, lambda agent, sd: _classes()[0].protect(agent, sd, name, dsn, role, node))


@protect.command("sqlite")
def protect_sqlite(
    name: Name,
    path: Annotated[str, typer.Option("--path", help="The SQLite database file.")],
    state_dir: StateDir = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Protect a SQLite database file: consistent copies through SQLite's online backup API."""
    _protect(state_dir, output, lambda agent, sd: _classes()[1].protect(agent, sd, name, path))


def _protect(state_dir: Path | None, output: OutputFormat, protect_with: Any) -> None:
    """Record a workload in the machine's state (``protect_with(agent, state_dir)``) and show it."""
    with handled(output):
        agent, sd = _agent(state_dir)
        try:
            emit(protect_with(agent, sd), output)
        finally:
            agent.close()  # type: ignore[attr-defined]


VIAS = ("auto", "libpq", "pg_basebackup")


@db.command("backup")
def db_backup(name: Name, state_dir: StateDir = None, passphrase_file: PassFile = None,
              via: Annotated[str, typer.Option(
                  "--via", help="PostgreSQL: read the base backup with the machine's libpq, through pg_basebackup, "
                                "or auto (libpq when it is there and the server is 15 or later).")] = "auto",
              output: OutputOpt = OutputFormat.table) -> None:
    """A base backup (a new recovery point), streamed from the database, never staged on disk."""
    with handled(output):
        if via not in VIAS:
            raise InvalidInput(f"--via {via!r}: use one of {', '.join(VIAS)}.", field="via")
        agent, pg = _postgres(state_dir, name)
        try:
            if via != "auto" and isinstance(pg, _classes()[1]):
                raise InvalidInput(f"--via is for PostgreSQL; {name} is a SQLite file.", field="via")
            extra = {"via": via} if via != "auto" else {}
            out = pg.base_backup(_passphrase(passphrase_file), _state_dir(state_dir), **extra)
        finally:
            agent.close()
        emit(out if output == OutputFormat.json else {"recovery_point": out["recovery_point"]["id"],
                                                      "bytes": out["stats"]["bytes_total"]}, output)


@db.command("wal-push")
def wal_push(name: Name, path: Annotated[str, typer.Argument(help="%p: the WAL file PostgreSQL archives.")],
             state_dir: StateDir = None, passphrase_file: PassFile = None,
             output: OutputOpt = OutputFormat.table) -> None:
    """archive_command: archive one WAL file (non-zero exit: PostgreSQL keeps it and tries again)."""
    with handled(output):
        agent, pg = _postgres(state_dir, name, retry_for=20.0)
        try:
            emit(pg.wal_push(_passphrase(passphrase_file), path), output)
        finally:
            agent.close()


@db.command("wal-fetch")
def wal_fetch(name: Name, segment: Annotated[str, typer.Argument(help="%f: the WAL file asked for.")],
              dest: Annotated[str, typer.Argument(help="%p: where PostgreSQL wants it.")],
              state_dir: StateDir = None, passphrase_file: PassFile = None,
              output: OutputOpt = OutputFormat.table) -> None:
    """restore_command: fetch one archived WAL file (non-zero exit: not in the archive)."""
    with handled(output):
        agent, pg = _postgres(state_dir, name, retry_for=20.0)
        try:
            emit(pg.wal_fetch(_passphrase(passphrase_file), segment, dest), output)
        finally:
            agent.close()


@db.command("restore")
def db_restore(
    name: Name,
    target: Annotated[str, typer.Option("--target", help="A new, empty data directory.")],
    point_in_time: Annotated[str | None, typer.Option(
        "--point-in-time", help="Restore to this moment (ISO 8601; default: the latest base backup).")] = None,
    state_dir: StateDir = None,
    passphrase_file: Annotated[str, typer.Option(
        "--passphrase-file", help="File holding the passphrase (restore_command reads it too).")] = "",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Restore the database cluster into TARGET, to a point in time of its archive; then start PostgreSQL on it."""
    with handled(output):
        if not passphrase_file:
            raise InvalidInput("--passphrase-file is required: PostgreSQL's restore_command reads it.",
                               field="passphrase_file")
        at = parse_time(point_in_time) if point_in_time else None
        agent, wl = _postgres(state_dir, name)
        try:
            if type(wl).__name__ == "SqliteDb":
                if at is not None:
                    raise InvalidInput("a SQLite file restores to one of its recovery points, not to any "
                                       "moment: drop --point-in-time.", field="point_in_time")
                out = wl.restore(_passphrase(passphrase_file), target)
            else:
                out = wl.restore(_passphrase(passphrase_file), target, at, _state_dir(state_dir),
                                 str(Path(passphrase_file).resolve()))
        finally:
            agent.close()
        emit(out, output)
