"""/api/v1/contacts: the directory, filtered with the audience language; upsert through the
import engine (contacts.importing), so a record matches as an imported row does."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from contacts.audience import Audience, AudienceError, sendable_condition
from contacts.importing import apply_plan, plan_import
from contacts.models import Contact
from contacts.records import ContactRecord, ParsedFile, SeatRecord
from outreach.api.auth import actor, protect
from outreach.api.pagination import page
from outreach.api.problems import Problem, invalid
from outreach.api.schemas import PageArgs, Text, UtcDateTime, page_schema
from outreach.extensions import get_db

blp = Blueprint("api_contacts", __name__, description="The directory of officials.")
protect(blp)
MAX_RECORDS = 500


class Seat(Schema):
    acronym = Text(required=True, validate=validate.Length(1, 32))
    body_kind = Text(required=True, validate=validate.OneOf(["committee", "delegation"]))
    role = Text(required=True, metadata={"example": "member"})


class ContactOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    honorific = fields.String(allow_none=True)
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    country_code = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    organisation = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    political_group = fields.String(allow_none=True)
    political_group_short = fields.String(allow_none=True)
    national_party = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    email_status = fields.String()
    alternate_emails = fields.Method("_alternates", metadata={"type": "array"})
    active = fields.Boolean()
    do_not_contact = fields.Boolean()
    needs_review = fields.Boolean()
    sendable = fields.Boolean()
    ep_id = fields.String(allow_none=True)
    wikidata_id = fields.String(allow_none=True)
    tags = fields.Method("_tags", metadata={"type": "array", "items": {"type": "string"}})
    seats = fields.Method("_seats", metadata={"type": "array"})
    updated_at = UtcDateTime()

    def _alternates(self, contact: Contact) -> list[dict[str, str]]:
        return [{"address": e.address, "status": e.status} for e in contact.alternate_emails]

    def _tags(self, contact: Contact) -> list[str]:
        return sorted(t.tag for t in contact.tag_rows)

    def _seats(self, contact: Contact) -> list[dict[str, str]]:
        return [
            {"acronym": m.acronym, "body_kind": m.body_kind, "role": m.role}
            for m in contact.memberships
        ]


class ContactListArgs(PageArgs):
    filter = Text(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "Audience filter language, e.g. `body:AFET except group:ESN`."},
    )
    sendable = fields.Boolean(
        load_default=None, metadata={"description": "Only those a letter can go to (or not)."}
    )


class ContactIn(Schema):
    """One official as an import row: None (absent) says nothing, a blank never erases."""

    kind = Text(validate=validate.OneOf(["mep", "minister", "institution_leader", "other"]))
    honorific = Text(validate=validate.Length(max=32))
    given_name = Text(validate=validate.Length(max=200))
    family_name = Text(validate=validate.Length(max=200))
    display_name = Text(validate=validate.Length(max=400))
    gender = Text(validate=validate.Length(max=16))
    country_code = Text(validate=validate.Length(max=60), metadata={"example": "FR"})
    languages = fields.List(
        Text(validate=validate.Regexp(r"^[a-z]{2}$")), validate=validate.Length(max=24)
    )
    organisation = Text(validate=validate.Length(max=300))
    position = Text(validate=validate.Length(max=300))
    political_group = Text(validate=validate.Length(max=300))
    political_group_short = Text(validate=validate.Length(max=32))
    national_party = Text(validate=validate.Length(max=300))
    emails = fields.List(
        Text(validate=validate.Length(max=320)),
        validate=validate.Length(max=20),
        metadata={"description": "Primary address first."},
    )
    ep_id = Text(validate=validate.Length(max=32))
    wikidata_id = Text(validate=validate.Length(max=32))
    tags = fields.List(Text(validate=validate.Length(max=64)), validate=validate.Length(max=50))
    notes = Text(validate=validate.Length(max=10000))
    seats = fields.List(fields.Nested(Seat), validate=validate.Length(max=100))


class UpsertIn(Schema):
    records = fields.List(
        fields.Nested(ContactIn), required=True, validate=validate.Length(1, MAX_RECORDS)
    )
    dry_run = fields.Boolean(load_default=False)


class RecordOutcome(Schema):
    index = fields.Integer(required=True)
    outcome = fields.String(
        required=True, metadata={"description": "created, updated, unchanged or rejected"}
    )
    contact_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


class UpsertOut(Schema):
    dry_run = fields.Boolean(required=True)
    import_run_id = fields.Integer(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    records = fields.List(fields.Nested(RecordOutcome), required=True)


def _loaded() -> Any:
    return select(Contact).options(
        selectinload(Contact.tag_rows),
        selectinload(Contact.memberships),
        selectinload(Contact.alternate_emails),
    )


@blp.route("/contacts")
class Contacts(MethodView):
    @blp.arguments(ContactListArgs, location="query")
    @blp.response(200, page_schema(ContactOut, "ContactPage"))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List contacts, filtered with the audience language."""
        session = get_db().session
        stmt = _loaded()
        try:
            if args["filter"].strip():
                stmt = stmt.where(
                    Audience(filter=args["filter"].strip()).matching_condition(session)
                )
        except AudienceError as exc:
            raise invalid("filter", str(exc), "query") from exc
        if args["sendable"] is not None:
            condition = sendable_condition()
            stmt = stmt.where(condition if args["sendable"] else ~condition)
        try:
            return page(session, stmt, Contact.id, args)
        except AudienceError as exc:
            raise invalid("filter", str(exc), "query") from exc


