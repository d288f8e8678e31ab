"""The representation schema check: what Keycloak's Admin REST API would reject (transcribed from
Keycloak's org.keycloak.representations.idm classes into representations.schema.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any


SCHEMA_FILE = Path(__file__).parent.with_name("representations.schema.json")

class RepresentationError(ValueError):
    """A representation counselkit built would be rejected by Keycloak (a bug here, never user input)."""

@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

def check(kind: str, representation: dict[str, Any]) -> dict[str, Any]:
    """Validate against the representation schema; returns the representation unchanged."""
    problem = _validate(representation, {"$ref": f"#/$defs/{kind}"}, "")
    if problem:
        where, message = problem
        raise RepresentationError(f"{kind} would be rejected by Keycloak at {where or '(top)'}: {message}")
    return representation

_JSON_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}

def _validate(value: Any, rule: dict[str, Any], where: str) -> tuple[str, str] | None:
    """The subset of JSON Schema the representation schema uses ($ref, type, properties, required, enum, items)."""
    if "$ref" in rule:
        rule = schema()["$defs"][rule["$ref"].rsplit("/", 1)[1]]
    expected = rule.get("type")
    if expected:
        python_type = _JSON_TYPES[expected]
        if not isinstance(value, python_type) or (expected == "integer" and isinstance(value, bool)):
            return where, f"expected {expected}, got {type(value).__name__}"
    if "enum" in rule and value not in rule["enum"]:
        return where, f"{value!r} is not one of {rule['enum']}"
    if expected == "object":
        properties = rule.get("properties", {})
        for name in rule.get("required", []):
            if name not in value:
                return where, f"'{name}' is required"
        for name, item in value.items():
            if name in properties:
                sub = properties[name]
            elif rule.get("additionalProperties") is False:
                return f"{where}/{name}", f"unknown field '{name}'"
            elif isinstance(rule.get("additionalProperties"), dict):
                sub = rule["additionalProperties"]
            else:
                continue
            found = _validate(item, sub, f"{where}/{name}")
            if found:
                return found
    if expected == "array" and "items" in rule:
        for i, item in enumerate(value):
            found = _validate(item, rule["items"], f"{where}/{i}")
            if found:
                return found
    return None
