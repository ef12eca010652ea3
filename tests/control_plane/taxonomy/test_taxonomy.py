"""The taxonomies shipped as package data: complete, well-formed trees, and ancestry rules."""

from __future__ import annotations

from importlib import resources

import pytest

from control_plane.errors import Invalid
from control_plane.taxonomy import service


def test_the_notices_ship_with_the_data():
    data = resources.files("control_plane").joinpath("data")
    assert "Apache" in data.joinpath("openooh", "LICENSE").read_text()
    assert "OpenOOH" in data.joinpath("openooh", "NOTICE").read_text()
    assert "Creative Commons Attribution 3.0" in data.joinpath("iab", "NOTICE").read_text()


def test_trees_are_whole():
    types, categories = service.venue_types(), service.ad_categories()
    assert all(t.parent_id is None or t.parent_id in types for t in types.values())
    assert all(c.parent_id is None or c.parent_id in categories for c in categories.values())
    assert all(c.parent_id != c.id for c in categories.values())
    assert {t.id for t in types.values() if t.parent_id is None} >= {1}


def test_targeting_a_parent_venue_type_matches_its_descendants():
    tree = service.venue_tree()
    assert tree.is_within(10101, 101) and tree.is_within(10101, 1)  # grandchild of transit
    assert tree.is_within(101, 101)
    assert not tree.is_within(1, 101)
    assert 10101 in tree.descendants(1)


def test_blocking_a_category_blocks_its_descendants():
    assert service.is_blocked("1003", ["1002"])  # Bars, under Alcohol
    assert service.is_blocked("1002", ["1002"])
    assert not service.is_blocked("1002", ["1003"])  # blocking a child leaves the parent
    assert not service.is_blocked("1037", ["1002"])


def test_unknown_ids_are_refused_with_their_codes():
    with pytest.raises(Invalid) as exc:
        service.check_venue_type(424242)
    assert exc.value.code == "unknown_venue_type"
    with pytest.raises(Invalid) as exc:
        service.check_categories(["1002", "x"])
    assert exc.value.code == "unknown_category" and exc.value.details == {"unknown": ["x"]}
    assert service.check_categories(["1002", "1002", "1003"]) == ["1002", "1003"]
