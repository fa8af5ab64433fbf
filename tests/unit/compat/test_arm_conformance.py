"""The README's Azure conformance table is generated (``python -m tests.arm_conformance``) and an operation is
marked implemented only when an azure-mgmt test calls it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.arm_conformance import END, START, operations, tables

ROOT = Path(__file__).resolve().parents[3]


def test_the_readme_holds_the_generated_table() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in text and END in text, "the README lost its Azure conformance markers"
    assert text[text.index(START): text.index(END) + len(END)] == tables(), \
        "regenerate: python -m tests.arm_conformance (paste between the markers)"


def test_every_implemented_operation_is_called_by_an_sdk_test() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("tests/e2e/test_azure_arm*.py"))
    missing = [f"{g}.{m}" for _p, g, m, done in operations()
               if done and not re.search(rf"\.{g}\.{m}\(", source)]
    assert not missing, f"no azure-mgmt test calls {missing}"
