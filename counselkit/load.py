"""Load tenants.yaml into the model, reporting every problem of the file at once with file, line and field."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .model import Inventory, Platform, Tenant
from .model.checks import cross_checks, warnings
from .problems import InputError, Problem
from .yamlsource import Loc, YamlDocument, read_yaml

TOP_LEVEL = ("platform", "tenants")


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate; raise InputError listing all problems, never anything else."""
    path = Path(path)
    doc = read_yaml(path)
    inventory, problems = validate_document(doc)
    if problems:
        raise InputError(problems)
    assert inventory is not None
    return inventory


def validate_document(doc: YamlDocument) -> tuple[Inventory | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem((), "the file must be a mapping with the keys 'platform' and 'tenants'")]
    problems = [doc.problem((key,), f"unknown top-level key '{key}'; allowed: platform, tenants")
                for key in data if key not in TOP_LEVEL]
    platform = _validate(Platform, data.get("platform"), ("platform",), doc, problems)
    tenants = _validate_tenants(data.get("tenants"), doc, problems)
    base_dir = doc.path.parent
    raw_tenants = data.get("tenants") if isinstance(data.get("tenants"), list) else []
    raw_slugs = {i: e["slug"] for i, e in enumerate(raw_tenants) if isinstance(e, dict) and isinstance(e.get("slug"), str)}
    findings = cross_checks(platform, tenants, base_dir, raw_slugs)
    problems += [doc.problem(loc, message) for loc, message in findings]
    if problems or platform is None:
        return None, problems
    inventory = Inventory.model_construct(platform=platform, tenants=[tenants[i] for i in sorted(tenants)])
    inventory._source = doc.path.resolve()
    inventory._warnings = [doc.problem(loc, f"warning: {message}") for loc, message in warnings(platform, tenants)]
    return inventory, []


def _validate_tenants(raw: Any, doc: YamlDocument, problems: list[Problem]) -> dict[int, Tenant]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        problems.append(doc.problem(("tenants",), "must be a list of tenant entries (each starting with '- slug: ...')"))
        return {}
    tenants: dict[int, Tenant] = {}
    for index, entry in enumerate(raw):
        tenant = _validate(Tenant, entry, ("tenants", index), doc, problems)
        if tenant is not None:
            tenants[index] = tenant
    return tenants


def _validate(model: type[BaseModel], raw: Any, loc: Loc, doc: YamlDocument, problems: list[Problem]) -> Any:
    if raw is None:
        problems.append(doc.problem(loc, "required section is missing"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            error_loc = tuple(error["loc"])
            problems.append(doc.problem(loc + error_loc, _message(model, error_loc, error)))
        return None
    except (RecursionError, ValueError, TypeError) as exc:  # pathological input the validator cannot even walk
        problems.append(doc.problem(loc, f"cannot be read: {exc}"))
        return None


def _message(model: type[BaseModel], loc: Loc, error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = allowed_fields(model, loc[:-1])
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown field '{loc[-1]}'{hint}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    value = error.get("input")
    if kind not in ("value_error",) and isinstance(value, (str, int)) and len(str(value)) <= 60:
        message += f" (got {value!r})"
    return message


def allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a mapping at `loc` below `model` accepts, for 'unknown field' hints."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or typing.get_origin(current) is dict:
            current = _element_type(current)
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else annotation
            if len(members) != 1:
                return annotation
        else:
            return annotation


def _element_type(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[-1] if args else None
