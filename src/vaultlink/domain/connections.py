"""A private endpoint's connection to its vault: statuses, the allowed transitions, and the rule that a
Disconnected endpoint can only be deleted (pure)."""

from __future__ import annotations

from vaultlink.domain.records import Connection, EndpointRecord
from vaultlink.errors import EndpointDisconnected, InvalidConnectionTransition

# connection statuses
PENDING, APPROVED, REJECTED, DISCONNECTED = "Pending", "Approved", "Rejected", "Disconnected"
_TRANSITIONS: dict[tuple[str, str], str] = {
    (PENDING, "approve"): APPROVED,
    (PENDING, "reject"): REJECTED,
    (APPROVED, "reject"): REJECTED,
    (PENDING, "remove"): DISCONNECTED,
    (APPROVED, "remove"): DISCONNECTED,
    (REJECTED, "remove"): DISCONNECTED,
}
_ACTIONS_REQUIRED = {
    PENDING: "The vault owner must approve the connection (`vaultlink endpoint connection approve`).",
    APPROVED: "None",
    REJECTED: "None; the endpoint carries no traffic. Delete it, or create a new one for approval.",
    DISCONNECTED: "Delete the endpoint (`vaultlink endpoint delete`); it carries no traffic.",
}


def new_connection(auto_approved: bool, message: str = "") -> Connection:
    if auto_approved:
        return connection(APPROVED, message or "Auto-approved: created by a principal allowed to approve.")
    return connection(PENDING, message or "Awaiting approval by the vault owner.")


def connection(status: str, description: str) -> Connection:
    return {"status": status, "description": description, "actions_required": _ACTIONS_REQUIRED[status]}


def transition(current: Connection, action: str, description: str) -> Connection:
    """The connection after ``action`` (approve | reject | remove); InvalidConnectionTransition if not allowed."""
    status = current["status"]
    new = _TRANSITIONS.get((status, action))
    if new is None:
        allowed = sorted(a for (s, a) in _TRANSITIONS if s == status)
        hint = f"from {status} you can: {', '.join(allowed)}" if allowed else f"a {status} connection cannot change"
        raise InvalidConnectionTransition(
            f"cannot {action} a {status} connection; {hint}.", field="action", status=status
        )
    default = {
        "approve": "Approved by the vault owner.",
        "reject": "Rejected by the vault owner.",
        "remove": "Removed by the vault owner.",
    }[action]
    return connection(new, description or default)


def ensure_live(endpoint: EndpointRecord) -> None:
    """Disconnected endpoints can only be deleted."""
    if endpoint["connection"]["status"] == DISCONNECTED:
        raise EndpointDisconnected(
            f"endpoint {endpoint['name']} is Disconnected (its connection was removed by the vault owner); "
            f"it can only be deleted: `vaultlink endpoint delete {endpoint['name']}`.",
            field="endpoint",
        )

