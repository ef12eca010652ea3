"""HTTP routes of the taxonomies: venue types and ad categories, for anyone signed in."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.taxonomy import service

router = APIRouter(prefix="/v1", tags=["taxonomies"])


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


@router.get("/venue-types", response_model=VenueTypePage, summary="OpenOOH venue types")
def venue_types(_: CurrentPrincipal) -> VenueTypePage:
    return VenueTypePage(items=[VenueTypeRead(**vars(v)) for v in
                                service.venue_types().values()])


@router.get("/ad-categories", response_model=AdCategoryPage,
            summary="IAB Ad Product Taxonomy 2.0 categories")
def ad_categories(_: CurrentPrincipal) -> AdCategoryPage:
    return AdCategoryPage(items=[AdCategoryRead(**vars(c)) for c in
                                 service.ad_categories().values()])
