"""A topology change never pauses other requests: the view is rebuilt off the event loop, one rebuild
covers a burst of changes, and the change's own caller still waits until its listeners are open."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.fabric import listeners
from vaultlink.fabric.modes import LoopbackMode
from vaultlink.fabric.view import EndpointView, NetworkView
from vaultlink.service.events import EndpointsChanged

BUILD_SECONDS = 0.4


class FakeRuntime:
    def __init__(self) -> None:
        self.port = 8443
        self.listeners: dict[tuple[str, str, int], Any] = {}

    async def add_listener(self, host: str, port: int, domain: str = "", sock: Any = None) -> int:
        self.listeners[(domain, host, port)] = sock
        return port

    async def remove_listener(self, host: str, port: int, domain: str = "") -> None:
        self.listeners.pop((domain, host, port), None)


class FakeMode(LoopbackMode):
    def listen(self, domain: str, ip: str, port: int, kind: str) -> Any:
        return None  # no socket: the fake runtime only records the listener


class FlakyMode(FakeMode):
    """Fails to open a listener on any address in ``failing``; records every address it was asked for."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing
        self.tried: list[str] = []

    def listen(self, domain: str, ip: str, port: int, kind: str) -> Any:
        from vaultlink.errors import ServiceUnavailable

        self.tried.append(ip)
        if ip in self.failing:
            raise ServiceUnavailable(f"{ip} is taken")
        return None


class FakeFabric:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.view = NetworkView()
        self.gateway_ports: dict[int, int] = {21026: 1026}


def _slow_view(builds: list[float], ips: set[str]) -> Any:
    def build(svc: Any, generation: int = 0, memo: Any = None) -> NetworkView:
        builds.append(time.monotonic())
        time.sleep(BUILD_SECONDS)  # a large store: the rebuild takes a while
        eps = {ip: EndpointView(ip, "1", "resource", "v", None, None, "r", "n", frozenset({ip}), "Approved", (), None)
               for ip in ips}
        return NetworkView(endpoints=eps, generation=generation)

    return build


def test_a_rebuild_does_not_pause_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = build_service(load_config(data_dir=str(tmp_path)))
    builds: list[float] = []
    monkeypatch.setattr(listeners, "build_view", _slow_view(builds, {"127.10.0.4"}))
    runtime = FakeRuntime()
    manager = listeners.ListenerManager(runtime, FakeFabric(svc))  # type: ignore[arg-type]
    manager.mode = FakeMode()

    async def main() -> float:
        await manager.start(runtime)
        assert ("", "127.10.0.4", 8443) in runtime.listeners
        worst = 0.0

        async def ticker() -> None:
            nonlocal worst
            last = time.monotonic()
            for _ in range(40):
                await asyncio.sleep(0.01)
                now = time.monotonic()
                worst = max(worst, now - last)
                last = now

        # a change committed by a request thread: that thread waits for the listeners; the loop does not
        done = threading.Event()

        def commit() -> None:
            svc.fire(EndpointsChanged())
            done.set()

        t = threading.Thread(target=commit)
        t.start()
        await ticker()
        await asyncio.to_thread(t.join, 5)
        assert done.is_set()
        return worst

    worst = asyncio.run(main())
    assert len(builds) == 2
    assert worst < BUILD_SECONDS / 2, f"the event loop paused {worst:.3f} s during a rebuild"


