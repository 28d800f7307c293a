"""Route templates taken from the framework, never from the raw path.

Each resolver reads what the framework already stored while routing (no matching is done
again) and caches the template string per route object, so a request costs a dict lookup.

- Starlette / FastAPI: the router puts the matched route in ``scope["route"]`` (the
  innermost one, for mounts) and the top router in ``scope["router"]``. The full template
  (``/api/v1/items/{item_id}``) is found once per route by walking the router's tree of
  ``Mount``/``Host`` routes and FastAPI's included routers.
- Flask: werkzeug keeps the request in ``environ["werkzeug.request"]`` while the request
  context is alive, which includes the moment ``start_response`` is called; its
  ``url_rule.rule`` is the template (``/items/<int:item_id>``).
- Django: the request is not reachable from ``environ``; :func:`install_django_hook` makes
  the handler's request class leave a reference there, and ``resolver_match.route`` is the
  template (``items/<int:item_id>/``, shown with a leading ``/``).

A request no route matched gets :data:`UNMATCHED_ROUTE`.
"""

from __future__ import annotations

import threading
from typing import Any

from mlscope.middleware._metrics import UNMATCHED_ROUTE
from mlscope.types import Environ, Scope

_CACHE_MAX = 10_000
DJANGO_REQUEST_KEY = "mlscope.django_request"


class StarletteRoutes:
    """Full route templates of Starlette routes, found once per route object."""

    def __init__(self) -> None:
        # Keyed by id(): Starlette routes define __eq__ and so are unhashable. The route is
        # kept in the value, which pins the id and lets the lookup check identity.
        self._cache: dict[int, tuple[Any, str]] = {}
        self._lock = threading.Lock()
        # The cache's lookup, for callers that inline the hit path of template():
        # ``found = cached(id(route)); found[1] if found is not None and found[0] is route``.
        self.cached = self._cache.get

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        found = self._cache.get(id(route))
        if found is not None and found[0] is route:
            return found[1]
        made = self._resolve(route, scope.get("router"))
        with self._lock:
            if len(self._cache) < _CACHE_MAX:
                self._cache[id(route)] = (route, made)
        return made

    def _resolve(self, route: Any, router: Any) -> str:
        sub_routes = getattr(route, "routes", None)
        if sub_routes:
            # A Mount/Host with its own routes was the last match: its inner router matched
            # nothing (a 404 inside the mount).
            return UNMATCHED_ROUTE
        own = _own_template(route)
        if router is not None:
            prefix = _find_prefix(getattr(router, "routes", ()), route, "", 0)
            if prefix is not None:
                return prefix + own
        return own


def _own_template(route: Any) -> str:
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    if hasattr(route, "routes"):  # a Mount of a non-router app (StaticFiles, a WSGI app)
        return path + "/{path:path}"
    return path or "/"


def _find_prefix(routes: Any, target: Any, prefix: str, depth: int) -> str | None:
    if depth > 16:  # a cyclic or absurdly deep tree: give up, the route's own path is used
        return None
    for r in routes:
        if r is target:
            return prefix
        contexts = getattr(r, "effective_route_contexts", None)
        if callable(contexts):
            # FastAPI >= 0.16x keeps included routers lazily; each context pairs the
            # original route (what lands in scope["route"]) with its full path.
            for ctx in contexts():
                if getattr(ctx, "original_route", None) is target:
                    full = getattr(ctx, "path", "")
                    own = getattr(target, "path", "")
                    if isinstance(full, str) and isinstance(own, str) and full.endswith(own):
                        return prefix + full[: len(full) - len(own)]
            continue
        sub = getattr(r, "routes", None)
        if sub:
            mount_path = getattr(r, "path", "")  # Host has no path
            found = _find_prefix(sub, target, prefix + (mount_path if isinstance(mount_path, str) else ""),
                                 depth + 1)
            if found is not None:
                return found
    return None


class WSGIRoutes:
    """Route templates of Flask (werkzeug) and Django requests found in ``environ``."""

    def __init__(self) -> None:
        self._django: dict[str, str] = {}

    def template(self, environ: Environ) -> str:
        req = environ.get("werkzeug.request")
        if req is not None:
            rule = getattr(req, "url_rule", None)
            return UNMATCHED_ROUTE if rule is None else str(rule.rule)
        # Taken out of environ: it drops the request <-> environ reference cycle.
        req = environ.pop(DJANGO_REQUEST_KEY, None)
        if req is not None:
            match = getattr(req, "resolver_match", None)
            if match is None:
                return UNMATCHED_ROUTE
            route = match.route
            found = self._django.get(route)
            if found is None:
                found = route if route.startswith("/") else "/" + route
                if len(self._django) < _CACHE_MAX:
                    self._django[route] = found
            return found
        return UNMATCHED_ROUTE


def install_django_hook(app: Any) -> bool:
    """Make a Django ``WSGIHandler`` leave its request in ``environ``; True if installed.

    The handler builds ``self.request_class(environ)``; an instance attribute holding a
    subclass that stores ``self`` under :data:`DJANGO_REQUEST_KEY` changes nothing else.
    """
    if not type(app).__module__.startswith("django.") or not hasattr(app, "request_class"):
        return False
    base = app.request_class
    if getattr(base, "_mlscope_hooked", False):
        return True

    class _Request(base):  # type: ignore[misc, valid-type]
        _mlscope_hooked = True

        def __init__(self, environ: Environ) -> None:
            super().__init__(environ)
            environ[DJANGO_REQUEST_KEY] = self

    _Request.__name__ = base.__name__
    _Request.__qualname__ = base.__qualname__
    app.request_class = _Request
    return True
