"""Reads of the people-facing API accept only the query parameters they declare.

A misspelt or outdated filter (`?status=` where the field is `state`) used to be ignored, so the
answer silently widened to everything. A GET that carries a parameter its route does not declare
now answers 422 `unknown_parameter`, naming it. The names allowed are read from the route's own
signature (its FastAPI dependant tree), so `from`/`to`/`group_by`/`after`/`limit` keep working
where they are declared and no list is kept by hand. `app.py` attaches this to the people-facing
routers; the device API is left out on purpose: its readers ignore what they do not know, so an
agent and a server can be upgraded in either order (DESIGN.md, the device protocol).
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from pydantic import BaseModel

from control_plane.errors import Invalid

READS = frozenset({"GET", "HEAD"})


class UnknownParameter(Invalid):
    code = "unknown_parameter"


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) a route and its dependencies declare."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a Query() model
                names.update(f.alias or n for n, f in model.model_fields.items())
            else:
                names.add(field.alias)
        stack.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query(request: Request) -> None:
    """422 `unknown_parameter` when a read carries a query parameter its route does not take."""
    # async: it only reads the scope, so it runs on the loop instead of costing a thread hop
    if request.method not in READS or not request.url.query:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = declared_query_names(route.dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        listed = ", ".join(f"`{name}`" for name in unknown)
        takes = ", ".join(f"`{name}`" for name in sorted(allowed)) or "no query parameters"
        raise UnknownParameter(f"unknown query parameter {listed}; this endpoint takes {takes}",
                               details={"parameters": unknown, "allowed": sorted(allowed)})


STRICT_QUERY: list[DependsParam] = [Depends(reject_unknown_query)]
