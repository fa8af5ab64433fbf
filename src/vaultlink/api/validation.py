"""A request body's validation problems (pydantic's error list) as the one stable error they amount to: the
management API's FastAPI bodies (``api/app.py``) and the data-plane apps' bodies (``api/data_kit.py``) alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vaultlink.errors import InvalidInput, InvalidType, MalformedJSON, MissingField, VaultlinkError


def validation_problem(errors: Sequence[Mapping[str, Any]], where: str = "") -> VaultlinkError:
    """The first problem of ``errors`` with its field; ``where`` points at the schema (e.g. " (see
    /v1/openapi.json)") in the message for an unknown field."""
    first: Mapping[str, Any] = errors[0] if errors else {}
    loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
    field = ".".join(loc) or None
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return MalformedJSON(
            f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')}); "
            "send a JSON object."
        )
    if kind == "missing":
        return MissingField(f"{field} is required; add it to the request.", field=field)
    if kind == "extra_forbidden":
        return InvalidInput(f"{field} is not a known field; remove it{where}.", field=field)
    if kind in ("model_type", "model_attributes_type", "dict_type") and not loc:
        return InvalidType("the request body must be a JSON object.", field="body")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return InvalidType(f"{field}: {first.get('msg', 'wrong type')}.", field=field)
    return InvalidInput(f"{field}: {first.get('msg', 'invalid value')}.", field=field)
