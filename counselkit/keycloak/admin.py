"""A logged-in Admin REST API client (python-keycloak) for one host's Keycloak, through an SSH tunnel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import layout
from ..plan import HostPlan, Plan
from .tunnel import SshTarget, TunnelError, ssh_tunnel

if TYPE_CHECKING:
    from keycloak import KeycloakAdmin


class KeycloakUnavailable(Exception):
    """Keycloak cannot be reached or refuses the admin login; the message says which and where."""


def admin_client(base_url: str, password: str, timeout: int = 30) -> "KeycloakAdmin":
    """Log in to the master realm as the counselkit admin (password from the secrets store, in-process only)."""
    from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
    from keycloak.exceptions import KeycloakAuthenticationError, KeycloakConnectionError, KeycloakError

    connection = KeycloakOpenIDConnection(
        server_url=base_url.rstrip("/") + "/", username=layout.KEYCLOAK_ADMIN_USER, password=password,
        realm_name="master", user_realm_name="master", client_id="admin-cli", timeout=timeout,
    )
    admin = KeycloakAdmin(connection=connection)
    try:
        admin.get_realm("master")  # forces the login now, so failures surface here with a clear message
    except KeycloakAuthenticationError:
        raise KeycloakUnavailable(f"Keycloak at {base_url} refused the admin login of '{layout.KEYCLOAK_ADMIN_USER}' "
                                  "(is platform.keycloak_admin_password in the secrets store the one it was installed with?)") from None
    except KeycloakConnectionError as exc:
        raise KeycloakUnavailable(f"Keycloak at {base_url} is not reachable: {type(exc).__name__}") from None
    except KeycloakError as exc:
        raise KeycloakUnavailable(f"Keycloak at {base_url} answered {exc.response_code}: is it up and healthy?") from None
    return admin


@contextlib.contextmanager
def host_admin(plan: Plan, host: HostPlan, admin_password: str, ssh_options: tuple[str, ...] = (),
               url: str | None = None) -> Iterator["KeycloakAdmin"]:
    """An admin client for the Keycloak on `host`: via `url` if given, else through an SSH tunnel to it."""
    if url:
        yield admin_client(url, admin_password)
        return
    target = SshTarget(host.address, host.ssh_port, host.ssh_user, ssh_options)
    try:
        with ssh_tunnel(target, plan.keycloak_http_port) as port:
            yield admin_client(f"http://127.0.0.1:{port}{layout.KEYCLOAK_PATH}", admin_password)
    except TunnelError as exc:
        raise KeycloakUnavailable(f"host {host.name}: {exc}") from None
