"""A machine's container credential is replaced without a window where the machine holds none that works: the service
issues the next one beside the current one, the agent saves it before it first uses it, and that first use ends the
old one. A copy of the old credential (someone who read the state directory, or a backup of it) stops working at a
rotation (``vaultlink agent rotate-credential``) or a re-registration, with a message that says so; an ``agent run``
daemon takes up the rotated credential from its state directory. Before, a re-registration replaced the credential
at once, so an agent killed before it saved the new one was locked out for good (its re-registration needs the
previous credential), and a machine had no way to end a copied credential but a new vault credentials file."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from dp_helpers import registered
from dp_world import PASS, DataPlane

from vaultlink.agent import worker
from vaultlink.agent.session import Agent, register
from vaultlink.agent.state import exclusive, load_state
from vaultlink.domain import rotation
from vaultlink.errors import BackupInProgress, InvalidApiKey
from vaultlink.service.dataplane import manage
from vaultlink.service.events import ContainersChanged, KeysChanged


def _copy(dp: DataPlane, state: Path, to: Path) -> Agent:
    shutil.copytree(state, to)
    return Agent(load_state(to), dp.resolver, retry_for=2.0)


def test_a_rotation_ends_a_copied_credential_and_the_daemon_takes_up_the_new_one(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "s"
    vm = registered(dp, state)
    thief = _copy(dp, state, tmp_path / "copy")
    daemon = Agent(load_state(state), dp.resolver, retry_for=2.0, state_dir=state)  # another process of the machine
    assert thief._call("GET", "/containers/self")["id"] == vm.state.container_id
    old = vm.state.credential

    fired: list[object] = []
    for kind in (ContainersChanged, KeysChanged):
        dp.svc.on(kind, fired.append)
    out = vm.rotate_credential(state)
    assert out["container"] == vm.state.container_id and out["rotated"]
    assert [type(e) for e in fired] == [KeysChanged], "a rotation rebuilds no machine's DNS record, and empties "\
        "the credential caches once (at the new one's first use)"
    assert load_state(state).credential == vm.state.credential != old, "saved in the state directory"
    assert thief._call("GET", "/containers/self")["id"], "within the grace: requests already on their way"
    monkeypatch.setattr(rotation, "GRACE", 0.0)
    with pytest.raises(InvalidApiKey, match="replaced by a newer one"):
        thief._call("GET", "/containers/self")
    assert vm.backup([str(tmp_path / "s")], PASS, None)["recovery_point"]["id"]

    log: list[dict] = []  # type: ignore[type-arg]
    assert worker.run(daemon, PASS, state, 0.01, True, threading.Event(), log.append) == 0
    assert daemon.state.credential == vm.state.credential and log == [], "it took up the new one, and polled"

    listed = manage.list_containers(dp.svc, dp.owner, dp.vault["name"])
    assert not any(k.endswith("_hash") for c in listed for k in c), "no credential hash is shown"
    with exclusive(state, "backup"), pytest.raises(BackupInProgress):  # a backup of the machine is running
        vm.rotate_credential(state)


def test_an_agent_killed_before_it_saved_its_new_credential_keeps_the_old_one(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rotation, "GRACE", 0.0)
    state = tmp_path / "s"
    vm = registered(dp, state)
    st = vm.state
    lost = vm._call("POST", "/containers/register", {"hostname": st.hostname})["credential"]  # never saved
    assert vm._call("GET", "/containers/self")["id"] == st.container_id, "the old one still works"
    before = _copy(dp, state, tmp_path / "before")

    register(dp.credentials(), "127.0.0.1", "127.0.0.1:53", state, PASS, st.hostname, resolver=dp.resolver)
    again = Agent(load_state(state), dp.resolver, retry_for=2.0)
    assert again.state.credential not in (st.credential, lost)
    assert again._call("GET", "/containers/self")["id"] == st.container_id
    for gone in (before, Agent(load_state(state), dp.resolver, retry_for=2.0)):
        if gone is not before:
            gone.state.credential = gone.http.token = lost
        with pytest.raises(InvalidApiKey):
            gone._call("GET", "/containers/self")


def test_a_machine_takes_its_identity_back_from_a_copy_that_rotated_first(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone with a copy rotates first: the machine's agent is refused (the message says a copy is in use); a new
    vault credentials file and the credential the machine still holds register it again as the same machine, and
    the copy's rotated credential ends. The replaced credential alone (no vault credentials file) cannot."""
    monkeypatch.setattr(rotation, "GRACE", 0.0)
    state = tmp_path / "s"
    vm = registered(dp, state)
    rp = vm.backup([str(tmp_path / "s")], PASS, None)["recovery_point"]["id"]
    thief = _copy(dp, state, tmp_path / "copy")
    thief.rotate_credential(tmp_path / "copy")
    with pytest.raises(InvalidApiKey, match="a copy of this credential is in use"):
        vm._call("GET", "/containers/self")
    with pytest.raises(InvalidApiKey):  # the replaced credential is no proof by itself
        vm._call("POST", "/containers/register", {"hostname": "vm1", "container_id": vm.state.container_id,
                                                  "container_token": vm.state.credential})

    register(dp.credentials(), "127.0.0.1", "127.0.0.1:53", state, PASS, "vm1", resolver=dp.resolver)
    back = Agent(load_state(state), dp.resolver, retry_for=2.0)
    assert back.state.container_id == vm.state.container_id
    assert [p["id"] for p in back.recovery_points()] == [rp], "the same machine, its points"
    with pytest.raises(InvalidApiKey):
        thief._call("GET", "/containers/self")


