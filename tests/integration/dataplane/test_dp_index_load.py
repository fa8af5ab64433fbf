"""An agent's index load through the backup service: binary when asked for (``index_wire``), the same packs and
entries as the JSON answer, and the agent's loaded index finds every chunk of the backup."""

from __future__ import annotations

import base64
from pathlib import Path

from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.agent.remote import RemoteBlobStore, RemoteChunkIndex
from vaultlink.index_wire import INDEX_MEDIA, decode_index
from vaultlink.ports import CHUNK_RECORD


def test_the_index_is_answered_in_binary_when_asked_and_matches_the_json(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    agent.backup([str(make_tree(tmp_path / "src"))], PASS)
    host = agent.state.backup_service
    binary = agent.http.request(host, "GET", "/chunks", headers={"accept": INDEX_MEDIA})
    assert binary.headers["content-type"] == INDEX_MEDIA
    as_json = agent.http.request(host, "GET", "/chunks")
    assert as_json.headers["content-type"] == "application/json"
    want = [(p["storage_account"], p["pack"], base64.b64decode(p["entries"])) for p in as_json.json()["packs"]]
    assert want and list(decode_index(binary.content)) == want
    assert len(binary.content) < len(as_json.content)

    state = agent.state
    store = RemoteBlobStore(agent.http, state.domain, state.storage_accounts, state.write_account,
                            state.storage_suffix)
    index = RemoteChunkIndex(agent.http, host, store)
    ids = [cid for _a, _p, records in want for cid, _o, _n in CHUNK_RECORD.iter_unpack(records)]
    assert index.load() == len(set(ids))
    assert index.have(ids) == set(ids) and index.packs() == {p for _a, p, _r in want}
