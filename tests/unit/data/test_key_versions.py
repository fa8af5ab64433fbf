"""A passphrase change writes a new key version beside the old one (write-once storage)."""

from __future__ import annotations

import pytest

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository
from vaultlink.data.repository import key_versions
from vaultlink.errors import PassphraseTooShort, WrongPassphrase

OLD, NEW, NEWER = "correct horse battery staple", "another long passphrase here", "and a third long one!!"


def test_a_new_key_version_opens_the_same_data_and_the_old_one_stays() -> None:
    store = MemoryBlobStore()
    repo = Repository.init(store, OLD, log_n=10)
    original = store.get("keys/key")
    assert repo.add_key(NEW, log_n=10) == "keys/key.2"
    assert repo.add_key(NEWER, log_n=10) == "keys/key.3"
    assert key_versions(store) == ["keys/key.3", "keys/key.2", "keys/key"]
    assert store.get("keys/key") == original  # written beside, never over
    for pw in (OLD, NEW, NEWER):
        assert Repository.open(store, pw).keys.data_key == repo.keys.data_key
    with pytest.raises(WrongPassphrase):
        Repository.open(store, "not any of them at all")
    with pytest.raises(PassphraseTooShort):
        repo.add_key("short")

