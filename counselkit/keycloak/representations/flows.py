"""Changes to Keycloak's authentication flows and required actions: OTP required, password update, e-mail check."""

from __future__ import annotations

from typing import Any

from .schema import RepresentationError, check
from .policy import OTP_AUTHENTICATOR


def required_action_update(current: dict[str, Any]) -> dict[str, Any] | None:
    """The required actions every realm needs enabled; CONFIGURE_TOTP is a default action for new users."""
    alias = current.get("alias")
    wanted = {"CONFIGURE_TOTP": (True, True), "UPDATE_PASSWORD": (True, None), "VERIFY_EMAIL": (True, None)}
    if alias not in wanted:
        return None
    enabled, default = wanted[alias]
    update = dict(current, enabled=enabled)
    if default is not None:
        update["defaultAction"] = default
    if update == current:
        return None
    return check("RequiredActionProviderRepresentation", update)

def otp_flow_changes(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Execution updates that make OTP always required in a copy of the built-in browser flow.

    `executions` is GET /authentication/flows/{alias}/executions (flat, with `level`). The copy of "browser"
    holds a conditional sub-flow with the OTP form; it becomes REQUIRED with its conditions DISABLED, so a user
    without OTP must set it up (CONFIGURE_TOTP) and nobody can log in with a password alone.
    """
    changes: list[dict[str, Any]] = []
    for i, execution in enumerate(executions):
        if execution.get("providerId") != OTP_AUTHENTICATOR:
            continue
        level = execution.get("level", 0)
        parent = _parent(executions, i)
        siblings = _children(executions, executions.index(parent)) if parent is not None else []
        if parent is not None and parent.get("requirement") != "REQUIRED":
            changes.append(dict(parent, requirement="REQUIRED"))
        for sibling in siblings:
            if sibling.get("level") == level and str(sibling.get("providerId", "")).startswith("conditional-") \
                    and sibling.get("requirement") != "DISABLED":
                changes.append(dict(sibling, requirement="DISABLED"))
        if execution.get("requirement") != "REQUIRED":
            changes.append(dict(execution, requirement="REQUIRED"))
    if not any(e.get("providerId") == OTP_AUTHENTICATOR for e in executions):
        raise RepresentationError("the browser flow copy has no OTP form; Keycloak's built-in flow changed")
    return [check("AuthenticationExecutionInfoRepresentation", c) for c in changes]

def _parent(executions: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    level = executions[index].get("level", 0)
    for j in range(index - 1, -1, -1):
        if executions[j].get("level", 0) < level:
            return executions[j] if executions[j].get("authenticationFlow") else None
    return None

def _children(executions: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    level = executions[index].get("level", 0)
    children = []
    for execution in executions[index + 1:]:
        if execution.get("level", 0) <= level:
            break
        children.append(execution)
    return children