def test_a_burst_of_changes_is_one_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = build_service(load_config(data_dir=str(tmp_path)))
    builds: list[float] = []
    monkeypatch.setattr(listeners, "build_view", _slow_view(builds, set()))
    runtime = FakeRuntime()
    manager = listeners.ListenerManager(runtime, FakeFabric(svc))  # type: ignore[arg-type]
    manager.mode = FakeMode()

    async def main() -> None:
        await manager.start(runtime)
        threads = [threading.Thread(target=svc.fire, args=(EndpointsChanged(),)) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            await asyncio.to_thread(th.join, 10)

    asyncio.run(main())
    assert 2 <= len(builds) <= 3, f"{len(builds)} rebuilds for a start and a burst of 8 changes"


def _flaky_manager(svc: Any, build: Any, failing: set[str],
                   monkeypatch: pytest.MonkeyPatch) -> tuple[listeners.ListenerManager, FakeRuntime, FlakyMode]:
    monkeypatch.setattr(listeners, "build_view", build)
    runtime = FakeRuntime()
    manager = listeners.ListenerManager(runtime, FakeFabric(svc))  # type: ignore[arg-type]
    mode = manager.mode = FlakyMode(failing)
    return manager, runtime, mode


def test_the_plan_opens_and_closes_what_changed_and_retries_a_failed_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manager compares the view with what it has open (not with every listener of the process): new
    endpoints and a gateway's extra ports open, gone ones close, and one that failed to open is tried again."""
    svc = build_service(load_config(data_dir=str(tmp_path)))
    endpoints: dict[str, str | None] = {"127.10.0.4": None, "127.10.0.5": "backup-gateway"}

    def build(svc: Any, generation: int = 0, memo: Any = None) -> NetworkView:
        views = {ip: EndpointView(ip, "1", "service" if kind else "resource", None, None, kind, "r", "n",
                                  frozenset({ip}), "Approved", (), None) for ip, kind in endpoints.items()}
        memo.addresses = object()  # as ``build_view`` does when addresses may have moved
        return NetworkView(endpoints=views, generation=generation)

    failing = {"127.10.0.6"}
    manager, runtime, _mode = _flaky_manager(svc, build, failing, monkeypatch)

    async def main() -> None:
        await manager.start(runtime)
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443), ("", "127.10.0.5", 8443),
                                          ("", "127.10.0.5", 21026)}
        endpoints.pop("127.10.0.5")
        endpoints["127.10.0.6"] = None  # cannot open (yet)
        await asyncio.to_thread(svc.fire, EndpointsChanged())
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443)}
        failing.clear()
        await asyncio.to_thread(svc.fire, EndpointsChanged())  # the next change tries it again
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443), ("", "127.10.0.6", 8443)}

    asyncio.run(main())


def test_a_change_that_moves_no_address_plans_nothing_yet_a_failed_open_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vault's change rebuilds the view with the very same address dicts (``build._endpoints``): the plan sees
    that by their identity and compares nothing, unless the last plan had something to do (a failed open)."""
    svc = build_service(load_config(data_dir=str(tmp_path)))
    views = {ip: EndpointView(ip, "1", "resource", None, None, None, "r", "n", frozenset({ip}), "Approved", (), None)
             for ip in ("127.10.0.4", "127.10.0.6")}
    by_ip = {("", ip): v for ip, v in views.items()}

    def build(svc: Any, generation: int = 0, memo: Any = None) -> NetworkView:
        return NetworkView(endpoints=views, generation=generation, prebuilt_by_ip=by_ip, prebuilt_gateways={})

    failing = {"127.10.0.6"}
    manager, runtime, mode = _flaky_manager(svc, build, failing, monkeypatch)
    tried = mode.tried

    async def main() -> None:
        await manager.start(runtime)
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443)} and tried.count("127.10.0.6") == 1
        failing.clear()
        await asyncio.to_thread(svc.fire, EndpointsChanged())  # the same dicts, but the last plan failed: again
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443), ("", "127.10.0.6", 8443)}
        count = len(tried)
        await asyncio.to_thread(svc.fire, EndpointsChanged())  # nothing moved and nothing failed: nothing done
        assert len(tried) == count and manager._settled is not None

    asyncio.run(main())


def test_the_builder_s_addresses_token_is_trusted_and_a_successful_plan_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan compares no address when the builder's ``Memo.addresses`` token is the one the open listeners were
    made for (a connection change: the same addresses, new dicts); a plan that opened everything it asked for
    settles (the next change of no address does nothing), one whose open failed does not."""
    svc = build_service(load_config(data_dir=str(tmp_path)))
    ips = ["127.10.0.4"]
    moved = [True]

    def build(svc: Any, generation: int = 0, memo: Any = None) -> NetworkView:
        views = {ip: EndpointView(ip, "1", "resource", None, None, None, "r", "n", frozenset({ip}), "Approved", (),
                                  None) for ip in ips}
        if moved[0]:
            memo.addresses = object()
        return NetworkView(endpoints=views, generation=generation)

    failing = {"127.10.0.6"}
    manager, runtime, mode = _flaky_manager(svc, build, failing, monkeypatch)

    async def main() -> None:
        await manager.start(runtime)
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443)} and manager._settled is not None
        ips.append("127.10.0.5")
        await asyncio.to_thread(svc.fire, EndpointsChanged())  # a new address: opened, and settled again
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443), ("", "127.10.0.5", 8443)}
        assert manager._settled is not None
        moved[0] = False
        ips.append("127.10.0.7")  # (a builder that kept its token promises no such change: nothing looks)
        await asyncio.to_thread(svc.fire, EndpointsChanged())
        assert set(runtime.listeners) == {("", "127.10.0.4", 8443), ("", "127.10.0.5", 8443)}
        moved[0] = True
        ips[-1] = "127.10.0.6"  # cannot open (yet): not settled, so the next change tries it again
        await asyncio.to_thread(svc.fire, EndpointsChanged())
        assert manager._settled is None and mode.tried.count("127.10.0.6") == 1
        failing.clear()
        moved[0] = False
        await asyncio.to_thread(svc.fire, EndpointsChanged())
        assert ("", "127.10.0.6", 8443) in runtime.listeners and manager._settled is not None

    asyncio.run(main())


