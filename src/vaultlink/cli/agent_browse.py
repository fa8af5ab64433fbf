"""``vaultlink agent ls``, ``diff``, ``find`` and ``dump``: what a recovery point of this machine holds, what
changed between two, which points hold a file, and one file of one written to stdout. Each streams: a point
of a million files is listed, searched or compared in bounded memory, and ``| head`` ends it cleanly."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from vaultlink.cli.agent_common import PassFile, StateDir, _agent, _passphrase, interruptible
from vaultlink.cli.common import OutputFormat, OutputOpt, handled
from vaultlink.data.diff import Change, DiffStats
from vaultlink.data.manifest import Node
from vaultlink.data.restore_plan import Pick
from vaultlink.errors import InvalidInput
from vaultlink.units import human_size

RecoveryPoint = Annotated[str, typer.Argument(
    help="The recovery point: its id (rp-…), latest (this machine's newest) or latest~N (the Nth before it).")]


def ls(
    recovery_point: RecoveryPoint,
    patterns: Annotated[list[str] | None, typer.Argument(
        help="Only what these select, as `agent restore --include` would (fnmatch on the paths shown).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-e", help="Leave out what matches, as `agent restore --exclude` would (repeatable).")] = None,
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List what a recovery point of this machine holds (mode, owner, size, time, path), streamed; the paths are
    those `agent restore --include` matches."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        try:
            nodes = agent.list_point(agent.point_id(recovery_point),  # type: ignore[attr-defined]
                                     _passphrase(passphrase_file), Pick.checked(patterns, exclude))
            _stream(lambda: _print_nodes(nodes, output))
        finally:
            agent.close()  # type: ignore[attr-defined]


def diff(
    old: Annotated[str, typer.Argument(help="The older recovery point (rp-…, latest~1, …).")],
    new: Annotated[str, typer.Argument(help="The newer recovery point (rp-…, latest, …).")],
    metadata: Annotated[bool, typer.Option(
        "--metadata", help="Also name paths whose mode, owner or time alone changed (U).")] = False,
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """What changed between two recovery points of this machine, path by path: + added, - removed, M content
    changed (or a symlink's target), T type changed, U metadata only (--metadata); then the totals."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        try:
            stats = DiffStats()
            changes = agent.diff(agent.point_id(old), agent.point_id(new),  # type: ignore[attr-defined]
                                 _passphrase(passphrase_file), metadata, stats)
            _stream(lambda: _print_changes(changes, stats, output))
        finally:
            agent.close()  # type: ignore[attr-defined]


def find(
    patterns: Annotated[list[str], typer.Argument(
        help="What to look for, as `agent backup --exclude` matches: '*.sql', 'notes.txt', '/home/*/notes.txt'.")],
    newest: Annotated[int | None, typer.Option(
        "--newest", min=1, help="Look in this machine's newest N points only (default: all).")] = None,
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Find files in this machine's recovery points, newest point first: each match with its point, time,
    size and mode (to restore one: `agent dump RP PATH` or `agent restore RP --include PATH`)."""
    with handled(output):
        agent, _sd = _agent(state_dir)
        try:
            found = agent.find(patterns, _passphrase(passphrase_file), newest)  # type: ignore[attr-defined]
            _stream(lambda: _print_found(found, output))
        finally:
            agent.close()  # type: ignore[attr-defined]


def dump(
    recovery_point: RecoveryPoint,
    path: Annotated[str, typer.Argument(help="The file, as `agent ls` shows it (such as documents/notes.txt).")],
    state_dir: StateDir = None,
    passphrase_file: PassFile = None,
) -> None:
    """Write one file of a recovery point to stdout (`agent dump RP db/dump.sql | psql`), verified chunk by chunk
    on the way: a restore job, without a target directory. What it wrote, or an error, goes to stderr (stdout
    carries the file's bytes alone)."""
    with handled(OutputFormat.table), interruptible():
        if sys.stdout.isatty():
            raise InvalidInput("dump writes the file's bytes to stdout: send them to a file or a program "
                               "(`vaultlink agent dump RP PATH > FILE`), or use `vaultlink agent restore --include`.",
                               field="output")
        agent, _sd = _agent(state_dir)
        try:
            pw = _passphrase(passphrase_file)
            out = agent.dump(agent.point_id(recovery_point), path, pw, sys.stdout.buffer)  # type: ignore[attr-defined]
        except BrokenPipeError:  # `agent dump RP PATH | head -c 100`: the reader had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        finally:
            agent.close()  # type: ignore[attr-defined]
        sys.stderr.write(f"{out['path']}: {out['bytes']:,} bytes (restore job {out['job']})\n")


def _stream(write: Callable[[], None]) -> None:
    """Run ``write`` on stdout; a reader that had enough (`| head`) ends it quietly."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:  # nothing more to write, at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _node_json(n: Node) -> dict[str, Any]:
    item = {"path": n.path, "type": n.type, "mode": f"{n.mode:04o}", "uid": n.uid, "gid": n.gid,
            "size": n.size, "mtime": datetime.fromtimestamp(n.mtime_ns / 1e9, UTC).isoformat()}
    if n.type == "symlink":
        item["target"] = n.target
    return item


def _lines(rows: Iterable[Any], output: OutputFormat, as_json: Callable[[Any], dict[str, Any]],
           as_text: Callable[[Any], str], head: str = "") -> None:
    """Each row as a line of text, or as an item of a JSON array written as it streams (``[]`` when none) after
    ``head``; nothing is written before the first row is read (its error is then the whole output)."""
    first = True
    for row in rows:
        if output == OutputFormat.json:
            sys.stdout.write((head + "[\n  " if first else ",\n  ") + json.dumps(as_json(row), sort_keys=True))
        else:
            sys.stdout.write(as_text(row) + "\n")
        first = False
    if output == OutputFormat.json:
        sys.stdout.write(head + "[]" if first else "\n]")


def _node_line(n: Node) -> str:
    kind = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}.get(n.type, stat.S_IFREG)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(n.mtime_ns / 1e9))
    link = f" -> {n.target}" if n.type == "symlink" else ""
    return f"{stat.filemode(kind | n.mode)} {n.uid:>5} {n.gid:>5} {n.size:>12} {when} {n.path}{link}"


def _print_nodes(nodes: Iterable[Node], output: OutputFormat) -> None:
    _lines(nodes, output, _node_json, _node_line)
    sys.stdout.write("\n" if output == OutputFormat.json else "")


def _print_found(found: Iterable[tuple[dict[str, Any], Node]], output: OutputFormat) -> None:
    def as_json(row: tuple[dict[str, Any], Node]) -> dict[str, Any]:
        rp, n = row
        return {"recovery_point": rp["id"], "point_time": datetime.fromtimestamp(rp["time"], UTC).isoformat(),
                **_node_json(n)}

    def as_text(row: tuple[dict[str, Any], Node]) -> str:
        rp, n = row
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rp["time"]))
        return f"{rp['id']}  {when}  {n.size:>12}  {n.path}{'/' if n.type == 'dir' else ''}"

    _lines(found, output, as_json, as_text)
    sys.stdout.write("\n" if output == OutputFormat.json else "")


def _print_changes(changes: Iterable[Change], stats: DiffStats, output: OutputFormat) -> None:
    _lines(changes, output, lambda c: {"change": c.kind, **_node_json(c.node)},
           lambda c: f"{c.kind}    {c.node.path}{'/' if c.node.type == 'dir' else ''}", head='{"changes": ')
    totals = stats.to_dict()
    if output == OutputFormat.json:
        sys.stdout.write(f', "summary": {json.dumps(totals)}}}\n')
        return
    sys.stdout.write(f"\n{totals['added']} added, {totals['removed']} removed, {totals['modified']} modified, "
                     f"{totals['type_changed']} changed type" + (f", {totals['metadata_changed']} metadata only"
                                                                 if totals["metadata_changed"] else "")
                     + f"; {human_size(totals['bytes_added'])} added, {human_size(totals['bytes_removed'])} removed\n")

