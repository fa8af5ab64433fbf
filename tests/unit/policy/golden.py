"""Load the policy golden vectors (tests/golden/policy/*.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "policy"


def load(kind: str) -> list[dict[str, Any]]:
    """All vectors; ``kind`` is "evaluate" or "validate"."""
    out = []
    for path in sorted(GOLDEN.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            is_validate = "expect_errors" in case
            if is_validate == (kind == "validate"):
                out.append(case)
    return out
