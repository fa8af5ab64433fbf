"""`vaultlink policy`: simulate a request against policies, validate a document.

The request file (JSON)::

    {"principal": {"arn": "arn:aws:iam::111122223333:user/alice", "account": "111122223333"},
     "action": "backup:StartBackupJob",
     "resource": "arn:aws:backup:r1:111122223333:backup-vault:v1",
     "resource_account": "111122223333",          (optional; default: the ARN's account)
     "context": {"aws:SourceVpce": "vpce-1", "aws:SecureTransport": "true"}}

``principal_arn`` / ``principal_account`` at the top level are accepted too.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled, read_json_file
from vaultlink.errors import InvalidType, MissingField, NotFound, PolicyInvalid, PolicyTooLarge
from vaultlink.policy import (
    MAX_POLICY_CHARS,
    CompiledPolicy,
    Request,
    compile_policy,
    evaluate,
    validate_policy,
)

app = typer.Typer(
    help="Simulate and validate IAM-style policies (endpoint, identity, resource).", no_args_is_help=True
)


class Kind(StrEnum):
    endpoint = "endpoint"
    identity = "identity"
    resource = "resource"


def _read_text(path: str, what: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise NotFound(f"{what} {path!r} does not exist; check the path.", field=what) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFound(f"cannot read {what} {path!r}: {exc}", field=what) from None


def _load_policy(path: str, kind: str) -> CompiledPolicy:
    text = _read_text(path, f"{kind} policy")
    try:
        return compile_policy(text, kind)
    except PolicyInvalid as exc:
        exc.message = f"{path}: {exc.message}"
        raise


def _str(data: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    v = data.get(key)
    if v is None:
        if required:
            raise MissingField(f"the request file needs {where}.", field=where)
        return ""
    if not isinstance(v, str):
        raise InvalidType(f"{where} must be a string.", field=where)
    return v


def parse_request(data: Any) -> tuple[Request, str | None]:
    """A Request (and optional resource account) from the request file's JSON."""
    if not isinstance(data, dict):
        raise InvalidType("the request file must hold a JSON object.", field="request")
    principal = data.get("principal")
    if isinstance(principal, dict):
        arn = _str(principal, "arn", "principal.arn")
        account = _str(principal, "account", "principal.account", required=False)
    elif principal is None:
        arn = _str(data, "principal_arn", "principal_arn")
        account = _str(data, "principal_account", "principal_account", required=False)
    else:
        raise InvalidType("principal must be an object with arn and account.", field="principal")
    if not account:
        parts = arn.split(":")
        account = parts[4] if len(parts) > 4 else ""
    action = _str(data, "action", "action")
    resource = _str(data, "resource", "resource")
    ctx = data.get("context", {})
    if not isinstance(ctx, dict):
        raise InvalidType("context must be an object of key -> string or list of strings.", field="context")
    for k, v in ctx.items():
        ok = isinstance(v, str | bool | int | float) or (
            isinstance(v, list) and all(isinstance(x, str | bool | int | float) for x in v)
        )
        if not ok:
            raise InvalidType(
                f"context key {k!r} must be a string or a list of strings.", field=f"context.{k}"
            )
    ra = data.get("resource_account")
    if ra is not None and not isinstance(ra, str):
        raise InvalidType("resource_account must be a string.", field="resource_account")
    return Request(arn, account, action, resource, ctx), ra


@app.command()
def simulate(
    request: Annotated[str, typer.Option("--request", help="JSON request file ('-' for stdin).")],
    endpoint_policy: Annotated[
        str | None, typer.Option("--endpoint-policy", help="Endpoint policy file (request came through it).")
    ] = None,
    identity_policy: Annotated[
        list[str] | None, typer.Option("--identity-policy", help="Identity policy file (repeatable).")
    ] = None,
    resource_policy: Annotated[
        str | None, typer.Option("--resource-policy", help="Resource (vault access) policy file.")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Evaluate a request against policies with the gateway's evaluator; print the decision."""
    with handled(output):
        req, resource_account = parse_request(read_json_file(request, "request"))
        ep = _load_policy(endpoint_policy, "endpoint") if endpoint_policy else None
        ids = [_load_policy(p, "identity") for p in (identity_policy or [])]
        rp = _load_policy(resource_policy, "resource") if resource_policy else None
        d = evaluate(
            req,
            endpoint_policy=ep,
            identity_policies=ids,
            resource_policy=rp,
            resource_account=resource_account,
        )
        emit(d.to_dict(), output, columns=["decision", "reason", "matched"])


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="Policy document (JSON file, '-' for stdin).")],
    kind: Annotated[
        Kind, typer.Option("--kind", help="Which kind of policy the document is.")
    ] = Kind.endpoint,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Print every problem with its JSON path; exit non-zero (PolicyInvalid) on errors."""
    with handled(output):
        text = _read_text(file, "policy")
        if len(text) > MAX_POLICY_CHARS:
            raise PolicyTooLarge(
                f"{file} is {len(text):,} characters; the limit is {MAX_POLICY_CHARS:,}. Shorten it.",
                size=len(text),
                limit=MAX_POLICY_CHARS,
            )
        problems = validate_policy(text, kind.value)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise PolicyInvalid(
                f"{file} is not a valid {kind.value} policy ({len(errors)} error(s)).",
                problems=[str(p) if p.severity == "error" else f"warning: {p}" for p in problems],
            )
        result = {"valid": True, "kind": kind.value, "problems": [p.to_dict() for p in problems]}
        if output == OutputFormat.json:
            emit(result, output)
        else:
            emit(
                [p.to_dict() for p in problems],
                output,
                columns=["severity", "path", "message"],
                title=f"{file}: valid {kind.value} policy",
            )
