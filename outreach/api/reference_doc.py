"""The API reference read from our own OpenAPI document, for a server-rendered page.

`build(doc)` turns the document that flask-smorest generates (/api/v1/openapi.json) into plain
data for templates/api/reference.html: the operations grouped by tag in the document's order,
each with its parameters, request body, responses, who may call it and a curl example with a
JSON body made from the schema; and every named schema with its fields. Nothing is written by
hand here: a new endpoint, field or description shows on the page as soon as it is in the
document. Types are kept as small structures (`TypeRef`) so the template can link a named schema
to its section without building HTML in Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/schemas/"
# Tags are named after their blueprints (`api_contacts`); the page shows the resource's name.
TAG_TITLES = {"api_letters": "Language versions and test sends"}
WRITE_ROLES = "a token of scope `write` whose user is an admin or a campaigner"
EXAMPLE_DEPTH = 4


@dataclass(frozen=True)
class TypePart:
    """One word of a type: plain text, or the name of a schema that has its own section."""

    text: str
    schema: str | None = None


@dataclass(frozen=True)
class Field:
    name: str
    location: str  # query, path, header, body field
    type: list[TypePart]
    required: bool
    description: str
    notes: list[str]  # constraints, default, read-only


@dataclass(frozen=True)
class Body:
    content_type: str
    type: list[TypePart]
    fields: list[Field]  # of the schema, when it is a named or inline object
    example: str  # JSON, or a multipart form in curl terms


@dataclass(frozen=True)
class Reply:
    status: str
    description: str
    content_type: str
    type: list[TypePart]


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field]
    body: Body | None
    responses: list[Reply]
    access: str
    curl: str


@dataclass(frozen=True)
class Tag:
    anchor: str
    name: str
    title: str
    description: str
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class Schema:
    anchor: str
    name: str
    description: str
    fields: list[Field]
    example: str


@dataclass(frozen=True)
class Reference:
    title: str
    version: str
    description: str
    auth: str
    tags: list[Tag]
    schemas: list[Schema]


def schema_anchor(name: str) -> str:
    return "schema-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref[len(REF_PREFIX) :] if ref.startswith(REF_PREFIX) else None


def type_of(schema: dict[str, Any]) -> list[TypePart]:
    """A schema's type in words: `integer or null`, `array of [ContactIn]`, `one of: a, b`."""
    name = _ref_name(schema)
    if name:
        return [TypePart(name, name)]
    for combiner, word in (("oneOf", "one of"), ("anyOf", "any of"), ("allOf", "all of")):
        if combiner in schema:
            parts = [TypePart(word + ": ")]
            for i, option in enumerate(schema[combiner]):
                parts += ([TypePart(", ")] if i else []) + type_of(option)
            return parts
    kinds = schema.get("type", "object" if "properties" in schema else "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    parts = []
    for i, kind in enumerate(kinds):
        if i:
            parts.append(TypePart(" or "))
        if kind == "array":
            parts.append(TypePart("array of "))
            parts += type_of(schema.get("items", {})) if "items" in schema else [TypePart("any")]
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            parts.append(TypePart("object of "))
            parts += type_of(schema["additionalProperties"])
        else:
            fmt = schema.get("format")
            parts.append(TypePart(f"{kind} ({fmt})" if fmt and kind != "null" else kind))
    return parts


def _notes(schema: dict[str, Any]) -> list[str]:
    notes = []
    if "enum" in schema:
        notes.append("one of " + ", ".join(json.dumps(v) for v in schema["enum"]))
    for key, words in (("minimum", "at least"), ("maximum", "at most"),
                       ("minLength", "at least {} character"),
                       ("maxLength", "at most {} character"), ("minItems", "at least {} item"),
                       ("maxItems", "at most {} item"), ("pattern", "matches")):  # fmt: skip
        if key in schema:
            value = schema[key]
            plural = "s" if value != 1 else ""
            notes.append(words.format(value) + plural if "{}" in words else f"{words} {value}")
    if schema.get("default") is not None:
        notes.append("default " + json.dumps(schema["default"]))
    if schema.get("readOnly"):
        notes.append("read-only")
    if schema.get("writeOnly"):
        notes.append("write-only")
    if "example" in schema:
        notes.append("e.g. " + json.dumps(schema["example"]))
    return notes


def fields_of(schema: dict[str, Any], components: dict[str, Any]) -> list[Field]:
    """The properties of an object schema (a named one followed by its reference)."""
    name = _ref_name(schema)
    if name:
        schema = components.get(name, {})
    required = set(schema.get("required", []))
    return [
        Field(prop, "body", type_of(sub), prop in required, sub.get("description", ""), _notes(sub))
        for prop, sub in schema.get("properties", {}).items()
    ]


def example_of(
    schema: dict[str, Any], components: dict[str, Any], depth: int = 0, within: tuple[str, ...] = ()
) -> Any:
    """A plausible value of `schema`: its example or default, else one made from its type
    (a schema met again inside itself, or nested too deep, is shown empty)."""
    name = _ref_name(schema)
    if name:
        if name in within or depth >= EXAMPLE_DEPTH:
            return {}
        return example_of(components.get(name, {}), components, depth + 1, (*within, name))
    if "example" in schema:
        return schema["example"]
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    for combiner in ("oneOf", "anyOf", "allOf"):
        if schema.get(combiner):
            return example_of(schema[combiner][0], components, depth, within)
    kinds = schema.get("type", "object" if "properties" in schema else "string")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"] or ["null"]
    kind = kinds[0]
    if kind == "object":
        return {
            prop: example_of(sub, components, depth, within)
            for prop, sub in schema.get("properties", {}).items()
            if not sub.get("readOnly")
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth, within)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {"date-time": "2026-11-29T12:00:00Z", "date": "2026-11-29",
            "email": "name@example.org", "uri": "https://example.org/hook",
            "url": "https://example.org/hook"}.get(schema.get("format", ""), "string")  # fmt: skip


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _parameter(param: dict[str, Any]) -> Field:
    schema = param.get("schema", {})
    return Field(
        param["name"],
        param.get("in", "query"),
        type_of(schema),
        bool(param.get("required")),
        param.get("description", ""),
        _notes(schema),
    )


def _access(method: str, tag: str, security: list[Any] | None) -> str:
    if security == []:
        return "No token needed."
    who = "Admins only: " + WRITE_ROLES.replace("an admin or a campaigner", "an admin")
    if tag == "api_webhooks":
        return who if method != "get" else "Admins only: any token of an admin."
    if method == "get":
        return "Any token (scope `read` or `write`)."
    return f"Needs {WRITE_ROLES}."


def _curl(method: str, path: str, body: Body | None) -> str:
    url = "$API" + re.sub(r"^/api/v1", "", path)
    url = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("id") else "x", url)
    lines = ['curl -H "Authorization: Bearer $TOKEN"']
    if method != "get":
        lines[0] += f" -X {method.upper()}"
    if body is not None and body.content_type == "application/json":
        lines.append('  -H "Content-Type: application/json"')
        lines.append("  -d '" + body.example.replace("'", "'\\''") + "'")
    elif body is not None:
        lines.append("  " + body.example)
    lines.append(f'  "{url}"')
    return " \\\n".join(lines)


