"""Wire format of contacts, segments and templates."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from beacon.core.codes import (
    ANY_CASE_COUNTRY_DESCRIPTION,
    any_case_country_code_schema,
    country_code,
)
from beacon.core.emails import normalise_email
from beacon.core.openapi import generate_within
from beacon.core.text import NonBlank
from beacon.core.timefmt import UTCMillis
from beacon.messaging.schemas import Channel, InModel, OutModel, SubscriptionStatus

MAX_CONTACTS = 10_000
MAX_ATTRIBUTES = 100

# What the document states for addresses: a subset every match of which the validators below
# accept (email_validator's full grammar and libphonenumber's numbering plans cannot be one
# regular expression). The server accepts more than these patterns; it never refuses a match.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9_+-]{1,20}(\.[A-Za-z0-9_+-]{1,20}){0,2}"
    r"@([A-Za-z0-9]{1,30}\.){1,3}(com|net|org|io|co|uk|de|fr)$"
)
PHONE_PATTERN = r"^\+1(202|212|312|415|617|646|650|718)[2-9][0-9]{6}$"


# --- What the document states for a segment's rules -------------------------------------------
#
# The grammar of ``validate_rules`` (messaging.audiences.segments), as JSON Schema: a condition
# ``{field, op, value}`` or a group ``{"all"|"any": [rules...]}``. The document states a subset
# every match of which is accepted — groups two levels deep of at most 10 rules each, ``in``
# lists of at most 50 values, so that no match passes the 100 conditions and 5,000 values a
# segment may hold; the server accepts deeper groups (5 levels) and longer lists (1,000 values).
RULE_COLUMN_FIELDS = (
    "externalId", "email", "phone", "firstName", "lastName",
    "subscriptions.email", "subscriptions.sms", "subscriptions.direct_mail",
    *(f"address.{k}" for k in ("line1", "line2", "city", "region", "postalCode", "country")),
)  # fmt: skip
RULE_ATTRIBUTE_PATTERN = r"^attributes\.[A-Za-z0-9_\-]{1,64}$"
_GROUP_ITEMS = 10
_IN_VALUES = 50


def _condition(field: dict[str, Any], op: list[str], value: dict[str, Any] | None) -> Any:
    properties: dict[str, Any] = {"field": field, "op": {"enum": op}}
    if value is not None:
        properties["value"] = value
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["field", "op", *(["value"] if value is not None else [])],
        "properties": properties,
    }


def _rule_conditions() -> list[Any]:
    column = {"enum": list(RULE_COLUMN_FIELDS)}
    attribute = {"type": "string", "pattern": RULE_ATTRIBUTE_PATTERN}
    scalar = {"type": ["string", "number", "boolean"]}
    compare = ["equals", "contains", "gt", "gte", "lt", "lte"]
    return [
        _condition(column, compare, {"type": "string"}),
        _condition(attribute, ["equals", "contains"], scalar),
        _condition(attribute, ["gt", "gte", "lt", "lte"], {"type": ["string", "number"]}),
        _condition(
            column, ["in"], {"type": "array", "items": {"type": "string"}, "minItems": 1,
                             "maxItems": _IN_VALUES},
        ),
        _condition(
            attribute, ["in"], {"type": "array", "items": scalar, "minItems": 1,
                                "maxItems": _IN_VALUES},
        ),
        _condition({"anyOf": [column, attribute]}, ["exists"], None)
        | {"properties": {"field": {"anyOf": [column, attribute]}, "op": {"enum": ["exists"]},
                          "value": {"type": ["boolean", "null"]}}},
    ]  # fmt: skip


def _group(item: Any) -> Any:
    items = {"type": "array", "minItems": 1, "maxItems": _GROUP_ITEMS, "items": item}
    return {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {"all": items, "any": items},
    }


def rules_schema() -> dict[str, Any]:
    """The document's schema of a segment's ``rules``: an object, with the grammar in its
    description and, for generators, the subset above."""
    condition = {"anyOf": _rule_conditions()}
    return {
        "type": "object",
        "description": 'A condition {field, op, value} or a group {"all"|"any": [rules]}; '
        "ops: equals, contains, gt, gte, lt, lte (a string; a number too for attributes.<name>), "
        "in (a non-empty list, at most 1,000 values), exists (value true, false or omitted). "
        "At most 5 levels, 100 conditions and 5,000 'in' values in all.",
        **generate_within(anyOf=[condition, _group({"anyOf": [condition, _group(condition)]})]),
    }


def normalise_phone(value: str) -> str:
    """An E.164 number (``+14155550123``)."""
    if not value.startswith("+"):
        raise ValueError("must be in E.164 format, e.g. +14155550123")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class AddressIn(InModel):
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    # An assigned ISO 3166-1 alpha-2 code, any case, stored upper case ("UK" and "ZZ" are two
    # letters but no country). Contacts stored before this check are read back as stored.
    country: Annotated[str, Field(json_schema_extra=any_case_country_code_schema())] | None = Field(
        default=None,
        description=f"{ANY_CASE_COUNTRY_DESCRIPTION} Stored and returned in upper case.",
    )

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else country_code(value)


class SubscriptionsIn(InModel):
    """Keyed by channel: ``{"email": "subscribed", "sms": ..., "direct_mail": ...}``."""

    email: SubscriptionStatus | None = None
    sms: SubscriptionStatus | None = None
    direct_mail: SubscriptionStatus | None = Field(default=None, alias="direct_mail")


class ContactIn(InModel):
    """A contact is keyed by its externalId or its email: at least one of them."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["externalId"], "properties": {"externalId": {"type": "string"}}},
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
            ]
        }
    )

    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    email: str | None = Field(
        default=None, max_length=320, json_schema_extra=generate_within(pattern=EMAIL_PATTERN)
    )
    phone: str | None = Field(
        default=None, json_schema_extra=generate_within(pattern=PHONE_PATTERN)
    )
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    address: AddressIn | None = None
    attributes: dict[str, Any] | None = Field(default=None, max_length=MAX_ATTRIBUTES)
    subscriptions: SubscriptionsIn | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    @model_validator(mode="after")
    def _has_key(self) -> ContactIn:
        if self.external_id is None and self.email is None:
            raise ValueError("each contact needs an externalId or an email")
        return self


