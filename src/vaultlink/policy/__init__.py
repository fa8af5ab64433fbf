"""vaultlink.policy: IAM-style policy documents and their evaluator (pure, no I/O).

Compile once, evaluate many times::

    from vaultlink.policy import Request, compile_policy, evaluate

    ep = compile_policy(doc, "endpoint")
    d = evaluate(Request(arn, account, "backup:StartBackupJob", vault_arn, ctx), endpoint_policy=ep)
    d.decision  # "allow" | "explicit_deny" | "implicit_deny"
"""

from __future__ import annotations

from typing import Any

from vaultlink.policy.context import EndpointInfo, build_context, build_request
from vaultlink.policy.document import CompiledPolicy, PolicyKind, compile_policy, validate_policy
from vaultlink.policy.evaluate import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Decision,
    Request,
    evaluate,
    evaluate_one,
)
from vaultlink.policy.load import MAX_POLICY_CHARS, Problem

DEFAULT_ENDPOINT_POLICY: dict[str, Any] = {
    "Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]
}

__all__ = [
    "ALLOW",
    "DEFAULT_ENDPOINT_POLICY",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "MAX_POLICY_CHARS",
    "CompiledPolicy",
    "Decision",
    "EndpointInfo",
    "PolicyKind",
    "Problem",
    "Request",
    "build_context",
    "build_request",
    "compile_policy",
    "evaluate",
    "evaluate_one",
    "validate_policy",
]
