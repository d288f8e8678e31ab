"""JSON schema of tenants.yaml for editors (yaml-language-server), generated from the model."""

from __future__ import annotations

import json

from .model import Inventory

SCHEMA_ID = "https://counselkit.example/tenants.schema.json"


def schema_json() -> str:
    schema = Inventory.model_json_schema(mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    schema["title"] = "counselkit tenants.yaml"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