class ContactsUpsert(InModel):
    contacts: list[ContactIn] = Field(min_length=1, max_length=MAX_CONTACTS)


class SubscriptionsOut(OutModel):
    email: str
    sms: str
    direct_mail: str = Field(alias="direct_mail")


class ContactOut(OutModel):
    id: uuid.UUID
    external_id: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    address: dict[str, Any] | None
    attributes: dict[str, Any]
    subscriptions: SubscriptionsOut
    created_at: UTCMillis
    updated_at: UTCMillis


class UpsertResult(OutModel):
    created: int
    updated: int
    ids: list[uuid.UUID]


class SegmentCreate(InModel):
    model_config = ConfigDict(
        # the rule of _one_definition, stated: rules or contactIds (the other absent or null)
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["rules"],
                    "properties": {"rules": {"type": "object"}, "contactIds": {"type": "null"}},
                },
                {
                    "required": ["contactIds"],
                    "properties": {"contactIds": {"type": "array"}, "rules": {"type": "null"}},
                },
            ]
        }
    )

    name: NonBlank = Field(min_length=1, max_length=200)
    rules: Annotated[dict[str, Any], WithJsonSchema(rules_schema())] | None = None
    contact_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_CONTACTS)

    @model_validator(mode="after")
    def _one_definition(self) -> SegmentCreate:
        if (self.rules is None) == (self.contact_ids is None):
            raise ValueError("give either rules or contactIds")
        return self


class ReachOut(OutModel):
    status: Literal["ok", "pending", "not_evaluated", "failed"]
    evaluated_count: int | None
    evaluated_at: UTCMillis | None
    is_stale: bool | None


class SegmentOut(OutModel):
    id: uuid.UUID
    name: str
    type: Literal["rules", "static"]
    rules: dict[str, Any] | None
    member_count: int | None
    reach: ReachOut
    created_at: UTCMillis
    updated_at: UTCMillis


