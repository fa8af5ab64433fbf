"""The vault credentials file a machine registers with (``vaultlink vault credentials VAULT -o FILE``): read and
checked before anything is sent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from vaultlink.errors import CredentialsExpired, InvalidInput, NotFound

CREDENTIALS_KIND = "vaultlink-vault-credentials"


def read_credentials(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"vault credentials file {path!r} does not exist.", field="credentials") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"vault credentials file {path!r} is unreadable: {exc}", field="credentials") from None
    if not isinstance(data, dict) or data.get("kind") != CREDENTIALS_KIND:
        raise InvalidInput(
            f"{path!r} is not a vault credentials file; download one with `vaultlink vault credentials VAULT -o FILE`.",
            field="credentials",
        )
    if time.time() > float(data.get("expires", 0)):
        raise CredentialsExpired()
    return data
