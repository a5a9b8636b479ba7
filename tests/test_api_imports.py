"""Import jobs over the API, with a real token through the test client: a CSV planned in the
request, read row by row (new, changed, rejected with the reason), applied with the digest
reviewed, and its contacts then in the directory; a large file planned by a real worker with
progress on the job; `apply=true`; a directory that changed between review and apply; bad files
as problem details; the EP's own XML export; re-planning with a column mapping; discarding."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from contacts.base import utcnow
from contacts.models import Contact, ImportRun
from outreach.api.import_jobs import INLINE_MAX_BYTES, STUCK_NOTE, recover_lost, request_apply
from outreach.api.models import ImportJob
from outreach.extensions import get_db
from outreach.jobs import IMPORT_JOB, defer
from tests.api_support import bearer, token_for
from tests.conftest import running_worker, wait_for

DATA = Path(__file__).parent / "data" / "importers"
CSV = (
    "given_name,family_name,email,country,group\n"
    "Anne,Martin,anne.martin@example.org,FR,Renew\n"
    "Jan,Novak,jan.novak@example.org,CZ,EPP\n"
    "Bad,Row,not-an-address,FR,EPP\n"
)


def _upload(
    client: FlaskClient, headers: dict[str, str], data: bytes, name: str, query: str = ""
) -> Any:
    return client.post(
        f"/api/v1/imports{query}",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def _contacts(app: Flask) -> dict[str, str | None]:
    with app.app_context():
        rows = get_db().session.execute(select(Contact.display_name, Contact.email)).all()
        return {name: email for name, email in rows}


def test_a_csv_is_planned_reviewed_row_by_row_and_applied(app: Flask, client: FlaskClient) -> None:
    """A small CSV is planned in the request (201): two new contacts and one rejected row with
    its line and reason; nothing is written before apply; apply with the digest writes the two
    contacts in one ImportRun, and the job is applied with the run's id."""
    headers = bearer(token_for(app))
    resp = _upload(client, headers, CSV.encode(), "crm.csv")
    assert resp.status_code == 201, resp.get_json()
    job = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/v1/imports/{job['id']}")
    assert job["state"] == "planned"
    assert job["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "left_office": 0,
                             "rejected": 1}  # fmt: skip
    assert job["source_kind"] == "csv"
    assert job["detected_mapping"]["email"] == "email"
    assert _contacts(app) == {}
    rows = client.get(f"/api/v1/imports/{job['id']}/rows", headers=headers).get_json()["items"]
    assert [(r["kind"], r["line"], r["display_name"]) for r in rows] == [
        ("new", "2", "Anne Martin"),
        ("new", "3", "Jan Novak"),
        ("error", "4", None),
    ]
    assert {"field": "email", "old": None, "new": "anne.martin@example.org"} in rows[0]["changes"]
    assert "not-an-address" in rows[2]["reason"]
    errors = client.get(f"/api/v1/imports/{job['id']}/rows?kind=error", headers=headers)
    assert [r["line"] for r in errors.get_json()["items"]] == ["4"]

    wrong = client.post(f"/api/v1/imports/{job['id']}/apply", json={"digest": "0" * 16},
                        headers=headers)  # fmt: skip
    assert wrong.status_code == 409
    assert wrong.get_json()["digest"] == job["digest"]
    applied = client.post(f"/api/v1/imports/{job['id']}/apply", json={"digest": job["digest"]},
                          headers=headers)  # fmt: skip
    assert applied.status_code == 200, applied.get_json()
    body = applied.get_json()
    assert body["state"] == "applied"
    assert body["import_run_id"]
    assert _contacts(app) == {
        "Anne Martin": "anne.martin@example.org",
        "Jan Novak": "jan.novak@example.org",
    }
    with app.app_context():
        run = get_db().session.get(ImportRun, body["import_run_id"])
        assert run is not None
        assert run.counts["created"] == 2
        assert "api token" in run.actor
    again = client.post(f"/api/v1/imports/{job['id']}/apply", json={"digest": job["digest"]},
                        headers=headers)  # fmt: skip
    assert again.status_code == 409
    assert client.delete(f"/api/v1/imports/{job['id']}", headers=headers).status_code == 409


def test_apply_refuses_a_plan_the_directory_has_overtaken(app: Flask, client: FlaskClient) -> None:
    """Planned, then the same officials imported by another job: applying the first job's digest
    writes nothing and gives the new plan (all unchanged) to review, with a note."""
    headers = bearer(token_for(app))
    first = _upload(client, headers, CSV.encode(), "a.csv").get_json()
    second = _upload(client, headers, CSV.encode(), "b.csv", "?apply=false").get_json()
    done = client.post(f"/api/v1/imports/{second['id']}/apply",
                       json={"digest": second["digest"]}, headers=headers)  # fmt: skip
    assert done.get_json()["state"] == "applied"
    resp = client.post(f"/api/v1/imports/{first['id']}/apply", json={"digest": first["digest"]},
                       headers=headers)  # fmt: skip
    assert resp.status_code == 200
    job = resp.get_json()
    assert job["state"] == "planned"
    assert "changed" in job["note"]
    assert job["digest"] != first["digest"]
    assert job["counts"]["created"] == 0
    assert job["counts"]["unchanged"] == 2
    with app.app_context():
        assert get_db().session.scalar(select(func.count(ImportRun.id))) == 1