def test_one_change_of_addresses_is_planned_from_its_views_and_equals_the_whole_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint created or deleted (``build.Memo.moved``: the views gone and come since the token the open
    listeners were made for): the plan looks at those views only and opens and closes what a comparison of every
    address would; a gateway's extra ports too. Seeded random creates and deletes, a failed open among them."""
    import random

    svc = build_service(load_config(data_dir=str(tmp_path)))
    rnd = random.Random(5)
    live: dict[str, EndpointView] = {}

    def view_of(ip: str, gateway: bool) -> EndpointView:
        kind = "backup-gateway" if gateway else None
        return EndpointView(ip, "1", "service" if gateway else "resource", None, None, kind, "r", "n",
                            frozenset({ip}), "Approved", (), None)

    step: list[tuple[list[EndpointView], list[EndpointView]] | None] = [None]

    def build(svc: Any, generation: int = 0, memo: Any = None) -> NetworkView:
        if step[0] is not None:  # as ``build._endpoints`` does: a new token, and what moved to make it
            before, memo.addresses = memo.addresses, object()
            memo.moved = (before, memo.addresses, *step[0])
        return NetworkView(endpoints=dict(live), generation=generation)

    failing: set[str] = set()
    manager, runtime, _mode = _flaky_manager(svc, build, failing, monkeypatch)
    planned_from_views: list[int] = []
    real_moves = manager._moves

    def moves(*a: Any) -> Any:
        planned_from_views.append(1)
        return real_moves(*a)

    monkeypatch.setattr(manager, "_moves", moves)

    def expected() -> set[tuple[str, str, int]]:
        return {("", ip, 8443) for ip in live} | {("", ip, 21026) for ip, v in live.items()
                                                 if v.service == "backup-gateway"}

    async def main() -> None:
        await manager.start(runtime)
        for n in range(60):
            if live and rnd.random() < 0.4:
                gone = live.pop(rnd.choice(sorted(live)))
                step[0] = ([gone], [])
            else:
                came = view_of(f"127.10.{n // 200}.{n % 200 + 4}", rnd.random() < 0.3)
                live[came.id] = came
                step[0] = ([], [came])
                if n == 30:
                    failing.add(came.id)
            await asyncio.to_thread(svc.fire, EndpointsChanged())
            assert set(runtime.listeners) == expected() - {("", ip, p) for ip in failing for p in (8443, 21026)}, n
            if failing:  # not settled: the next plan compares everything, and opens it
                failing.clear()
                step[0] = None
                await asyncio.to_thread(svc.fire, EndpointsChanged())
                assert set(runtime.listeners) == expected()
        assert len(planned_from_views) == 60  # every change but the retry (which compares everything)

    asyncio.run(main())
