"""``vaultlink recovery-point``: list, show and delete a vault's recovery points."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, days_or_none, emit, handled
from vaultlink.errors import JobStillRunning, from_dict

app = typer.Typer(help="Recovery points: one backup of a protected item.", no_args_is_help=True)
COLUMNS = ("id", "time", "status", "hostname", "protected_item", "files", "bytes_total", "expires", "copies",
           "copied_from")


@app.command("list")
def list_(
    vault: str,
    container: Annotated[str | None, typer.Option("--container", help="Only this machine (id or hostname).")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List a vault's recovery points (oldest first)."""
    with handled(output):
        emit(Client().get_all(f"/vaults/{vault}/recovery-points", "time", container=container), output, COLUMNS)


@app.command("show")
def show(recovery_point: str, output: OutputOpt = OutputFormat.table) -> None:
    """Show one recovery point."""
    with handled(output):
        emit(Client().get(f"/recovery-points/{recovery_point}"), output)


@app.command("delete")
def delete(recovery_point: str, output: OutputOpt = OutputFormat.table) -> None:
    """Delete a recovery point: soft-deleted (kept, undeletable) while the vault's soft delete is on;
    refused while the vault lock keeps it."""
    with handled(output):
        emit(Client().delete(f"/recovery-points/{recovery_point}"), output)


@app.command("undelete")
def undelete(recovery_point: str, output: OutputOpt = OutputFormat.table) -> None:
    """Bring a soft-deleted recovery point back."""
    with handled(output):
        emit(Client().post(f"/recovery-points/{recovery_point}/undelete"), output)


@app.command("update")
def update(
    recovery_point: str,
    retention_days: Annotated[str, typer.Option(
        help="Days after the point was taken that the service deletes it, or 'none' (kept)")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Change a point's lifecycle (AWS UpdateRecoveryPointLifecycle); a vault lock bounds it."""
    with handled(output):
        days = days_or_none(retention_days, "retention_days")
        emit(Client().patch(f"/recovery-points/{recovery_point}", {"retention_days": days}), output)


@app.command("restore")
def restore_onto(
    recovery_point: str,
    container: Annotated[str, typer.Option("--container", help="The machine to restore onto (hostname or id).")],
    target: Annotated[str, typer.Option("--target", help="Absolute directory on that machine.")],
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Only paths matching (repeatable), as `agent restore --include` and `agent ls`.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-e", help="Leave out what matches (repeatable), as `agent restore --exclude`.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Restore a recovery point onto another machine of the vault: a job on its queue, which its
    `vaultlink agent run` takes (it needs the source machine's passphrase)."""
    with handled(output):
        emit(Client().post(f"/recovery-points/{recovery_point}/restore",
                           {"container": container, "target": target,
                            **({"include": include} if include else {}),
                            **({"exclude": exclude} if exclude else {})}), output)


@app.command("copy")
def copy(
    recovery_point: str,
    to: Annotated[str, typer.Option("--to", help="Destination vault: name, id or ARN (any region or account).")],
    delete_after_days: Annotated[int | None, typer.Option(
        help="The copy's lifecycle (default: the destination vault's; its lock decides)")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Wait until the copy job ends (default), or return once it is queued.")] = True,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="With --wait: seconds to wait before giving up (the job goes on).")] = 3600.0,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Copy a recovery point to another vault (AWS StartCopyJob): a copy job, checked at once and run by the
    service; encrypted as stored, restorable there."""
    with handled(output):
        client = Client()
        job = client.post(f"/recovery-points/{recovery_point}/copy",
                          {"destination_vault": to, "delete_after_days": delete_after_days})["job"]
        if not wait:
            emit({"job": job} if output == OutputFormat.json else {"job": job["id"], "status": job["status"]}, output)
            return
        job = wait_for_job(client, job["id"], timeout)
        rp = client.get(f"/recovery-points/{job['recovery_point_id']}")
        emit({"job": job, "recovery_point": rp} if output == OutputFormat.json else {
            "copy": rp["id"], "vault": rp["vault_name"], "job": job["id"], "copied_bytes": rp["copied_bytes"]}, output)


def wait_for_job(client: Client, job_id: str, timeout: float) -> dict[str, Any]:
    """Job ``job_id`` once it ended ``Completed``; its error if it failed; ``JobStillRunning`` after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}")
        if job["status"] == "Completed":
            return job
        if job["status"] not in ("Created", "InProgress"):
            why = job.get("error") or "no reason given"
            raise from_dict({"code": job.get("error_code") or "InternalError",
                             "message": f"copy job {job_id} is {job['status']}: {why}"})
        if time.monotonic() > deadline:
            raise JobStillRunning(f"copy job {job_id} is still {job['status']} after {timeout:g} s; it goes on: "
                          f"`vaultlink job show {job_id}` follows it.")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
