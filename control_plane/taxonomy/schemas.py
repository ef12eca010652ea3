"""Wire shapes of the taxonomies: OpenOOH venue types and IAB ad categories, with their source."""

from __future__ import annotations

from pydantic import BaseModel


class VenueTypeRead(BaseModel):
    id: int
    name: str
    string_value: str
    parent_id: int | None
    description: str


class AdCategoryRead(BaseModel):
    id: str
    name: str
    parent_id: str | None
    tier1: str


class VenueTypePage(BaseModel):
    source: str = "OpenOOH Venue Taxonomy 1.1 (Apache-2.0)"
    items: list[VenueTypeRead]


class AdCategoryPage(BaseModel):
    source: str = "IAB Tech Lab Ad Product Taxonomy 2.0 (CC BY 3.0)"
    items: list[AdCategoryRead]
