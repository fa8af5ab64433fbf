"""A config that needs the S3 client (the ``s3`` extra) is refused with the command that installs it."""

from __future__ import annotations

import sys

import pytest

from vaultlink.adapters.open import open_blobs
from vaultlink.errors import InvalidInput, ServiceUnavailable


def test_an_s3_blob_url_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as on a plain `pip install .`
    with pytest.raises(ServiceUnavailable) as exc:
        open_blobs("s3://backups/prod?endpoint=http://127.0.0.1:9")
    assert "pip install 'vaultlink[s3]'" in exc.value.message


def test_an_s3_blob_url_needs_a_bucket() -> None:
    with pytest.raises(InvalidInput):
        open_blobs("s3:///prefix?endpoint=http://127.0.0.1:9")
