"""Every documented error status, with its exact body, and never a framework default."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.errors import InvalidValue, error_from_validation

CAMPAIGNS = "/v1/pixel/campaigns"


def test_missing_key_is_401(client: TestClient) -> None:
    response = client.get(CAMPAIGNS)
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Missing API key: send it in the X-API-Key header",
    }


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.get(CAMPAIGNS, headers={"X-API-Key": "bk_notarealkeyatall000000000"})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Invalid or revoked API key"}


def test_not_found_body_matches_seed(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(f"{CAMPAIGNS}/999", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Campaign with ID 999 not found"}


def test_unknown_route_is_404_in_envelope(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "detail" not in response.json()


@pytest.mark.parametrize(
    ("prefix", "body"),
    [
        ("/v1/clsfy/", lambda message: {"error": "not_found", "message": message}),
        (
            "/public/v1/",
            lambda message: {
                "success": False,
                "error": {"code": "NOT_FOUND", "message": message, "details": {}},
            },
        ),
    ],
)
def test_an_unknown_long_path_is_cut_in_the_404(
    client: TestClient, prefix: str, body: Callable[[str], object]
) -> None:
    # The HTTP parser reads a target up to 64 KiB: the message named all of it.
    path = prefix + "y" * 20_000
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == body(f"No route matches GET {path[:100]}… ({len(path)} characters)")


def test_method_not_allowed_is_405_in_envelope(client: TestClient, headers: dict[str, str]) -> None:
    response = client.delete(CAMPAIGNS, headers=headers)
    assert response.status_code == 405
    assert response.json() == {
        "error": "method_not_allowed",
        "message": "Method DELETE is not allowed on /v1/pixel/campaigns",
    }


def test_non_json_body_is_415(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        CAMPAIGNS,
        content=b"name=x",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json() == {
        "error": "unsupported_media_type",
        "message": "Unsupported content type 'application/x-www-form-urlencoded': "
        "send application/json",
    }


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        (CAMPAIGNS, "application/json"),
        ("/v1/clsfy/inventory", "application/json, text/plain, text/csv"),
    ],
)
def test_a_body_without_content_type_says_the_header_is_missing(
    client: TestClient, headers: dict[str, str], path: str, accepted: str
) -> None:
    """Not "Unsupported content type 'none'", which reads as if the client sent 'none'."""
    response = client.post(path, content=b"{}", headers=headers)
    assert "content-type" not in {name.lower() for name in response.request.headers}
    assert response.status_code == 415
    assert response.json() == {
        "error": "unsupported_media_type",
        "message": f"No Content-Type header: send {accepted}",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": "x", "use_case": ', "Malformed JSON body"),
        (b'{"use_case": "other"}', "Missing required parameter 'name'"),
        (b'{"name": 5, "use_case": "other"}', "Invalid type for 'name': expected string"),
        (b'{"name": "x", "usecase": "other", "use_case": "other"}', "Unknown parameter 'usecase'"),
        (b"[1, 2]", "Invalid type for 'body': expected object"),
    ],
)
def test_malformed_input_is_400(
    client: TestClient, headers: dict[str, str], body: bytes, message: str
) -> None:
    response = client.post(
        CAMPAIGNS, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize("path", [CAMPAIGNS, "/v1/clsfy/deliveries"])
@pytest.mark.parametrize("charset", ["", "; charset=latin-1"])
def test_a_body_that_is_not_utf8_is_a_400_in_the_envelope(
    client: TestClient, headers: dict[str, str], path: str, charset: str
) -> None:
    """Latin-1 bytes answered FastAPI's own "There was an error parsing the body"."""
    response = client.post(
        path,
        content='{"name": "café", "use_case": "other"}'.encode("latin-1"),
        headers={**headers, "Content-Type": f"application/json{charset}"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "Malformed JSON body: not UTF-8 text (byte 13); send JSON as UTF-8",
    }


def test_non_integer_path_id_is_400(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(f"{CAMPAIGNS}/abc", headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "Invalid path parameter 'campaign_id': expected a positive integer",
    }


def test_huge_path_id_is_400_not_500(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(f"{CAMPAIGNS}/99999999999999999999999", headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"name": "x", "use_case": "brand_lift"}, "use_case", "campaign_optimization"),
        ({"name": "", "use_case": "other"}, "name", "must not be empty"),
        ({"name": "   ", "use_case": "other"}, "name", "must not be empty"),
        ({"name": "x" * 201, "use_case": "other"}, "name", "200"),
        ({"name": "x", "use_case": "other", "description": "d" * 2001}, "description", "2000"),
    ],
)
def test_invalid_values_are_422_naming_the_field(
    client: TestClient,
    headers: dict[str, str],
    payload: dict[str, object],
    field: str,
    fragment: str,
) -> None:
    response = client.post(CAMPAIGNS, json=payload, headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert f"'{field}'" in body["message"]
    assert fragment in body["message"]


def test_put_null_name_is_rejected_and_data_kept(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post(
        CAMPAIGNS, json={"name": "keep", "use_case": "other"}, headers=headers
    ).json()
    response = client.put(f"{CAMPAIGNS}/{created['id']}", json={"name": None}, headers=headers)
    assert response.status_code in (400, 422)
    assert client.get(f"{CAMPAIGNS}/{created['id']}", headers=headers).json()["name"] == "keep"


NUL_MESSAGE = "Text values must not contain the NUL character (U+0000)"


def test_nul_character_is_422_on_every_backend_and_nothing_is_stored(
    client: TestClient, headers: dict[str, str]
) -> None:
    # PostgreSQL cannot store U+0000 in text; SQLite could. Both refuse it the same way.
    raw = b'{"name": "bad\\u0000name", "use_case": "campaign_reporting"}'
    response = client.post(
        CAMPAIGNS, content=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "validation_error", "message": NUL_MESSAGE}
    query = client.get(CAMPAIGNS, params={"use_case": "campaign\x00reporting"}, headers=headers)
    assert query.status_code == 422
    assert query.json()["message"] == NUL_MESSAGE
    assert client.get(CAMPAIGNS, headers=headers).json() == []


def test_a_utf16_upload_is_told_to_send_utf8(client: TestClient, headers: dict[str, str]) -> None:
    body = "url\nhttps://www.example.com/a\n".encode("utf-16")  # starts with its BOM
    response = client.post(
        "/v1/clsfy/inventory", content=body, headers={**headers, "Content-Type": "text/csv"}
    )
    # a 400, as a body that is not UTF-8 is: the bytes are malformed, no field's value is wrong
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "The text sent is UTF-16 or UTF-32 (it starts with a byte-order mark): "
        "save it as UTF-8",
    }


def test_escaped_backslash_before_u0000_is_ordinary_text(
    client: TestClient, headers: dict[str, str]
) -> None:
    name = "path\\u0000x"  # a backslash, then the letters u0000: no NUL at all
    response = client.post(
        CAMPAIGNS, json={"name": name, "use_case": "campaign_reporting"}, headers=headers
    )
    assert response.status_code == 201
    assert response.json()["name"] == name


def test_collector_still_answers_gif_for_nul(client: TestClient) -> None:
    response = client.get("/px/1.gif", params={"site": "a\x00b"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"


def test_rate_limit_429_with_retry_after(
    settings: Settings, db: Database, key_for: Callable[[str], str]
) -> None:
    from beacon.app import create_app

    limited = settings.model_copy(update={"rate_limit": "3/minute"})
    app = create_app(limited, run_worker=False)
    app.state.db = db
    key = key_for("ratelimited")
    with TestClient(app) as client:
        remaining = [
            int(client.get(CAMPAIGNS, headers={"X-API-Key": key}).headers["X-RateLimit-Remaining"])
            for _ in range(3)
        ]
        response = client.get(CAMPAIGNS, headers={"X-API-Key": key})
    assert remaining == [2, 1, 0]
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Limit"] == "3"


def test_rate_limit_headers_on_every_response(client: TestClient, headers: dict[str, str]) -> None:
    for response in (
        client.get(CAMPAIGNS, headers=headers),
        client.get(f"{CAMPAIGNS}/12345", headers=headers),
    ):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
            response.headers
        )


def test_body_over_limit_is_413(settings: Settings, db: Database, api_key: str) -> None:
    from beacon.app import create_app

    app = create_app(settings.model_copy(update={"max_body_bytes": 100}), run_worker=False)
    app.state.db = db
    with TestClient(app) as client:
        response = client.post(
            CAMPAIGNS, json={"name": "x" * 500, "use_case": "other"}, headers={"X-API-Key": api_key}
        )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_unexpected_exception_is_500_with_request_id(
    client: TestClient, headers: dict[str, str]
) -> None:
    app = client.app

    @app.get("/v1/boom")  # type: ignore[attr-defined, untyped-decorator]
    def boom() -> None:
        raise RuntimeError("secret internals")

    response = client.get("/v1/boom", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["request_id"] == "req-12345678"
    assert "secret internals" not in response.text
    assert response.headers["X-Request-ID"] == "req-12345678"


def test_validation_ranks_structural_errors_first() -> None:
    error = error_from_validation(
        [
            {"type": "string_too_long", "loc": ("body", "name"), "msg": "too long"},
            {"type": "missing", "loc": ("body", "use_case"), "msg": "Field required"},
        ]
    )
    assert error.status == 400
    assert error.message == "Missing required parameter 'use_case'"


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_ready_is_503_when_database_unreachable(settings: Settings, tmp_path: object) -> None:
    from beacon.app import create_app

    broken = settings.model_copy(
        update={"database_url": SecretStr("postgresql+psycopg://nobody@127.0.0.1:1/none")}
    )
    with TestClient(create_app(broken, run_worker=False)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


def test_openapi_documents_error_envelope(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/pixel/campaigns"]["post"]
    assert {"201", "400", "401", "422", "429"} <= set(post["responses"])
    ref = post["responses"]["404" if "404" in post["responses"] else "400"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    assert ref.endswith("/V1Error")
    assert client.get("/docs").status_code == 200


def test_enum_error_names_the_field_and_lists_allowed_values(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post(CAMPAIGNS, json={"name": "x", "use_case": "other"}, headers=headers)
    response = client.put(
        f"{CAMPAIGNS}/{created.json()['id']}", json={"use_case": "nope"}, headers=headers
    )
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("Invalid value for 'use_case': 'nope'. Allowed values: ")
    assert "str-enum" not in message and "UseCase" not in message
    assert "'campaign_optimization'" in message and "'other'" in message


def test_union_type_error_does_not_show_internal_tags(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = client.post(CAMPAIGNS, json={"name": "x", "use_case": "other"}, headers=headers)
    response = client.put(f"{CAMPAIGNS}/{created.json()['id']}", json={"name": 5}, headers=headers)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid type for 'name': expected string"


@pytest.mark.parametrize(
    ("start_date", "status", "message"),
    [
        ("20261102", 400, "Invalid type for 'start_date': expected date, use YYYY-MM-DD"),
        ("1767225600", 400, "Invalid type for 'start_date': expected date, use YYYY-MM-DD"),
        (
            "2026-01-01T00:00:00",
            400,
            "Invalid type for 'start_date': expected date, use YYYY-MM-DD",
        ),
        (
            "2026-02-30",
            400,
            "Invalid value for 'start_date': '2026-02-30' is not a valid date "
            "(day is out of range for month)",
        ),
    ],
)
def test_dates_are_yyyy_mm_dd_and_real_days(
    client: TestClient, headers: dict[str, str], start_date: str, status: int, message: str
) -> None:
    body = {"start_date": start_date, "end_date": "2026-03-31"}
    in_body = client.post("/v1/clsfy/reports", json=body, headers=headers)
    assert (in_body.status_code, in_body.json()["message"]) == (status, message)
    in_query = client.get(
        f"{CAMPAIGNS}/1/stats", params={"start_date": start_date}, headers=headers
    )
    assert (in_query.status_code, in_query.json()["message"]) == (status, message)


def test_huge_offset_says_the_maximum(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(
        "/v1/clsfy/inventory", params={"offset": "99999999999999999999"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "message": "Invalid value for 'offset': must be at most 1000000000",
    }


def test_public_family_gets_the_same_words_in_its_envelope(
    client: TestClient, db: Database
) -> None:
    from tests.support import bearer_token

    auth = {"Authorization": f"Bearer {bearer_token(client, db)}"}
    response = client.get(
        "/public/v1/campaigns", params={"offset": "99999999999999999999"}, headers=auth
    )
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "Invalid value for 'offset': must be at most 1000000000",
            "details": {"field": "offset"},
        },
    }


def test_field_names_drop_union_tags_but_keep_real_fields() -> None:
    from beacon.core.errors import field_name

    assert field_name(("body", "use_case", "str-enum[UseCase]")) == "use_case"
    assert field_name(("body", "name", "constrained-str")) == "name"
    assert field_name(("body", "name", "none")) == "name"
    assert field_name(("events", 0, "url")) == "events[0].url"
    assert field_name(("query", "date")) == "date"


def test_date_times_and_bounds_of_one_are_worded_plainly() -> None:
    from pydantic import BaseModel, Field, ValidationError

    from beacon.core.timefmt import ISODateTime

    class Body(BaseModel):
        send_at: ISODateTime | None = None
        ids: list[int] = Field(default_factory=lambda: [1], min_length=1)

    def message(**body: object) -> tuple[int, str]:
        with pytest.raises(ValidationError) as caught:
            Body.model_validate(body)
        error = error_from_validation(caught.value.errors())
        return error.status, error.message

    assert message(send_at="tomorrow") == (
        422,
        "Invalid value for 'send_at': 'tomorrow' is not a valid ISO 8601 date-time "
        "(input is too short)",
    )
    assert message(send_at="1700000000") == (
        400,
        "Invalid type for 'send_at': expected ISO 8601 timestamp",
    )
    assert message(ids=[]) == (422, "Invalid value for 'ids': must have at least 1 item")


def test_an_over_long_optional_text_is_counted_in_characters(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/v1/clsfy/classify", json={"text": "w" * 500_001}, headers=headers)
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "message": "Invalid value for 'text': must be at most 500000 characters long",
    }


LONG_DOMAIN = "a" * 3000 + ".com"


def _capped(message: str) -> None:
    assert f"'{'a' * 100}…' (3004 characters)" in message
    assert "a" * 101 not in message and len(message) < 300


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/pixel/campaigns/1/stats", {"domain": LONG_DOMAIN}, 422),
        ("/v1/clsfy/inventory", {LONG_DOMAIN: "1"}, 400),
    ],
)
def test_a_long_input_is_quoted_cut_with_its_length(
    client: TestClient,
    headers: dict[str, str],
    path: str,
    params: dict[str, str],
    status: int,
) -> None:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == status
    assert set(response.json()) == {"error", "message"}
    _capped(response.json()["message"])


def test_a_long_input_is_cut_in_the_public_envelope_too(client: TestClient, db: Database) -> None:
    from tests.support import bearer_token

    auth = {"Authorization": f"Bearer {bearer_token(client, db)}"}
    response = client.get("/public/v1/campaigns", params={"status": LONG_DOMAIN}, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    _capped(error["message"])
    assert error["message"].startswith("Invalid value for 'status': 'aaaa")


def test_a_value_is_quoted_as_its_repr_and_a_long_one_cut_with_its_length() -> None:
    from beacon.core.errors import quoted

    assert quoted("XX") == "'XX'"
    assert quoted("o'brien") == '"o\'brien"'  # repr() picks the quote the text lacks
    assert quoted("b" * 100) == "'" + "b" * 100 + "'"
    assert quoted("a'" + "b" * 150) == "\"a'" + "b" * 98 + '…" (152 characters)'
    assert quoted(7) == "7"
    assert quoted(["x" * 200]) == "['" + "x" * 98 + "… (204 characters)"


def test_a_message_is_kept_as_written_so_a_rewrapped_one_is_never_cut_twice() -> None:
    from beacon.core.errors import APIError, BadRequest, quoted
    from beacon.messaging.errors import OAuthError

    # Quoted text is cut where it enters the message; the message is never read back, so an
    # apostrophe in client text cannot pair with another and an OAuth rewrap changes nothing.
    written = f"Invalid value for 'x': {quoted('a' * 3000)} and it's '" + "c" * 150 + "'"
    assert APIError(written).message == written
    assert OAuthError("invalid_request", BadRequest(written).message).message == written


def test_a_long_body_key_with_an_apostrophe_is_cut(
    client: TestClient, headers: dict[str, str]
) -> None:
    key = "a'" + "b" * 3000
    response = client.post(
        CAMPAIGNS, json={"name": "c", "use_case": "campaign_reporting", key: 1}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Unknown parameter \"a'" + "b" * 98 + '…" (3002 characters)'
    )


def test_a_long_query_parameter_name_with_an_apostrophe_is_cut(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/clsfy/inventory", params={"a'" + "b" * 3000: "1"}, headers=headers)
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("Unknown parameter \"a'" + "b" * 98 + '…" (3002 characters) (')
    assert len(message) < 400


def test_an_invalid_value_quotes_its_field_as_other_messages_quote_input() -> None:
    """A field name can come from the request (a JSON key): it is quoted as input is, so a
    quote in it reads unambiguously and a long one is cut."""
    assert InvalidValue("end_date", "after start_date").message == (
        "Invalid value for 'end_date': after start_date"
    )
    assert InvalidValue("o'brien", "not text").message == 'Invalid value for "o\'brien": not text'
    long = InvalidValue("k" * 500, "not text")
    assert "(500 characters)" in long.message
    assert long.details == {"field": "k" * 500}
