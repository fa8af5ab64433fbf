"""Routes grouped by their first path segment (``fabric/routes.py``): the same first match as a walk over all
of them in order."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from vaultlink.fabric.routes import BySegment, first_segment

TEMPLATES = ["/", "/packs/{h}", "/{any}/x", "/packs/list", "/index/{h}", "/{bucket}", "/v1/vaults/{ref}", "/v1/{x}/y"]


def regex(t: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$")


def first_match(routes: tuple[str, ...] | list[str], path: str) -> str | None:
    return next((t for t in routes if regex(t).match(path)), None)


def test_first_segment() -> None:
    assert [first_segment(p) for p in ("/", "/v1/vaults/x", "/packs", "rel/x", "")] == ["", "v1", "packs", "rel", ""]


@given(st.lists(st.sampled_from(["", "packs", "list", "index", "v1", "vaults", "x", "y", "ab"]), max_size=4))
def test_candidates_give_the_same_first_match_as_every_route_in_order(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    table = BySegment([(first_segment(t), t) for t in TEMPLATES])
    assert first_match(table.candidates(path), path) == first_match(TEMPLATES, path)


def test_a_parameter_first_route_keeps_its_place_among_literal_ones() -> None:
    table = BySegment([(first_segment(t), t) for t in TEMPLATES])
    assert table.candidates("/packs/abc") == ("/packs/{h}", "/{any}/x", "/packs/list", "/{bucket}")
    assert table.candidates("/nothing-literal") == ("/{any}/x", "/{bucket}")
