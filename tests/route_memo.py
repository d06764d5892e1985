"""Test-only: each included route's handler built once per test process, not once per app.

FastAPI (0.165) builds an included route's handler (its dependant, and a pydantic adapter for
every parameter) for each app, on the app's first request: 0.2-0.45 s of CPU for Beacon's ~160
routes, paid by nearly every test, since each builds its own app (``tests/conftest.py``). The
routers are module-level objects, so two apps differ only in what their inclusion says (prefix,
dependencies, body and form limits...). This memo keys the built route on the route and on all
of that, and reuses it in every app whose inclusion says the same.

What it leaves out of the key is the app itself (FastAPI's ``dependency_overrides_provider``),
whose only use is ``app.dependency_overrides``, read at each request: a shared route is built
for no app (its overrides always empty), so no app's overrides reach another's requests and
no app is kept alive by the memo. An app with overrides set before its first request has its
routes built for it alone; overrides set later are not seen (set them before that request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from types import MappingProxyType, SimpleNamespace
from typing import Any

from fastapi import routing

_from_api_route = routing._EffectiveRouteContext.from_api_route.__func__  # type: ignore[attr-defined]
_built: dict[Hashable, tuple[object, Any]] = {}
_PROVIDER = "dependency_overrides_provider"
# What a shared route reads overrides from, whatever app it serves: none.
_NO_APP = SimpleNamespace(dependency_overrides=MappingProxyType({}))


def _frozen(value: Any) -> Hashable:
    """``value`` as a hashable key that equals another exactly when the values are equal;
    an object without value equality stands for itself."""
    if isinstance(value, list | tuple):
        return (type(value), *(_frozen(item) for item in value))
    if isinstance(value, dict):
        return (dict, *sorted(((repr(k), _frozen(v)) for k, v in value.items()), key=repr))
    if isinstance(value, set | frozenset):
        return frozenset(_frozen(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def built_route(cls: type, *, original_route: Any, include_context: Any) -> Any:
    provider = getattr(include_context, _PROVIDER)
    if getattr(provider, "dependency_overrides", None):
        return _from_api_route(cls, original_route=original_route, include_context=include_context)
    said = {
        f.name: getattr(include_context, f.name)
        for f in dataclasses.fields(include_context)
        if f.name != _PROVIDER
    }
    key = (id(original_route), tuple((name, _frozen(value)) for name, value in said.items()))
    if key not in _built:
        for_no_app = dataclasses.replace(include_context, **{_PROVIDER: _NO_APP})
        context = _from_api_route(cls, original_route=original_route, include_context=for_no_app)
        # what the key names by id is kept alive with the entry, so that no other object takes
        # its id; the app is not (it is in no key)
        _built[key] = ((original_route, said), context)
    return _built[key][1]


def install() -> None:
    routing._EffectiveRouteContext.from_api_route = classmethod(built_route)  # type: ignore[method-assign,assignment]


def installed() -> bool:
    return routing._EffectiveRouteContext.from_api_route.__func__ is built_route  # type: ignore[attr-defined]
