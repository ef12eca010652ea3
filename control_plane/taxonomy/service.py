"""Loading the taxonomies shipped as package data, and asking them about ancestry.

Venue types are the OpenOOH Venue Taxonomy (integer `enumeration_id`s, three levels; a screen's
type may be a child or grandchild, and targeting a parent matches its descendants). Ad
categories are the IAB Ad Product Taxonomy 2.0 (string ids, up to three tiers; blocking a
category blocks its descendants). A few IAB rows name themselves as their parent; their parent is
then read from the tier columns.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Generic, TypeVar

from control_plane.errors import Invalid

K = TypeVar("K", int, str)


@dataclass(frozen=True)
class VenueType:
    """One OpenOOH venue type."""

    id: int
    name: str
    string_value: str
    parent_id: int | None
    description: str


@dataclass(frozen=True)
class AdCategory:
    """One IAB Ad Product Taxonomy 2.0 category."""

    id: str
    name: str
    parent_id: str | None
    tier1: str


@dataclass(frozen=True)
class Tree(Generic[K]):
    """Nodes by id with their children, for ancestry questions."""

    parents: dict[K, K | None]

    def ancestors(self, node: K) -> list[K]:
        """The node's ancestors, nearest first."""
        found: list[K] = []
        parent = self.parents.get(node)
        while parent is not None and parent not in found:
            found.append(parent)
            parent = self.parents.get(parent)
        return found

    def is_within(self, node: K, ancestor: K) -> bool:
        """Whether `node` is `ancestor` or one of its descendants."""
        return node == ancestor or ancestor in self.ancestors(node)

    def descendants(self, node: K) -> set[K]:
        """Every node below `node` (not the node itself)."""
        return {n for n in self.parents if n != node and node in self.ancestors(n)}


def _data(*parts: str) -> Any:
    return resources.files("control_plane").joinpath("data", *parts)


@lru_cache(maxsize=1)
def venue_types() -> dict[int, VenueType]:
    """The OpenOOH venue types by enumeration id."""
    spec = json.loads(_data("openooh", "specification-1.1.json").read_text())
    found: dict[int, VenueType] = {}

    def walk(nodes: list[dict[str, Any]], parent: int | None) -> None:
        for node in nodes:
            vt = VenueType(int(node["enumeration_id"]), node["name"], node["string_value"],
                           parent, node.get("description", ""))
            found[vt.id] = vt
            walk(node.get("children", []), vt.id)

    walk(spec["openooh_venue_taxonomy"]["specification"]["categories"], None)
    return found


@lru_cache(maxsize=1)
def ad_categories() -> dict[str, AdCategory]:
    """The IAB Ad Product Taxonomy 2.0 categories by unique id."""
    with _data("iab", "ad-product-taxonomy-2.0.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("Unique ID")]
    by_tiers = {(r["Tier 1"].strip(), r["Tier 2"].strip(), r["Tier 3"].strip()): r["Unique ID"]
                for r in rows}
    found: dict[str, AdCategory] = {}
    for r in rows:
        uid, parent = r["Unique ID"].strip(), (r["Parent ID"] or "").strip()
        t1, t2, t3 = r["Tier 1"].strip(), r["Tier 2"].strip(), r["Tier 3"].strip()
        if not parent or parent == uid:
            parent = (by_tiers.get((t1, t2, "")) if t3 else
                      by_tiers.get((t1, "", "")) if t2 else None) or ""
        found[uid] = AdCategory(uid, r["Name"].strip(), parent or None, t1)
    return found


@lru_cache(maxsize=1)
def venue_tree() -> Tree[int]:
    """Ancestry of the venue types."""
    return Tree({vt.id: vt.parent_id for vt in venue_types().values()})


@lru_cache(maxsize=1)
def category_tree() -> Tree[str]:
    """Ancestry of the ad categories."""
    return Tree({c.id: c.parent_id for c in ad_categories().values()})


def check_venue_type(venue_type_id: int) -> int:
    """`venue_type_id` if it is an OpenOOH enumeration id; `Invalid` otherwise."""
    if venue_type_id not in venue_types():
        raise Invalid(f"{venue_type_id} is not an OpenOOH venue type id; see GET /v1/venue-types",
                      code="unknown_venue_type", details={"venue_type_id": venue_type_id})
    return venue_type_id


def check_categories(category_ids: list[str]) -> list[str]:
    """The ids, deduplicated in order, if all are IAB Ad Product 2.0 ids; `Invalid` otherwise."""
    unknown = [c for c in category_ids if c not in ad_categories()]
    if unknown:
        raise Invalid("unknown IAB Ad Product Taxonomy 2.0 ids; see GET /v1/ad-categories",
                      code="unknown_category", details={"unknown": unknown})
    return list(dict.fromkeys(category_ids))


def is_blocked(category_id: str, blocked: list[str]) -> bool:
    """Whether a category is blocked by a list (blocking a category blocks its descendants)."""
    tree = category_tree()
    return any(tree.is_within(category_id, b) for b in blocked)
