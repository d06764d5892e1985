"""The tests' memo of FastAPI's built routes (tests/route_memo.py): what makes ~1,350 apps
affordable in one run must go on working, and must not hand one app's built route to an app
whose inclusion of the router differs."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from tests import route_memo

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.deps import CheckQuery

ROUTER = APIRouter()


@ROUTER.get("/items")
def items(limit: int = 10) -> dict[str, int]:
    return {"limit": limit}


def _handler(app: FastAPI, path: str, status: int = 200, query: str = "") -> object:
    """The built handler that served ``path`` in ``app``, after one request to it."""
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get(path + query).status_code == status
    for route in app.router.routes:
        for candidate in getattr(route, "effective_candidates", list)():
            if getattr(candidate, "path", None) == path:
                return candidate.app
    raise AssertionError(f"no route {path}")


def _app(prefix: str, *dependencies: Callable[[], None]) -> FastAPI:
    app = FastAPI()
    app.include_router(ROUTER, prefix=prefix, dependencies=[Depends(d) for d in dependencies])
    return app


def _nothing() -> None:
    return None


def test_two_beacon_apps_share_their_built_routes(settings: Settings) -> None:
    assert route_memo.installed()
    # ?typo= is refused: the router's CheckQuery dependency ran in both
    first = _handler(create_app(settings, run_worker=False), "/v1/pixel/campaigns", 400, "?typo=1")
    second = _handler(create_app(settings, run_worker=False), "/v1/pixel/campaigns", 400, "?typo=1")
    assert first is second


def test_an_inclusion_alike_shares_and_one_that_differs_does_not() -> None:
    built = _handler(_app("/a"), "/a/items")
    assert _handler(_app("/a"), "/a/items") is built
    assert _handler(_app("/a", _nothing), "/a/items") is not built  # another dependency
    assert _handler(_app("/b"), "/b/items") is not built  # another prefix


def _refused() -> None:
    raise HTTPException(status_code=418)


def test_an_app_with_dependency_overrides_builds_its_own() -> None:
    built = _handler(_app("/c", _nothing), "/c/items")
    overridden = _app("/c", _nothing)
    overridden.dependency_overrides[_nothing] = _refused
    assert _handler(overridden, "/c/items", 418) is not built


def test_one_apps_overrides_never_reach_another_apps_requests() -> None:
    first = _app("/d", _nothing)
    _handler(first, "/d/items")  # its routes are built (and shared) now
    first.dependency_overrides[_nothing] = _refused  # too late for this app: documented
    with TestClient(_app("/d", _nothing)) as client:
        assert client.get("/d/items").status_code == 200  # not the first app's 418


def test_check_query_is_a_value() -> None:
    assert CheckQuery(("/a",)) == CheckQuery(("/a",))
    assert hash(CheckQuery(("/a",))) == hash(CheckQuery(("/a",)))
    assert CheckQuery(("/a",)) != CheckQuery(("/b",))
