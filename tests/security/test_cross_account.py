"""Account isolation, derived from the OpenAPI document: every operation whose path takes an id
is called by account B on a resource of account A, and must answer exactly as for an id that
does not exist (404 in the family's envelope), leave A's resource untouched and show nothing of
it. A new id-taking endpoint fails `test_every_id_operation_is_covered` until it gets a factory.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from tests.activation.helpers import classify_pages, run_jobs

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database

SPEC: dict[str, Any] = create_app(
    Settings(database_url="sqlite://", worker_in_process=False)
).openapi()
MARKER = "alpha7c1e"  # in every name, URL and address the factories create
PERIOD = {"start_date": "2026-01-01", "end_date": "2026-01-31"}
Params = dict[str, str]


@dataclass
class Side:
    """One account's credentials in both API families."""

    v1: dict[str, str]
    public: dict[str, str]

    def headers(self, path: str) -> dict[str, str]:
        return self.public if path.startswith("/public/") else self.v1


@dataclass
class World:
    client: TestClient
    a: Side
    b: Side
    run_jobs: Callable[[], None]
    bearer_for: Callable[..., dict[str, str]]
    classify: Callable[[str], None]  # store a classification of a page whose keyword is MARKER
    narrowed: dict[str, dict[str, str]] = field(default_factory=dict)

    def narrow(self, scope: str) -> dict[str, str]:
        """Bearer headers of account A with only ``scope``."""
        if scope not in self.narrowed:
            self.narrowed[scope] = self.bearer_for("alpha", scope)
        return self.narrowed[scope]

    def call(
        self, side: Side, method: str, path: str, body: Any = None, headers: Any = None
    ) -> Response:
        return self.client.request(
            method,
            path,
            headers=headers or side.headers(path),
            json=body if method in ("POST", "PUT", "PATCH") else None,
        )

    def create(self, side: Side, path: str, body: Any) -> dict[str, Any]:
        response = self.call(side, "POST", path, body)
        assert response.status_code in (200, 201, 202), response.text
        payload: dict[str, Any] = response.json()
        return payload["data"] if path.startswith("/public/") else payload


# --- Factories: create one resource of a kind through the API, return its path parameters ---


def pixel_campaign(w: World, s: Side, use_case: str = "campaign_reporting") -> Params:
    made = w.create(s, "/v1/pixel/campaigns", {"name": f"{MARKER} pixel", "use_case": use_case})
    return {"campaign_id": str(made["id"])}


def campaign_report(w: World, s: Side) -> Params:
    campaign = int(pixel_campaign(w, s)["campaign_id"])
    made = w.create(s, "/v1/pixel/reports/campaign", {"campaign_id": campaign, **PERIOD})
    return {"report_id": str(made["id"])}


def publisher_report(w: World, s: Side) -> Params:
    campaign = int(pixel_campaign(w, s, "publisher_bot_detection")["campaign_id"])
    made = w.create(s, "/v1/pixel/reports/publisher", {"campaign_id": campaign, **PERIOD})
    return {"report_id": str(made["id"])}


def classify_batch(w: World, s: Side) -> Params:
    made = w.create(s, "/v1/clsfy/classify/batch", {"urls": [f"https://{MARKER}.example/a"]})
    return {"batch_id": str(made["id"])}


def clsfy_segment(w: World, s: Side) -> Params:
    # One classified page in the inventory: a deal over an empty segment is refused (422).
    page = f"https://www.nytimes.com/{MARKER}/{uuid.uuid4().hex[:8]}"
    w.classify(page)
    w.create(s, "/v1/clsfy/inventory", {"urls": [page]})
    body = {"name": f"{MARKER} segment", "rules": {"keywords": [MARKER]}}
    return {"segment_id": str(w.create(s, "/v1/clsfy/segments", body)["id"])}


def activation(w: World, s: Side) -> Params:
    segment = int(clsfy_segment(w, s)["segment_id"])
    w.run_jobs()  # an activation needs a built segment
    body = {"segment_ids": [segment], "dsp": "The Trade Desk", "buyer_seat": f"{MARKER}-seat"}
    return {"activation_id": str(w.create(s, "/v1/clsfy/activations", body)["id"])}


def segment_report(w: World, s: Side) -> Params:
    segment = int(clsfy_segment(w, s)["segment_id"])
    made = w.create(s, "/v1/clsfy/reports", {"segment_ids": [segment], **PERIOD})
    return {"report_id": str(made["id"])}