def _body(request_body: dict[str, Any], components: dict[str, Any]) -> Body | None:
    for content_type, media in request_body.get("content", {}).items():
        schema = media.get("schema", {})
        if content_type == "multipart/form-data":
            parts = fields_of(schema, components)
            example = " ".join(
                f"-F {p.name}=@file.csv"
                if p.type[0].text.endswith("(binary)")
                else f"-F {p.name}=..."
                for p in parts
            )
        else:
            example = _json(example_of(schema, components))
        return Body(content_type, type_of(schema), fields_of(schema, components), example)
    return None


def _responses(responses: dict[str, Any], all_responses: dict[str, Any]) -> list[Reply]:
    found = []
    for status, reply in responses.items():
        name = reply.get("$ref", "").rpartition("/")[2]
        reply = all_responses.get(name, reply) if name else reply
        content: dict[str, dict[str, Any]] = reply.get("content", {})
        content_type, media = next(iter(content.items()), ("", {}))
        found.append(
            Reply(
                status,
                reply.get("description", ""),
                content_type,
                type_of(media["schema"]) if media.get("schema") else [],
            )
        )
    # Success first, then errors by status; "default" (any other error) last.
    return sorted(found, key=lambda r: (r.status == "default", r.status))


def _auth(doc: dict[str, Any]) -> str:
    schemes = doc.get("components", {}).get("securitySchemes", {})
    bearer = any(s.get("scheme") == "bearer" for s in schemes.values())
    return (
        "Every operation needs a personal API token, made in the console (API tokens), sent as "
        "`Authorization: Bearer otk_…`."
        if bearer
        else "See each operation."
    )


def build(doc: dict[str, Any]) -> Reference:
    """The page's content from the OpenAPI document."""
    components = doc.get("components", {}).get("schemas", {})
    all_responses = doc.get("components", {}).get("responses", {})
    tags = {
        t["name"]: Tag(
            "tag-" + t["name"],
            t["name"],
            TAG_TITLES.get(
                t["name"], t["name"].removeprefix("api_").replace("_", " ").capitalize()
            ),
            t.get("description", ""),
        )
        for t in doc.get("tags", [])
    }
    for path, item in doc.get("paths", {}).items():
        shared = [_parameter(p) for p in item.get("parameters", [])]
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag_name = (op.get("tags") or ["other"])[0]
            tag = tags.setdefault(tag_name, Tag("tag-" + tag_name, tag_name, tag_name, ""))
            summary, _, more = op.get("summary", "").partition("\n")
            body = _body(op.get("requestBody", {}), components)
            tag.operations.append(
                Operation(
                    anchor=f"op-{method}-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-"),
                    method=method.upper(),
                    path=path,
                    summary=summary,
                    description=" ".join((more + " " + op.get("description", "")).split()),
                    parameters=shared + [_parameter(p) for p in op.get("parameters", [])],
                    body=body,
                    responses=_responses(op.get("responses", {}), all_responses),
                    access=_access(method, tag_name, op.get("security")),
                    curl=_curl(method, path, body),
                )
            )
    schemas = [
        Schema(
            schema_anchor(name),
            name,
            schema.get("description", ""),
            fields_of(schema, components),
            _json(example_of(schema, components)),
        )
        for name, schema in sorted(components.items())
    ]
    info = doc.get("info", {})
    return Reference(
        info.get("title", "API"),
        info.get("version", ""),
        info.get("description", ""),
        _auth(doc),
        [t for t in tags.values() if t.operations],
        schemas,
    )
