"""Schemathesis against the API's own OpenAPI document: for every operation, generated requests
(valid ones, then invalid ones) with an admin's write token on a seeded database never get a
server error, nor a status code, content type or body the document does not describe.

Path ids are, half of the time, ids of seeded rows (a draft and a launched campaign, their
letters, a reply, a saved audience, contacts, a German version of the draft, an import job, a
webhook subscription with a failed delivery), so requests reach real objects and not only 404s.
Examples per operation are bounded (EXAMPLES) to keep the test near a minute per backend. A
second test runs schemathesis' state machine over the links it infers from the document (POST
/campaigns, then its lint, preview, launch, pause...), in STATEFUL_EXAMPLES bounded sequences.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from contacts.importing import apply_plan, plan_import
from contacts.models import Contact, SavedAudience
from contacts.records import ContactRecord, ParsedFile
from outreach.api import import_jobs
from outreach.api.models import WebhookDelivery
from outreach.api.webhooks import subscribe
from outreach.campaigns import services
from outreach.campaigns.letters import set_variant
from outreach.campaigns.models import Campaign, Delivery
from outreach.extensions import get_db
from outreach.supporters.signing import SignatureInput, sign
from outreach.tracking.models import InboundMessage
from tests.api_support import bearer, token_for
from tests.conftest import _empty_all_tables, launch_campaign

EXAMPLES = 50
STATEFUL_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _seed(app: Flask) -> dict[str, list[Any]]:
    """A small directory, a saved audience, a draft, a launched campaign with a reply and a
    signature; the ids each path parameter may take."""
    with app.app_context(), get_db().transaction() as session:
        records = [
            ContactRecord(line=i, given_name=f"Member{i}", family_name="Test", kind="mep",
                          country_code=("MT", "IE", "FR")[i % 3], emails=[f"m{i}@example.org"])
            for i in range(12)
        ]  # fmt: skip
        apply_plan(session, plan_import(session, ParsedFile("api", None, records)), actor="seed")
        session.add(SavedAudience(name="Malta", filter="country:MT"))
        draft = services.create_campaign(
            session,
            name="Draft",
            subject="S",
            body="{{ salutation }}",
            audience={"filter": "country:IE"},
        )
        sent = services.create_campaign(
            session,
            name="Sent",
            subject="S",
            body="{{ salutation }}",
            audience={"filter": "country:MT"},
        )
        sent.signing_open = True
        session.flush()
        sign(
            session,
            sent,
            SignatureInput(name="Sam", email="sam@example.org", country="FR", privacy_notice="n"),
            source="seed",
            burst=None,
        )
        ids = {"draft": draft.id, "sent": sent.id}
    launch_campaign(app, ids["sent"])
    with app.app_context(), get_db().transaction() as session:
        deliveries = list(session.scalars(select(Delivery.id)))
        session.add(InboundMessage(message_key="<r@x>", raw=b"", size=0, via="dev", kind="reply",
                                   reply_text="Thanks", delivery_id=deliveries[0], state="processed"))  # fmt: skip
        session.flush()
        draft_row = session.get(Campaign, ids["draft"])
        assert draft_row is not None
        set_variant(session, draft_row, "de", "S", "{{ salutation }}")
        job = import_jobs.create_job(session, filename="crm.csv", format=None, mapping=None,
                                     data=b"given_name,family_name,email\nAnn,Lee,a@example.org\n",
                                     auto_apply=False, user_id=None, actor="seed")  # fmt: skip
        hook = subscribe(session, url="http://127.0.0.1:9/hook", events=["campaign.finished"])
        failed = WebhookDelivery(subscription_id=hook.id, event="campaign.finished", key="c:1",
                                 body='{"id": "e1"}', state="failed", attempts=3)  # fmt: skip
        session.add(failed)
        session.flush()
        seeded: dict[str, list[Any]] = {
            "campaign_id": [ids["draft"], ids["sent"]],
            "contact_id": list(session.scalars(select(Contact.id))),
            "audience_id": list(session.scalars(select(SavedAudience.id))),
            "delivery_id": deliveries,
            "reply_id": list(session.scalars(select(InboundMessage.id))),
            "language": ["de", "en"],
            "job_id": [job.id],
            "subscription_id": [hook.id],
            "webhook_delivery_id": [failed.id],
        }
    _plan(app, seeded["job_id"][0])
    return seeded


def _plan(app: Flask, job_id: int) -> None:
    with app.app_context():
        import_jobs.run(get_db().transaction, job_id)


@dataclass
class Tally:
    requests: int = 0
    succeeded: set[str] = field(default_factory=set)  # operations that answered 2xx once


def _conformance(
    operation: Any, mode: GenerationMode, headers: dict[str, str], seeded: dict[str, list[Any]],
    tally: Tally,
) -> Callable[[], None]:  # fmt: skip
    """One operation's property test in one generation mode."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, headers=headers), data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name in seeded and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(seeded[name]))
        response = case.call(headers=headers)
        tally.requests += 1
        if response.status_code < 300:
            tally.succeeded.add(operation.label)
        case.validate_response(response, checks=CHECKS)

    return check  # type: ignore[no-any-return]


# About 50 operations, 100 requests each: longer than the suite's default limit on a loaded machine.
@pytest.mark.timeout(1200)
def test_every_operation_conforms_to_the_document(app: Flask) -> None:
    # No rate limit here: the test makes thousands of requests with one token.
    app.config["OUTREACH"] = replace(app.config["OUTREACH"], api_rate="")
    seeded = _seed(app)
    headers = bearer(token_for(app, "admin", "write"))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    tally = Tally()
    operations = 0
    started = time.monotonic()
    durations: dict[str, float] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        began = time.monotonic()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _conformance(operation, mode, headers, seeded, tally)()
            except (Exception, BaseExceptionGroup) as exc:  # collected: one report for all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
        durations[operation.label] = time.monotonic() - began
    elapsed = time.monotonic() - started
    slowest = sorted(durations.items(), key=lambda item: -item[1])[:5]
    print(
        f"schemathesis: {operations} operations, {tally.requests} requests, "
        f"{len(tally.succeeded)} operations answered 2xx, {elapsed:.1f} s; slowest: "
        + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in slowest)
    )
    assert not failures, "\n\n".join(failures)
    assert operations >= 45
    # Not only refusals: most operations did their work at least once.
    assert len(tally.succeeded) >= operations * 3 // 4, sorted(tally.succeeded)


def test_workflows_through_links_conform_to_the_document(app: Flask) -> None:
    """Stateful: schemathesis chains operations through the links it infers from the document
    (a campaign created, then read, checked, previewed, launched, steered; an audience saved,
    then counted...), with the same checks, in bounded sequences. Each sequence starts from the
    same seeded database, so that what one sequence left does not change what the next draws."""
    app.config["OUTREACH"] = replace(app.config["OUTREACH"], api_rate="")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    machine = schema.as_state_machine()
    state: dict[str, Any] = {"steps": 0, "headers": {}}

    class Workflow(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            with app.app_context():
                _empty_all_tables(app)
            _seed(app)
            state["headers"] = bearer(token_for(app, "admin", "write"))

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": state["headers"]}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            state["steps"] += 1
            case.validate_response(response, checks=CHECKS, headers=state["headers"])

    started = time.monotonic()
    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(f"schemathesis stateful: {state['steps']} steps in {time.monotonic() - started:.1f} s")
    assert state["steps"] >= STATEFUL_EXAMPLES
