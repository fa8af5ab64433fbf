"""The two-step replacement of a credential (``domain/rotation.py``): which hash a credential is, how long a
replaced one works, and the next one's first use."""

from __future__ import annotations

from vaultlink.domain import rotation as R


def test_a_next_credential_becomes_current_at_its_first_use_and_the_old_one_ends_after_the_grace() -> None:
    rec = {"secret_hash": "a" * 64, R.NEXT: "b" * 64}
    assert R.which(rec, "a" * 64, "secret_hash") == "secret_hash"
    assert R.which(rec, "b" * 64, "secret_hash") == R.NEXT
    assert R.which(rec, "c" * 64, "secret_hash") is None
    assert R.which({"secret_hash": "", R.NEXT: None}, "", "secret_hash") is None, "an empty hash matches nothing"
    R.promote(rec, "secret_hash", 1000.0)
    assert rec == {"secret_hash": "b" * 64, R.NEXT: None, R.RETIRED: "a" * 64, "rotated": 1000.0}
    assert R.which(rec, "a" * 64, "secret_hash") == R.RETIRED
    assert R.works_until(rec, "secret_hash", 5e9) == 0.0
    assert R.works_until(rec, R.RETIRED, 1000.0 + R.GRACE - 1) == 1000.0 + R.GRACE
    assert R.works_until(rec, R.RETIRED, 1000.0 + R.GRACE) is None
