"""The check registry (each area module registers its checks here by name; the catalogue refers to them) and the
verdict helpers the areas share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from dataclasses import dataclass

from ..context import CheckContext, Finding, verdict

CheckFn = Callable[[CheckContext], Finding]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    statement: str  # one line: what the check looks at


CHECKS: dict[str, Check] = {}


def check(name: str, statement: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise ValueError(f"check {name} registered twice")
        CHECKS[name] = Check(name, fn, statement)
        return fn

    return register


def na(expected: str, found: str, reason: str) -> Finding:
    return Finding("na", expected, found, reason)


def no_tenants(expected: str) -> Finding:
    return na(expected, "no tenant is placed on this host", "not applicable: no tenants on this host")


def per_tenant(ctx: CheckContext, expected: str, probe: Callable[[Any], list[str]], found_ok: Callable[[Any], str]) -> Finding:
    if not ctx.tenants:
        return no_tenants(expected)
    problems, found = [], []
    for tenant in ctx.tenants:
        issues = probe(tenant)
        problems += [f"{tenant.domain}: {i}" for i in issues]
        found.append(f"{tenant.domain}: {found_ok(tenant) if not issues else '; '.join(issues)}")
    return verdict(problems, expected, "\n".join(found))
