"""Bearer tokens that expire (``key create --arm-token``, the OAuth2 endpoint): refused once expired, also from
the authenticator's cache; a principal's expired tokens are deleted as new ones are issued."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.errors import InvalidInput, TokenExpired
from vaultlink.service.authn import Authenticator
from vaultlink.service.identity import authenticate, bootstrap, create_key


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


def test_tokens_expire_and_are_swept(tmp_path: Path) -> None:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    clock = Clock()
    svc.clock = clock
    boot = bootstrap(svc)
    assert boot is not None
    owner = authenticate(svc, boot[1])
    tok = create_key(svc, owner, None, token_seconds=60)
    assert tok["expires_on"] == int(clock.t + 60) and tok["type"] == "token"
    auth = Authenticator(svc)
    assert auth.authenticate(tok["access_token"]).principal_id == owner.principal_id
    clock.t += 61
    with pytest.raises(TokenExpired):
        auth.authenticate(tok["access_token"])  # the cached caller is not trusted past its end
    create_key(svc, owner, None, token_seconds=60)
    with svc.store.transaction() as txn:
        ids = [k["id"] for k in txn.find("api_key", parent_id=owner.principal_id)]
    assert tok["id"] not in ids, "the expired token was swept"
    for bad in (0, 24 * 3600 + 1):
        with pytest.raises(InvalidInput):
            create_key(svc, owner, None, token_seconds=bad)
    with pytest.raises(InvalidInput):
        create_key(svc, owner, None, aws=True, token_seconds=60)
