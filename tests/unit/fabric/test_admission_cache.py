"""The admission cache's own rules: remembered per view and generation, never across a change, bounded."""

from __future__ import annotations

from vaultlink.fabric.admission import AdmissionCache, Admitted, admission_key
from vaultlink.fabric.checks import Facts


def facts(headers: list[tuple[bytes, bytes]], path: str = "/") -> Facts:
    return Facts("GET", path, headers, "127.10.1.4", "127.10.1.10", "v.privatelink.backup", 1.0, "", True, 443)


def test_the_key_is_what_the_checks_read() -> None:
    a = admission_key(facts([(b"authorization", b"Bearer vlk_a"), (b"user-agent", b"x/1")]))
    assert a == admission_key(facts([(b"authorization", b"Bearer vlk_a"), (b"user-agent", b"y/2")]))
    assert a != admission_key(facts([(b"authorization", b"Bearer vlk_b")]))
    assert a != admission_key(facts([(b"authorization", b"Bearer vlk_a"), (b"x-api-key", b"vlk_b")]))
    assert a != admission_key(facts([(b"authorization", b"Bearer vlk_a"), (b"x-vaultlink-container", b"c-2")]))
    assert a != admission_key(facts([(b"authorization", b"Bearer vlk_a")], path="/other"))
    assert a != admission_key(facts([(b"Authorization", b"Bearer vlk_a")]))  # the very bytes, any case


def test_remembered_until_the_view_or_the_generation_changes() -> None:
    gen = [0]
    cache = AdmissionCache(lambda: gen[0], limit=3)
    view, other = object(), object()
    adm = Admitted(None, None, {})
    hit, g = cache.lookup(view, ("k",))
    assert hit is None
    cache.put(view, g, ("k",), adm)
    assert cache.lookup(view, ("k",))[0] is adm
    assert cache.lookup(other, ("k",))[0] is None  # a new view: nothing remembered
    _, g = cache.lookup(view, ("k",))
    cache.put(view, g, ("k",), adm)
    gen[0] += 1  # a change while the request was checked: its answer is not kept
    cache.put(view, g, ("j",), adm)
    assert cache.lookup(view, ("k",))[0] is None and cache.lookup(view, ("j",))[0] is None
    _, g = cache.lookup(view, ("k",))
    for i in range(5):
        cache.put(view, g, (i,), adm)
    assert len(cache) <= 3