def contact(w: World, s: Side) -> str:
    body = {"contacts": [{"externalId": MARKER, "email": f"{MARKER}@example.com"}]}
    w.create(s, "/public/v1/contacts", body)
    listed = w.call(s, "GET", "/public/v1/contacts").json()["data"]
    return str(listed[0]["id"])


def messaging_segment(w: World, s: Side) -> Params:
    rules = {"all": [{"field": "externalId", "op": "equals", "value": MARKER}]}
    made = w.create(s, "/public/v1/segments", {"name": f"{MARKER} audience", "rules": rules})
    return {"segmentId": str(made["id"])}


def template(w: World, s: Side) -> Params:
    content = {
        "subject": f"{MARKER} news",
        "html": "<p>Hi</p><a href='{{ unsubscribe_url }}'>unsubscribe</a>",
        "fromAddress": f"{MARKER}@example.com",
    }
    body = {"name": f"{MARKER} email", "channel": "email", "status": "published"}
    return {
        "templateId": str(w.create(s, "/public/v1/templates", {**body, "content": content})["id"])
    }


def messaging_campaign(w: World, s: Side) -> Params:
    contact(w, s)
    body = {
        "name": f"{MARKER} broadcast",
        "channel": "email",
        "audience": {"included": [messaging_segment(w, s)["segmentId"]], "excluded": []},
        "templateId": template(w, s)["templateId"],
    }
    campaign = str(w.create(s, "/public/v1/campaigns", body)["campaignId"])
    w.create(s, f"/public/v1/campaigns/{campaign}/publish", {})
    return {"campaignId": campaign}


def execution(w: World, s: Side) -> Params:
    made = messaging_campaign(w, s)
    sent = w.create(s, f"/public/v1/campaigns/{made['campaignId']}/send", {})
    return {**made, "executionId": str(sent["executionId"])}


# Keyed by the GET path of the resource: every operation under it uses that factory.
FACTORIES: dict[str, Callable[[World, Side], Params]] = {
    "/v1/pixel/campaigns/{campaign_id}": pixel_campaign,
    "/v1/pixel/reports/campaign/{report_id}": campaign_report,
    "/v1/pixel/reports/publisher/{report_id}": publisher_report,
    "/v1/clsfy/classify/batch/{batch_id}": classify_batch,
    "/v1/clsfy/segments/{segment_id}": clsfy_segment,
    "/v1/clsfy/activations/{activation_id}": activation,
    "/v1/clsfy/reports/{report_id}": segment_report,
    "/public/v1/campaigns/{campaignId}": messaging_campaign,
    "/public/v1/campaigns/{campaignId}/executions/{executionId}": execution,
    "/public/v1/segments/{segmentId}": messaging_segment,
    "/public/v1/templates/{templateId}": template,
}
# Paths whose parameter is a credential in itself, not an account's id.
NOT_ACCOUNT_SCOPED = {
    "/public/v1/unsubscribe/{token}": "the unguessable token in an email is the credential",
    "/u/{token}": "the unsubscribe link of an email (its token is the credential)",
}
# A valid body for operations that need one (so that validation cannot answer first).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/v1/pixel/campaigns/{campaign_id}"): {"name": "hijacked"},
    ("PUT", "/v1/clsfy/segments/{segment_id}"): {"name": "hijacked"},
    ("PATCH", "/public/v1/campaigns/{campaignId}"): {"name": "hijacked"},
    ("POST", "/public/v1/campaigns/{campaignId}/schedule"): {"sendAt": "2031-01-01T09:00:00Z"},
    ("PATCH", "/public/v1/templates/{templateId}"): {"name": "hijacked"},
    ("POST", "/public/v1/templates/{templateId}/render"): {
        "contact": {"externalId": "probe", "firstName": "Eve"}
    },
}
ID_OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
    if any(p["in"] == "path" for p in operation.get("parameters", []))
)


def factory_key(path: str) -> str | None:
    """The longest FACTORIES key that ``path`` is, or lies under."""
    keys = [k for k in FACTORIES if path == k or path.startswith(k + "/")]
    return max(keys, key=len) if keys else None


def fill(path: str, params: Params) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)


def ghost(value: str) -> str:
    """An id of the same shape that names nothing."""
    if value.isdigit():
        return "2000000000"
    return f"exec-{uuid.uuid4()}" if value.startswith("exec-") else str(uuid.uuid4())