# What the document states for a template's content, per channel: a subset every match of which
# is accepted — text without template tags (any ``{`` is left out, so no match is a syntax
# error; the server accepts the template language), addresses of EMAIL_PATTERN. A published
# template also needs its channel's REQUIRED_TO_PUBLISH fields (messaging.templates.service).
_PLAIN = {"type": "string", **generate_within(pattern="^[^{]*$")}
_ADDRESS = {"type": "string", **generate_within(pattern=EMAIL_PATTERN)}
_CONTENT_FIELDS: dict[str, dict[str, Any]] = {
    "email": {
        "subject": _PLAIN | {"maxLength": 998},
        "html": _PLAIN,
        "text": _PLAIN,
        "fromName": _PLAIN | {"maxLength": 200},
        "fromAddress": _ADDRESS,
        "replyTo": _ADDRESS,
    },
    "sms": {"body": _PLAIN | {"maxLength": 1600}},
    "direct_mail": {"html": _PLAIN, "addressBlock": _PLAIN},
}
_FILLED = {"type": "string", "minLength": 1}
_TO_PUBLISH: dict[str, dict[str, Any]] = {
    "email": {
        "required": ["subject", "fromAddress"],
        "properties": {"subject": _FILLED},
        "anyOf": [
            {"required": ["html"], "properties": {"html": _FILLED}},
            {"required": ["text"], "properties": {"text": _FILLED}},
        ],
    },
    "sms": {"required": ["body"], "properties": {"body": _FILLED}},
    "direct_mail": {"required": ["html"], "properties": {"html": _FILLED}},
}


def _template_branches() -> list[Any]:
    branches = []
    for channel, fields in _CONTENT_FIELDS.items():
        content = {"type": "object", "additionalProperties": False, "properties": fields}
        for status, extra in (("draft", {}), ("published", _TO_PUBLISH[channel])):
            branches.append(
                {
                    "required": ["channel", "content", *(["status"] if extra else [])],
                    "properties": {
                        "channel": {"enum": [channel]},
                        "status": {"enum": [status]},
                        "content": {"allOf": [content, extra]} if extra else content,
                    },
                }
            )
    return branches


class TemplateCreate(InModel):
    model_config = ConfigDict(json_schema_extra={"anyOf": _template_branches()})

    name: NonBlank = Field(min_length=1, max_length=200)
    channel: Channel
    status: Literal["draft", "published"] = "draft"
    content: dict[str, Any]


class TemplateUpdate(InModel):
    name: NonBlank | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["draft", "published"] | None = None
    content: dict[str, Any] | None = None


class EmailContent(InModel):
    subject: str | None = Field(default=None, max_length=998)
    html: str | None = None
    text: str | None = None
    from_name: str | None = Field(default=None, max_length=200)
    from_address: str | None = None
    reply_to: str | None = None

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = normalise_email(value)
        if not address.rpartition("@")[0].isascii():
            # the domain goes in its ASCII (IDNA) form; a mailbox name has none, and the
            # message headers cannot carry it: every message would fail to be built
            raise ValueError("the part before @ must be ASCII in a sender or reply address")
        return address


class SmsContent(InModel):
    body: str | None = Field(default=None, max_length=1600)


class DirectMailContent(InModel):
    html: str | None = None
    address_block: str | None = None


CONTENT_MODELS: dict[str, type[InModel]] = {
    "email": EmailContent,
    "sms": SmsContent,
    "direct_mail": DirectMailContent,
}


class TemplateOut(OutModel):
    id: uuid.UUID
    name: str
    channel: str
    status: str
    content: dict[str, Any]
    variables: list[str]
    created_at: UTCMillis
    updated_at: UTCMillis


class RenderRequest(InModel):
    """Render for a stored contact (``contactId``) or a contact given inline: one of them."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["contactId"], "properties": {"contactId": {"type": "string"}}},
                {"required": ["contact"], "properties": {"contact": {"type": "object"}}},
            ]
        }
    )

    contact_id: uuid.UUID | None = None
    contact: ContactIn | None = None

    @model_validator(mode="after")
    def _one_contact(self) -> RenderRequest:
        if (self.contact_id is None) == (self.contact is None):
            raise ValueError("give either contactId or contact")
        return self


class RenderedOut(OutModel):
    template_id: uuid.UUID
    channel: str
    contact_id: uuid.UUID | None
    rendered: dict[str, str | None]
