"""Key version names (``data/key_names.py``), and a repository found by any of its versions: ``keys/key`` itself
may be retired (hidden by the service), and a store that still holds a later version is no place for a new
repository."""

from __future__ import annotations

import pytest

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository
from vaultlink.data.key_names import key_version, newest_first
from vaultlink.data.repository import has_keys
from vaultlink.errors import AlreadyExists

PASS = "a passphrase of sixteen+"


def test_versions_are_read_from_the_names_only() -> None:
    assert [key_version(n) for n in ("keys/key", "keys/key.2", "keys/key.10", "keys/key.", "keys/key.x",
                                     "keys/key.\uff15", "keys/key.123456789", "keys/other", "packs/key")] == [
        1, 2, 10, 0, 0, 0, 0, 0, 0]
    assert newest_first(["keys/key", "keys/key.10", "keys/junk", "keys/key.2"]) == [
        "keys/key.10", "keys/key.2", "keys/key"]


def test_a_repository_whose_first_version_is_hidden_is_still_one() -> None:
    store = MemoryBlobStore()
    repo = Repository.init(store, PASS, log_n=10)
    repo.add_key("another passphrase, sixteen+", log_n=10)
    repo.close()
    store.delete("keys/key")  # as a retired version looks to the agent: not listed, not readable
    assert has_keys(store)
    with pytest.raises(AlreadyExists):
        Repository.init(store, PASS, log_n=10)
    Repository.open(store, "another passphrase, sixteen+").close()