def test_the_daemon_rotates_a_day_old_credential_between_jobs(dp: DataPlane, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``agent run`` replaces a credential older than ``--rotate-credential-hours`` by itself (a copy then works a
    day at most), not while a backup of the machine runs in another process (tried again at its next turn), and
    the machine's other agent processes go on with the new one."""
    monkeypatch.setattr(rotation, "GRACE", 0.0)
    state = tmp_path / "s"
    registered(dp, state)
    daemon = Agent(load_state(state), dp.resolver, retry_for=2.0, state_dir=state)
    other = Agent(load_state(state), dp.resolver, retry_for=2.0, state_dir=state)
    thief = _copy(dp, state, tmp_path / "copy")
    log: list[dict] = []  # type: ignore[type-arg]
    worker.run(daemon, PASS, state, 0.01, True, threading.Event(), log.append, rotate_every=86400.0)
    assert log == [] and daemon.state.credential == thief.state.credential, "a fresh credential is kept"

    daemon.state.credential_issued -= 86400.0
    with exclusive(state, "backup"):
        worker.run(daemon, PASS, state, 0.01, True, threading.Event(), log.append, rotate_every=86400.0)
    assert log[0]["status"] == "Failed" and log[0]["error"] == "BackupInProgress"
    worker.run(daemon, PASS, state, 0.01, True, threading.Event(), log.append, rotate_every=86400.0)
    assert log[1]["status"] == "Rotated" and load_state(state).credential == daemon.state.credential
    assert other.recovery_points() == [] and other.state.credential == daemon.state.credential
    with pytest.raises(InvalidApiKey):
        thief.recovery_points()


def test_a_rotation_that_cannot_save_the_new_credential_keeps_the_old_one(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from vaultlink.agent import credential
    from vaultlink.errors import LocalIOError

    monkeypatch.setattr(rotation, "GRACE", 0.0)
    state = tmp_path / "s"
    vm = registered(dp, state)
    old = vm.state.credential

    def full(*_a: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(state / "state.json"))

    with monkeypatch.context() as m:
        m.setattr(credential, "save_state", full)
        with pytest.raises(LocalIOError, match="No space left"):
            vm.rotate_credential(state)
    assert vm.state.credential == old == load_state(state).credential
    assert vm._call("GET", "/containers/self")["id"], "the old one still works"
    vm.rotate_credential(state)
    assert load_state(state).credential == vm.state.credential != old
