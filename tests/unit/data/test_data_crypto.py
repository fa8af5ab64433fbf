from __future__ import annotations

import pytest

from vaultlink.data.crypto import Keys, change_passphrase, create_key_file, open_key_file
from vaultlink.errors import CorruptData, PassphraseTooShort, WrongPassphrase

PASS = "sixteen chars ok"


def test_key_file_roundtrip() -> None:
    data, keys = create_key_file(PASS, log_n=10)
    again = open_key_file(data, PASS)
    assert (again.data_key, again.id_key) == (keys.data_key, keys.id_key)
    assert again.chunker_seed == keys.chunker_seed


def test_short_passphrase_refused() -> None:
    with pytest.raises(PassphraseTooShort) as e:
        create_key_file("fifteen chars!!", log_n=10)
    assert "16" in e.value.message
    data, _ = create_key_file(PASS, log_n=10)
    with pytest.raises(PassphraseTooShort):
        open_key_file(data, "short")


def test_wrong_passphrase() -> None:
    data, _ = create_key_file(PASS, log_n=10)
    with pytest.raises(WrongPassphrase):
        open_key_file(data, PASS + "x")


def test_damaged_key_file_named() -> None:
    data, _ = create_key_file(PASS, log_n=10)
    with pytest.raises(CorruptData, match="keys/key"):
        open_key_file(b"XXXXX" + data[5:], PASS, "keys/key")
    with pytest.raises(CorruptData, match="version"):
        open_key_file(data[:5] + b"\x09" + data[6:], PASS)
    with pytest.raises(CorruptData, match="length"):
        open_key_file(data[:-1], PASS)


def test_change_passphrase_keeps_keys() -> None:
    data, keys = create_key_file(PASS, log_n=10)
    new = change_passphrase(data, PASS, "another long passphrase", log_n=10)
    assert open_key_file(new, "another long passphrase").data_key == keys.data_key
    with pytest.raises(WrongPassphrase):
        open_key_file(new, PASS)


def test_ids_are_keyed_and_seal_binds_aad() -> None:
    a, b = Keys.generate(), Keys.generate()
    assert a.chunk_id(b"x") != b.chunk_id(b"x")
    assert len(a.chunk_id(b"x")) == 32
    sealed = a.seal(b"secret", b"aad1")
    assert a.open(sealed, b"aad1", "obj") == b"secret"
    with pytest.raises(CorruptData, match="obj"):
        a.open(sealed, b"aad2", "obj")
    with pytest.raises(CorruptData):
        b.open(sealed, b"aad1", "obj")
    assert "hidden" in repr(a) and a.data_key.hex() not in repr(a)
