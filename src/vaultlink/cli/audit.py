"""``vaultlink audit``: the audit log."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, with_iso_times
from vaultlink.errors import InvalidInput, ServiceUnavailable

app = typer.Typer(help="The audit log: one event per decision.", no_args_is_help=True)
COLUMNS = (
    "seq",
    "time",
    "plane",
    "principal",
    "action",
    "target",
    "endpoint",
    "source_ip",
    "decision",
    "code",
)


def _parse_time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime


    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidInput(f"time {text!r}: use epoch seconds or ISO 8601 (2026-11-23T10:00:00)") from None


def _fmt(ev: dict[str, Any]) -> dict[str, Any]:
    out = dict(ev)
    out["time"] = datetime.fromtimestamp(float(ev["time"])).astimezone().isoformat(timespec="milliseconds")
    return out


@app.command("list")
def list_(
    vault: Annotated[str | None, typer.Option("--vault", help="Name, id or ARN")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint")] = None,
    principal: Annotated[str | None, typer.Option("--principal", help="Principal ARN")] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="allowed or denied")] = None,
    code: Annotated[str | None, typer.Option("--code", help="Error code, e.g. AccessDenied")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Epoch seconds or ISO time")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many of the newest events")] = 100,
    before: Annotated[
        int | None, typer.Option("--before", help="Page back: only events older than this seq")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming new events.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The newest events (like tail: the last --limit, oldest of them first), filtered; --before SEQ pages
    back. --follow then streams new ones (one JSON line each with -o json) without repeating or losing any."""
    with handled(output):
        client = Client()
        params = {
            "vault": vault,
            "endpoint": endpoint,
            "principal": principal,
            "decision": decision,
            "code": code,
            "action": action,
        }
        window = {"since": _parse_time(since), "until": _parse_time(until)}
        events = list(reversed(client.get("/audit", limit=limit, before=before, **params, **window)))
        if not follow:
            emit(events, output, COLUMNS)
            if events and output != OutputFormat.json and len(events) >= limit:
                sys.stderr.write(f"(older events: --before {events[0]['seq']})\n")
            return
        after = 0
        for ev in events:
            _print_line(ev, output)
            after = max(after, ev["seq"])
        if not events:  # start from the current end of the log
            newest = client.get("/audit", limit=1, **params)
            after = newest[0]["seq"] if newest else 0
        try:
            for _ in range(1_000_000):  # reconnects, each from the last event seen
                try:
                    for ev in client.stream_lines("/audit/stream", after=after, **params):
                        _print_line(ev, output)
                        after = max(after, ev["seq"])
                except ServiceUnavailable:
                    time.sleep(1.0)
        except KeyboardInterrupt:
            return


def _print_line(ev: dict[str, Any], output: OutputFormat) -> None:
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps(with_iso_times(ev, utc=True), sort_keys=True) + "\n")
    else:
        e = _fmt(ev)
        sys.stdout.write(
            " ".join(str(e.get(c, "-") if e.get(c) is not None else "-") for c in COLUMNS) + "\n"
        )
    sys.stdout.flush()
