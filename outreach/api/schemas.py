"""marshmallow schemas shared by the resources: input text, ids, pages, problems.

Input strings pass through `Text`, which refuses NUL and lone surrogates (PostgreSQL cannot store
the first, UTF-8 cannot encode the second: both would otherwise end as a server error), and ids
through `Id`, bounded to what an INTEGER column holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MAX_ID = 2**31 - 1
MAX_LIMIT = 200


class Text(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("NUL characters are not allowed.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("Not valid Unicode text.") from exc
        return text


def Id(**kwargs: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(1, MAX_ID), **kwargs)


class Problem(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(
        fields.Dict(keys=fields.String(), values=fields.String()),
        metadata={"description": "For invalid input: {location, field, message} per error."},
    )
    digest = fields.String(
        metadata={"description": "Launch refused for unconfirmed warnings: the digest to confirm."}
    )
    warnings = fields.Integer()


class PageArgs(Schema):
    """Keyset pagination: `cursor` is the `next_cursor` of the page before."""

    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(1, MAX_LIMIT),
        metadata={"description": "Page size."},
    )
    cursor = fields.Integer(
        load_default=None,
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Continue after this id (the previous page's next_cursor)."},
    )


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A page of `item`s: {items, next_cursor} (next_cursor null on the last page)."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.Integer(required=True, allow_none=True),
        },
        name=name,
    )


class UtcDateTime(fields.DateTime):
    """An ISO 8601 date-time with its offset. SQLite hands back the stored UTC values naive, and a
    date-time without offset is not an RFC 3339 `date-time`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)
