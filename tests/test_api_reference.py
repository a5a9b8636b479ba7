"""The API reference page (/api/v1/docs) is made from the OpenAPI document the app generates:
every operation of the document is on it, under its resource, with its parameters, request
body fields, responses, who may call it and a curl example; every named schema has a section
that the types link to. (Its accessibility is checked with every page: tests/test_accessibility.py.)"""

from __future__ import annotations

import html
import json
import re

from flask.testing import FlaskClient

from outreach.api.reference_doc import build, example_of, type_of


def test_every_operation_of_the_document_is_on_the_page(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    page = html.unescape(client.get("/api/v1/docs").get_data(as_text=True))
    operations = [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 40
    for method, path, op in operations:
        heading = re.search(
            rf'<h3 id="(op-[^"]+)-title"><span class="method {method}">{method}</span> '
            rf"<code>{re.escape(path)}</code></h3>",
            page,
        )
        assert heading, f"{method} {path} is not on the page"
        assert f'href="#{heading.group(1)}"' in page  # and in the contents
        first_line = op["summary"].split("\n")[0].replace("`", "")
        assert first_line.split(" ")[0] in page
    for tag in doc["tags"]:
        assert f'id="tag-{tag["name"]}"' in page
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


def test_an_operation_shows_parameters_body_responses_access_and_a_curl_example(
    client: FlaskClient,
) -> None:
    """Listing contacts: its query parameters with type and limits; creating a campaign: the
    body's fields (required marked, a named schema linked), 201 and 422 with their schemas,
    the write access rule and a curl command whose JSON body is valid JSON."""
    page = client.get("/api/v1/docs").get_data(as_text=True)
    contacts = page[page.index('id="op-get-api-v1-contacts"') :]
    contacts = contacts[: contacts.index("</article>")]
    assert '<code class="name">limit</code> <span class="where">in query</span>' in contacts
    assert "at least 1; at most 200; default 50" in contacts
    assert "Any token (scope <code>read</code> or <code>write</code>)." in contacts

    create = page[page.index('id="op-post-api-v1-campaigns"') :]
    create = create[: create.index("</article>")]
    assert '<code class="name">name</code> <span class="type">string</span> <strong class="req">required</strong>' in create  # fmt: skip
    assert '<a href="#schema-AudienceSpec">AudienceSpec</a>' in create
    assert "<b>201</b> Created" in create
    assert '<a href="#schema-CampaignOut">CampaignOut</a>' in create
    assert "<b>422</b>" in create
    assert "whose user is an admin or a campaigner" in create
    curl = html.unescape(re.search(r"<pre><code>(curl .*?)</code></pre>", create, re.S).group(1))  # type: ignore[union-attr]
    assert "-X POST" in curl
    assert curl.rstrip().endswith('"$API/campaigns"')
    body = json.loads(curl.split("-d '", 1)[1].rsplit("' \\", 1)[0])
    assert {"name", "subject", "body", "audience"} <= set(body)


def test_types_and_examples_follow_the_schemas() -> None:
    """Types read as words with named schemas kept apart for links; an example fills every
    writable field, stops at a schema that contains itself, and skips read-only fields."""
    components = {
        "Node": {"type": "object", "properties": {
            "id": {"type": "integer", "readOnly": True},
            "name": {"type": "string", "maxLength": 10},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "when": {"type": ["string", "null"], "format": "date-time"},
        }},
    }  # fmt: skip
    words = type_of({"type": "array", "items": {"$ref": "#/components/schemas/Node"}})
    assert [(p.text, p.schema) for p in words] == [("array of ", None), ("Node", "Node")]
    assert "".join(p.text for p in type_of({"type": ["integer", "null"]})) == "integer or null"
    example = example_of({"$ref": "#/components/schemas/Node"}, components)
    assert example == {"name": "string", "children": [{}], "when": "2026-11-29T12:00:00Z"}
    ref = build({"info": {"title": "T", "version": "1"}, "paths": {}, "tags": [],
                 "components": {"schemas": components}})  # fmt: skip
    [node] = ref.schemas
    assert [f.name for f in node.fields] == ["id", "name", "children", "when"]
    assert node.fields[0].notes == ["read-only"]
    assert node.fields[1].notes == ["at most 10 characters"]