def error_code(path: str, response: Response) -> str:
    """The error code, after checking the family's envelope."""
    payload = response.json()
    if path.startswith("/public/"):
        assert payload["success"] is False and set(payload["error"]) >= {"code", "message"}
        return str(payload["error"]["code"])
    assert set(payload) == {"error", "message"}, payload
    return str(payload["error"])


def test_every_id_operation_is_covered() -> None:
    uncovered = [
        f"{method} {path}"
        for method, path in ID_OPERATIONS
        if path not in NOT_ACCOUNT_SCOPED and factory_key(path) is None
    ]
    assert not uncovered, f"add a factory to FACTORIES for: {uncovered}"
    needing_body = {
        (method, path)
        for method, path in ID_OPERATIONS
        if SPEC["paths"][path][method.lower()].get("requestBody", {}).get("required")
    }
    assert needing_body == set(BODIES), "BODIES must hold a valid body for exactly these"
    for key in FACTORIES:
        assert "get" in SPEC["paths"].get(key, {}), f"factory key {key} is not a GET path"
    assert set(NOT_ACCOUNT_SCOPED) <= set(SPEC["paths"])
    for path in NOT_ACCOUNT_SCOPED:
        assert all(not op.get("security") for op in SPEC["paths"][path].values())


@pytest.fixture
def world(
    client: TestClient,
    db: Database,
    settings: Settings,
    key_for: Callable[[str], str],
    bearer_for: Callable[..., dict[str, str]],
) -> World:
    a = Side({"X-API-Key": key_for("alpha")}, bearer_for("alpha"))
    b = Side({"X-API-Key": key_for("bravo")}, bearer_for("bravo"))

    def classify(url: str) -> None:
        classify_pages(db, {url: ([("IAB19", 0.9)], [MARKER], [], "neutral")})

    return World(client, a, b, lambda: run_jobs(db, settings), bearer_for, classify)


def test_other_account_sees_not_found(world: World) -> None:
    for key in FACTORIES:
        operations = [(m, p) for m, p in ID_OPERATIONS if factory_key(p) == key]
        # Deleting the resource itself goes last: the owner's calls share one resource.
        operations.sort(key=lambda op: op == ("DELETE", key))
        check_isolation(world, key, operations)


def check_isolation(world: World, key: str, operations: list[tuple[str, str]]) -> None:
    """B's calls on A's resource are 404s like a missing id's, and change and show nothing."""
    owned = FACTORIES[key](world, world.a)
    theirs = FACTORIES[key](world, world.b) if len(owned) > 1 else owned
    ghosts = {name: ghost(value) for name, value in owned.items()}
    snapshot = world.call(world.a, "GET", fill(key, owned))
    assert snapshot.status_code == 200, snapshot.text
    for method, path in operations:
        where, body = f"{method} {path}", BODIES.get((method, path))
        stolen = world.call(world.b, method, fill(path, owned), body)
        assert stolen.status_code == 404, (where, stolen.status_code, stolen.text)
        assert MARKER not in stolen.text, where
        missing = world.call(world.b, method, fill(path, ghosts), body)
        assert fingerprint(path, stolen, owned) == fingerprint(path, missing, ghosts), (
            f"{where}: another account's id must look exactly like a missing one"
        )
        for name in owned if len(owned) > 1 else ():  # B's parent with A's child, and reverse
            mixed = world.call(world.b, method, fill(path, {**theirs, name: owned[name]}), body)
            assert mixed.status_code == 404, (where, name, mixed.text)
            assert MARKER not in mixed.text, where
    assert world.call(world.a, "GET", fill(key, owned)).json() == snapshot.json(), key

    for method, path in operations:
        where, body = f"{method} {path}", BODIES.get((method, path))
        if path.startswith("/public/"):
            check_scope_comes_first(world, method, fill(path, owned), body)
        # The owner's own call works (or meets a state conflict): the 404s were isolation.
        control = world.call(world.a, method, fill(path, owned), body)
        assert control.status_code < 500, (where, control.text)
        assert control.status_code not in (400, 401, 403, 404, 422), (where, control.text)


def fingerprint(path: str, response: Response, ids: Params) -> tuple[int, str, str]:
    """Status, error code and message with the ids blanked: what tells two errors apart."""
    payload = response.json()
    message = str(
        payload["error"]["message"] if path.startswith("/public/") else payload["message"]
    )
    for value in ids.values():
        message = message.replace(value, "<id>")
    return response.status_code, error_code(path, response), message


