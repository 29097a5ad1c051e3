"""Turning the OpenAPI document into what the docs page shows: operations with flat
tables of parameters and fields (nested fields as ``sender.email``, lists as ``items[].id``),
so the page needs no JavaScript and no CDN (the server may be offline)."""
from __future__ import annotations

from flask_babel import gettext as _

from portal.api.errors import CODES

METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 4


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    if "allOf" in node:
        merged = {"type": "object", "properties": {}, "required": []}
        for part in node["allOf"]:
            part = _resolve(spec, part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged
    return node


def _type(schema: dict) -> str:
    kind = schema.get("type", "object")
    text = " | ".join(kind) if isinstance(kind, list) else kind
    if schema.get("format"):
        text += f" ({schema['format']})"
    return text


def _constraints(schema: dict) -> str:
    parts = []
    if "enum" in schema:
        values = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        parts.append(_("one of: %(values)s", values=values))
    for key, label in (("minimum", "≥"), ("maximum", "≤"), ("minLength", _("min length")),
                       ("maxLength", _("max length")), ("default", _("default")), ("pattern", _("pattern"))):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    return "; ".join(parts)


def fields(spec: dict, schema: dict, prefix: str = "", depth: int = 0) -> list[dict]:
    """Rows of (name, type, required, description, constraints) for a schema, nested flattened."""
    schema = _resolve(spec, schema)
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(spec, prop)
        full = f"{prefix}{name}"
        rows.append({"name": full, "type": _type(prop), "required": name in required,
                     "description": prop.get("description", ""), "constraints": _constraints(prop)})
        if depth >= MAX_DEPTH:
            continue
        if prop.get("type") == "object" or "properties" in prop:
            rows += fields(spec, prop, full + ".", depth + 1)
        elif prop.get("type") == "array" and "items" in prop:
            items = _resolve(spec, prop["items"])
            if "properties" in items:
                rows += fields(spec, items, full + "[].", depth + 1)
    return rows


def _schema_name(node: dict | None) -> str:
    ref = ((node or {}).get("content", {}).get("application/json", {}).get("schema", {})).get("$ref", "")
    return ref.rsplit("/", 1)[-1]


def describe(spec: dict) -> dict:
    operations = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = []
            for status, response in op["responses"].items():
                resolved = _resolve(spec, response)
                responses.append({"status": status, "description": resolved.get("description", ""),
                                  "schema": _schema_name(resolved) or _schema_name(response)})
            body = op.get("requestBody")
            operations.append({
                "id": op["operationId"], "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tag": (op.get("tags") or [""])[0],
                "signed": op.get("security") == [],
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                                "type": _type(p["schema"]), "description": p.get("description", ""),
                                "constraints": _constraints(p["schema"])} for p in op.get("parameters", [])],
                "body": fields(spec, body["content"]["application/json"]["schema"]) if body else [],
                "body_schema": _schema_name(body),
                "responses": responses,
            })
    shown = ("Ticket", "TicketDetail", "Message", "TicketPage", "SearchResults", "ChatResult", "Error")
    return {"info": spec["info"], "server": spec["servers"][0]["url"], "operations": operations,
            "schemas": [(name, fields(spec, spec["components"]["schemas"][name])) for name in shown],
            "chat_payload": fields(spec, spec["components"]["schemas"]["ChatMessage"]),
            "error_codes": sorted({(code, status) for status, code in CODES.items()} | {("validation_error", 400)},
                                  key=lambda pair: (pair[1], pair[0]))}