def test_apply_true_imports_a_clean_file_at_once_and_holds_one_with_errors(
    app: Flask, client: FlaskClient
) -> None:
    """`apply=true` on a file without rejected rows applies it in the same request; on a file
    with a rejected row the job stays planned with a note, nothing written."""
    headers = bearer(token_for(app))
    clean = "\n".join(CSV.splitlines()[:3]) + "\n"
    job = _upload(client, headers, clean.encode(), "ok.csv", "?apply=true").get_json()
    assert job["state"] == "applied"
    assert job["counts"]["created"] == 2
    assert len(_contacts(app)) == 2
    held = _upload(client, headers, (CSV + "Eva,Berg,eva@example.org,SE,\n").encode(), "x.csv",
                   "?apply=true").get_json()  # fmt: skip
    assert held["state"] == "planned"
    assert "rejected" in held["note"]
    assert "Eva Berg" not in _contacts(app)


def test_bad_files_are_problem_details(app: Flask, client: FlaskClient) -> None:
    """An empty file, an unknown format, a binary file named .csv and an XML bomb: 422 problem
    details or a failed job that says why; nothing written; a read token cannot upload."""
    headers = bearer(token_for(app))
    empty = _upload(client, headers, b"", "e.csv")
    assert empty.status_code == 422
    assert empty.headers["Content-Type"] == "application/problem+json"
    assert "empty" in empty.get_json()["detail"]
    unknown = _upload(client, headers, b"a,b\n", "e.csv", "?format=pdf")
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "format"
    for name in ("binary_named.csv", "bomb.xml"):
        job = _upload(client, headers, (DATA / name).read_bytes(), name).get_json()
        assert job["state"] == "failed", (name, job)
        assert job["error"], (name, job)
    no_file = client.post("/api/v1/imports", data={}, headers=headers,
                          content_type="multipart/form-data")  # fmt: skip
    assert no_file.status_code == 422
    read_only = _upload(client, bearer(token_for(app, "admin", "read")), CSV.encode(), "r.csv")
    assert read_only.status_code == 403
    assert _contacts(app) == {}


def test_a_spreadsheet_is_planned_again_with_a_corrected_mapping(
    app: Flask, client: FlaskClient
) -> None:
    """A CSV whose address column is not recognised: the plan has contacts without address;
    planning it again with {"Kontakt": "email"} gives them their addresses."""
    headers = bearer(token_for(app))
    data = b"Vorname,Nachname,Kontakt\nAnne,Martin,anne@example.org\n"
    job = _upload(client, headers, data, "de.csv").get_json()
    rows = client.get(f"/api/v1/imports/{job['id']}/rows", headers=headers).get_json()["items"]
    assert not any(c["field"] == "email" for c in rows[0]["changes"])
    replanned = client.post(f"/api/v1/imports/{job['id']}/plan",
                            json={"mapping": {"Kontakt": "email"}}, headers=headers)  # fmt: skip
    assert replanned.status_code == 200, replanned.get_json()
    rows = client.get(f"/api/v1/imports/{job['id']}/rows", headers=headers).get_json()["items"]
    assert {"field": "email", "old": None, "new": "anne@example.org"} in rows[0]["changes"]
    assert client.delete(f"/api/v1/imports/{job['id']}", headers=headers).status_code == 204
    gone = client.get(f"/api/v1/imports/{job['id']}", headers=headers).get_json()
    assert gone["state"] == "discarded"
    assert (
        client.get(f"/api/v1/imports/{job['id']}/rows", headers=headers).get_json()["items"] == []
    )


def test_the_eps_xml_export_is_imported_over_the_api(app: Flask, client: FlaskClient) -> None:
    """The EP's full-list XML (150 MEPs) with apply=true: 150 MEPs in the directory."""
    headers = bearer(token_for(app))
    data = (DATA / "ep_fulllist_term10_first150.xml").read_bytes()
    job = _upload(client, headers, data, "meps.xml", "?apply=true").get_json()
    assert job["state"] == "applied", job
    assert job["source_kind"] == "ep_xml"
    assert job["counts"]["created"] == 150
    with app.app_context():
        assert (
            get_db().session.scalar(select(func.count(Contact.id)).where(Contact.kind == "mep"))
            == 150
        )


