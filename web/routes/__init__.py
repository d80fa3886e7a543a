"""One router per resource and dialect. `route_for` finds the route a request is for, also
before Starlette has routed it (for the middleware that must answer first: the body limit, the
auth gate, the error renderer)."""

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def route_for(scope: Scope) -> BaseRoute | None:
    """The route that serves this request, or would: routed already, else matched against the
    routers the app lists in `app.state.routers` (web/main.py)."""
    route: BaseRoute | None = scope.get("route")
    if route is not None or "app" not in scope:
        return route
    routers: Iterable[APIRouter] = getattr(scope["app"].state, "routers", ())
    for router in routers:
        for candidate in router.routes:
            if candidate.matches(scope)[0] != Match.NONE:
                return candidate
    return None


def depends_on(route: BaseRoute, dependency: Callable[..., Any]) -> bool:
    """Whether the route's dependencies include `dependency`, however deep."""
    if not isinstance(route, APIRoute):
        return False
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is dependency:
            return True
        pending.extend(dependant.dependencies)
    return False
