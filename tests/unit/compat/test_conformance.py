"""The README's AWS conformance tables are generated (``python -m vaultlink.compat.aws.conformance``) and an
operation is marked implemented only when a boto3 test calls it (and asserts what it did)."""

from __future__ import annotations

import re
from pathlib import Path

from vaultlink.compat.aws.conformance import END, START, snake, tables
from vaultlink.compat.aws.operations import BACKUP, EC2, GATEWAY, STS

ROOT = Path(__file__).resolve().parents[3]
AWS_TESTS = [*ROOT.glob("tests/e2e/test_aws_*.py"), ROOT / "tests/security/test_aws_surface.py"]


def test_the_readme_holds_the_generated_tables() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in text and END in text, "the README lost its AWS conformance markers"
    shown = text[text.index(START): text.index(END) + len(END)]
    assert shown == tables(), "regenerate: python -m vaultlink.compat.aws.conformance (paste between the markers)"


def test_every_implemented_operation_is_called_by_a_boto3_test() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in AWS_TESTS)
    called = set(re.findall(r"\.([a-z_0-9]+)\(", source))
    missing = sorted(n for n in [*BACKUP, *EC2, *STS, *GATEWAY] if snake(n) not in called)
    assert not missing, f"no boto3 test calls {missing}"