def check_scope_comes_first(world: World, method: str, url: str, body: Any) -> None:
    """The owner's token without the operation's scope gets 403, before any data."""
    for scope in ("analytics:read", "audiences:read"):
        response = world.call(world.a, method, url, body, headers=world.narrow(scope))
        if response.status_code == 403:
            assert error_code(url, response) == "INSUFFICIENT_SCOPE"
            assert MARKER not in response.text
            return
    pytest.fail(f"{method} {url}: no token without its scope was refused")


def test_token_paths_answer_404_for_a_guessed_token(client: TestClient) -> None:
    for path in NOT_ACCOUNT_SCOPED:
        for method in SPEC["paths"][path]:
            response = client.request(method.upper(), fill(path, {"token": "u" * 43}))
            assert response.status_code == 404, (method, path, response.text)


# --- Ids inside request bodies ---------------------------------------------------------------


def referenced_ids(w: World, s: Side) -> dict[str, Any]:
    """One resource of each kind that other operations name in their bodies."""
    return {
        "pixel": int(pixel_campaign(w, s)["campaign_id"]),
        "publisher": int(pixel_campaign(w, s, "publisher_bot_detection")["campaign_id"]),
        "segment": _built(w, int(clsfy_segment(w, s)["segment_id"])),
        "audience": messaging_segment(w, s)["segmentId"],
        "template": template(w, s)["templateId"],
        "contact": contact(w, s),
    }


def _built(w: World, segment_id: int) -> int:
    w.run_jobs()
    return segment_id


GHOST_IDS = {
    "pixel": 2_000_000_000,
    "publisher": 2_000_000_000,
    "segment": 2_000_000_000,
    "audience": str(uuid.uuid4()),
    "template": str(uuid.uuid4()),
    "contact": str(uuid.uuid4()),
}


def body_cases(ids: dict[str, Any], own_template: str) -> dict[str, tuple[str, Any]]:
    """Operations taking ids in their body: path and body naming ``ids``."""
    event = {"timestamp": "2026-01-15T10:00:00Z", "url": f"https://{MARKER}.example/"}
    draft = {"name": "x", "channel": "email"}
    return {
        "campaign report": (
            "/v1/pixel/reports/campaign",
            {"campaign_id": ids["pixel"], **PERIOD},
        ),
        "publisher report": (
            "/v1/pixel/reports/publisher",
            {"campaign_id": ids["publisher"], **PERIOD},
        ),
        "events": ("/v1/pixel/events", {"campaign_id": ids["pixel"], "events": [event]}),
        "activation": (
            "/v1/clsfy/activations",
            {"segment_ids": [ids["segment"]], "dsp": "The Trade Desk", "buyer_seat": "s"},
        ),
        "segment report": ("/v1/clsfy/reports", {"segment_ids": [ids["segment"]], **PERIOD}),
        "campaign audience": (
            "/public/v1/campaigns",
            {**draft, "audience": {"included": [ids["audience"]], "excluded": []}},
        ),
        "campaign template": ("/public/v1/campaigns", {**draft, "templateId": ids["template"]}),
        "static segment": ("/public/v1/segments", {"name": "x", "contactIds": [ids["contact"]]}),
        "render contact": (
            f"/public/v1/templates/{own_template}/render",
            {"contactId": ids["contact"]},
        ),
    }


def test_ids_in_bodies_are_scoped_too(world: World) -> None:
    owned = referenced_ids(world, world.a)
    b_template = template(world, world.b)["templateId"]
    stolen_cases = body_cases(owned, b_template)
    missing_cases = body_cases(GHOST_IDS, b_template)
    for name, (path, body) in stolen_cases.items():
        stolen = world.call(world.b, "POST", path, body)
        assert stolen.status_code in (404, 422), (name, stolen.text)
        assert MARKER not in stolen.text, name
        missing = world.call(world.b, "POST", *missing_cases[name])
        assert (stolen.status_code, error_code(path, stolen)) == (
            missing.status_code,
            error_code(path, missing),
        ), f"{name}: another account's id must look exactly like a missing one"
    for name, (path, body) in body_cases(owned, template(world, world.a)["templateId"]).items():
        control = world.call(world.a, "POST", path, body)
        assert control.status_code < 400, (name, control.text)
