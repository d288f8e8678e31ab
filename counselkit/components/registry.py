"""Every component spec a host gets, by name: what the Ansible inventory plugin publishes as the hostvar
`counselkit_components` (deploy/ builds each spec where its @deploy runs). A new component adds its builder here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import Component, backup, base, keycloak, nginx, postgres, synapse

BUILDERS: tuple[Callable[[dict[str, Any]], dict[str, Component]], ...] = (
    base.components, postgres.components, synapse.components, nginx.components, keycloak.components,
    backup.components)


def host_components(vars: dict[str, Any]) -> dict[str, Component]:
    """name -> Component for a host's plan data (render.host_vars); names are unique across builders."""
    found: dict[str, Component] = {}
    for build in BUILDERS:
        for name, component in build(vars).items():
            if name in found:
                raise ValueError(f"component {name} declared twice")
            found[name] = component
    return found