def _large_csv(rows: int) -> bytes:
    lines = ["given_name,family_name,email,country"]
    lines += [f"Given{i},Family{i},person{i}@example.org,FR" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_large_file_is_planned_and_applied_by_the_worker_with_progress(
    app: Flask, client: FlaskClient
) -> None:
    """A file over the inline limit answers 202 with the job queued; a real worker plans it,
    recording progress that reaches the total; applying is queued again (202) and the worker
    writes every contact."""
    headers = bearer(token_for(app))
    data = _large_csv(6000)
    assert len(data) > INLINE_MAX_BYTES
    resp = _upload(client, headers, data, "big.csv")
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["id"]
    assert resp.get_json()["state"] == "queued"

    def job() -> dict[str, Any]:
        return dict(client.get(f"/api/v1/imports/{job_id}", headers=headers).get_json())

    with running_worker(app):
        wait_for(lambda: job()["state"] == "planned", timeout=120)
        planned = job()
        assert planned["progress"]["total"] == 12000  # two steps a record
        assert planned["progress"]["done"] == planned["progress"]["total"]
        assert planned["progress"]["percent"] == 100
        assert planned["counts"]["created"] == 6000
        resp = client.post(f"/api/v1/imports/{job_id}/apply",
                           json={"digest": planned["digest"]}, headers=headers)  # fmt: skip
        assert resp.status_code == 202
        wait_for(lambda: job()["state"] == "applied", timeout=120)
    with app.app_context():
        assert get_db().session.scalar(select(func.count(Contact.id))) == 6000
    page = client.get(f"/api/v1/imports/{job_id}/rows?limit=200", headers=headers).get_json()
    assert len(page["items"]) == 200
    assert page["next_cursor"]


def _job_row(app: Flask, job_id: int) -> tuple[str, str | None]:
    with app.app_context():
        job = get_db().session.get(ImportJob, job_id)
        assert job is not None
        return job.state, job.note


def test_a_job_whose_message_or_worker_was_lost_is_queued_again_by_the_reconciler(
    app: Flask, client: FlaskClient
) -> None:
    """A large file's job whose message is lost (Redis flushed after the upload) stays queued
    until the reconciler's pass, ten minutes on, sends it again; a real worker then plans it. A
    job left `planning` by a dead worker goes back to queued, with a note, only once its silence
    is longer than the worker's time limit; one waiting a shorter time is left alone."""
    headers = bearer(token_for(app))
    resp = _upload(client, headers, _large_csv(6000), "big.csv")
    assert resp.status_code == 202
    job_id = resp.get_json()["id"]
    with redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url) as queue:
        queue.flushdb()  # the message is lost
    with app.app_context(), get_db().transaction() as session:
        assert recover_lost(session, now=utcnow() + timedelta(minutes=5)) == []
    with app.app_context(), get_db().transaction() as session:
        assert recover_lost(session, now=utcnow() + timedelta(minutes=11)) == [job_id]
    with running_worker(app):
        wait_for(lambda: _job_row(app, job_id)[0] == "planned", timeout=120)

    # A worker that died while planning: the row says `planning`, nothing writes progress.
    with app.app_context(), get_db().transaction() as session:
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(state="planning"))
    with redis.Redis.from_url(app.config["OUTREACH"].effective_redis_url) as queue:
        queue.flushdb()
    with app.app_context(), get_db().transaction() as session:
        assert recover_lost(session, now=utcnow() + timedelta(minutes=20)) == []
    assert _job_row(app, job_id)[0] == "planning"
    with app.app_context(), get_db().transaction() as session:
        assert recover_lost(session, now=utcnow() + timedelta(minutes=36)) == [job_id]
    assert _job_row(app, job_id) == ("queued", STUCK_NOTE)
    with running_worker(app):
        wait_for(lambda: _job_row(app, job_id)[0] == "planned", timeout=120)


def test_an_apply_sent_twice_writes_the_contacts_once(app: Flask, client: FlaskClient) -> None:
    """Two messages for one applying job (the reconciler sent it again while the first was
    still waiting), taken by two worker threads at once: one import run, each contact once."""
    headers = bearer(token_for(app))
    resp = _upload(client, headers, _large_csv(3000), "big.csv")
    job_id = resp.get_json()["id"]
    with running_worker(app):
        wait_for(lambda: _job_row(app, job_id)[0] == "planned", timeout=120)
    digest = client.get(f"/api/v1/imports/{job_id}", headers=headers).get_json()["digest"]
    with app.app_context(), get_db().transaction() as session:
        assert request_apply(session, job_id, digest)
        defer(session, IMPORT_JOB, job_id)
        defer(session, IMPORT_JOB, job_id)
    with running_worker(app, threads=2) as worker:
        wait_for(lambda: _job_row(app, job_id)[0] == "applied", timeout=120)
        worker.join()  # both messages handled: the second found the job applied
    with app.app_context():
        session = get_db().session
        assert session.scalar(select(func.count(ImportRun.id))) == 1
        assert session.scalar(select(func.count(Contact.id))) == 3000
        assert session.scalar(select(func.count(func.distinct(Contact.email)))) == 3000
