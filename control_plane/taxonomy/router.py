"""HTTP routes of the taxonomies: venue types and ad categories, for anyone signed in."""

from __future__ import annotations

from fastapi import APIRouter

from control_plane.auth.dependencies import CurrentPrincipal
from control_plane.taxonomy import service
from control_plane.taxonomy.schemas import (
    AdCategoryPage,
    AdCategoryRead,
    VenueTypePage,
    VenueTypeRead,
)

router = APIRouter(prefix="/v1", tags=["taxonomies"])


@router.get("/venue-types", response_model=VenueTypePage, summary="OpenOOH venue types")
def venue_types(_: CurrentPrincipal) -> VenueTypePage:
    return VenueTypePage(items=[VenueTypeRead(**vars(v)) for v in
                                service.venue_types().values()])


@router.get("/ad-categories", response_model=AdCategoryPage,
            summary="IAB Ad Product Taxonomy 2.0 categories")
def ad_categories(_: CurrentPrincipal) -> AdCategoryPage:
    return AdCategoryPage(items=[AdCategoryRead(**vars(c)) for c in
                                 service.ad_categories().values()])
