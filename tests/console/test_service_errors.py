"""A service's 422 shown beside the form field it names (``web.service_error``)."""

from __future__ import annotations

from beacon.console import web
from beacon.core.errors import InvalidValue, ValidationFailed


def test_an_invalid_value_is_shown_at_its_field_without_the_prefix() -> None:
    refusal = InvalidValue("end_date", "must be on or after start_date")
    assert refusal.message == "Invalid value for 'end_date': must be on or after start_date"
    assert web.service_error(refusal, "segment_ids") == {
        "end_date": "must be on or after start_date"
    }


def test_a_nested_field_is_shown_at_the_form_field_that_holds_it() -> None:
    refusal = InvalidValue("kpis[1].target", "ctr is a rate: at most 1 (got 2)")
    assert web.service_error(refusal, "segment_ids") == {"kpis": "ctr is a rate: at most 1 (got 2)"}


def test_a_problem_that_quotes_a_field_name_stays_at_its_own_field() -> None:
    # the page guessed the field from the message: a deal id holding "end_date" went there
    refusal = InvalidValue("deal_ids", "deal 'end_date-7' not found")
    assert web.service_error(refusal, "segment_ids") == {"deal_ids": "deal 'end_date-7' not found"}


def test_any_other_refusal_is_shown_whole_at_the_default_field() -> None:
    refusal = ValidationFailed("Report 3 is not complete yet (status: pending)")
    assert web.service_error(refusal, "form") == {
        "form": "Report 3 is not complete yet (status: pending)"
    }