@blp.route("/contacts/<int(min=1, max=2147483647):contact_id>")
class ContactItem(MethodView):
    @blp.response(200, ContactOut)
    def get(self, contact_id: int) -> Contact:
        """One contact."""
        contact = get_db().session.scalar(_loaded().where(Contact.id == contact_id))
        if contact is None:
            raise Problem(404, f"There is no contact {contact_id}.")
        return contact


def _record(index: int, data: dict[str, Any]) -> ContactRecord:
    seats = data.pop("seats", None)
    return ContactRecord(
        line=index,
        memberships=(
            [SeatRecord(s["acronym"], s["body_kind"], s["role"]) for s in seats]
            if seats is not None
            else None
        ),
        **data,
    )


@blp.route("/contacts/upsert")
class Upsert(MethodView):
    @blp.arguments(UpsertIn)
    @blp.response(200, UpsertOut)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update contacts, matched as the importer matches (EP id, Wikidata id, any
        address, else name and organisation): only the fields sent change, a blank erases nothing.
        With `dry_run`, report what would change and change nothing."""
        session = get_db().session
        parsed = ParsedFile(
            source_kind="api",
            filename=None,
            records=[_record(i, dict(r)) for i, r in enumerate(body["records"])],
        )
        plan = plan_import(session, parsed, source="api")
        outcomes: dict[int, dict[str, Any]] = {
            i: {"index": i, "outcome": "unchanged", "contact_id": None, "reason": None}
            for i in range(len(body["records"]))
        }
        for error in plan.errors:
            if isinstance(error.line, int) and error.line in outcomes:
                outcomes[error.line].update(outcome="rejected", reason=str(error))
        run_id = None
        if not body["dry_run"] and plan.has_changes:
            run_id = apply_plan(session, plan, actor=actor()).id
            session.commit()
        for kind, planned_list in (("created", plan.new), ("updated", plan.changed)):
            for planned in planned_list:
                if isinstance(planned.line, int) and planned.line in outcomes:
                    outcomes[planned.line].update(outcome=kind, contact_id=planned.contact_id)
        return {
            "dry_run": body["dry_run"],
            "import_run_id": run_id,
            "counts": plan.counts,
            "records": list(outcomes.values()),
        }
