"""`counselkit access disable/enable` against a real Synapse (issue 13 point 5): a disabled counsellor's sessions end
at once, not when the session lifetime runs out.

Uses the example site the lab fixtures deploy once (tests/lab/conftest.py `example_site`; the example has no Keycloak
archive, so the site is Synapse with password login) and runs the command as an operator would, over the same SSH
path. The Keycloak half needs a running Keycloak, i.e. the release archive (see test_keycloak_lab.py).
"""

from __future__ import annotations

import json
import os
import secrets as random_source
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from counselkit import layout
from counselkit.lab import ssh
from tests.lab.test_keycloak_lab import SKIP_REASON, find_archive
from tests.support import REPO
from tests.unit.test_access_revoke import LOCALPARTS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"

# Run by the tenant's user with Synapse's venv: what synapse/handlers/oidc.py JinjaOidcMappingProvider does with the
# user mapping of our rendered oidc.yaml — its Jinja environment (finalize None -> ""), the template rendered with
# the userinfo and stripped, then Synapse's own map_username_to_mxid_localpart (without the provider's network setup).
MAPPER = """
import json, sys
from jinja2 import Environment
from synapse.types import map_username_to_mxid_localpart
from synapse.util.templates import _localpart_from_email_filter
data = json.load(sys.stdin)
env = Environment(finalize=lambda thing: thing if thing is not None else "")
env.filters.update({"localpart_from_email": _localpart_from_email_filter})
template = env.from_string(data["config"]["localpart_template"])
print(json.dumps([map_username_to_mxid_localpart(template.render(user={"sub": "x", "preferred_username": name}).strip())
                  for name in data["names"]]))
"""


def run(host: Any, command: str, stdin: str = "", check: bool = True) -> str:
    """A shell command on the host; passwords and tokens go in on standard input, never in its argv."""
    result = subprocess.run(ssh.ssh_argv(host, [command]), input=stdin, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def site(example_site: dict[str, Any]) -> dict[str, Any]:
    return example_site


def counselkit_access(site: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    options = [f"--ssh-option={o}" for o in ssh.ssh_options(site["host"])]
    return subprocess.run([sys.executable, "-m", "counselkit.cli", "access", *args, "--tenants", str(site["tenants"]),
                           *options], cwd=REPO, env={**os.environ, **site["env"]}, capture_output=True, text=True,
                          timeout=300)


def client(host: Any, port: int, method: str, path: str, body: dict[str, Any] | None = None,
           token: str | None = None) -> tuple[int, dict[str, Any]]:
    """One client API request on the host's loopback; curl reads URL, token and body from stdin."""
    config = [f'url = "http://127.0.0.1:{port}{path}"', f'request = "{method}"', 'write-out = "\\n%{http_code}"',
              "silent"]
    if token:
        config.append(f'header = "Authorization: Bearer {token}"')
    if body is not None:
        config.append("data-binary = " + json.dumps(json.dumps(body)))
    out = run(host, "curl --config -", stdin="\n".join(config) + "\n")
    raw, _, status = out.rpartition("\n")
    return int(status), json.loads(raw or "{}")


def password_login(host: Any, port: int, user: str, password: str) -> tuple[int, dict[str, Any]]:
    return client(host, port, "POST", "/_matrix/client/v3/login",
                  {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})


def test_tunnel_reaches_loopback_although_sshd_forwards_nothing(site: dict[str, Any]) -> None:
    """Keycloak provisioning and the access report reach Keycloak on the host's loopback through
    counselkit.keycloak.tunnel. The hardened sshd refuses port forwarding, so the tunnel relays through SSH sessions
    instead: shown here with the tenant's Synapse (also loopback only), a GET and a POST with a body, twice."""
    import urllib.error
    import urllib.request

    from counselkit.keycloak.tunnel import SshTarget, ssh_tunnel
    from counselkit.plan import load_plan

    host = site["host"]
    assert "allowtcpforwarding no" in run(host, "sshd -T").lower()
    port = load_plan(site["tenants"]).tenant(TENANT).synapse_port
    target = SshTarget(host.address, host.ssh_port, host.ssh_user, tuple(ssh.ssh_options(host)))
    with ssh_tunnel(target, port) as local:
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/_matrix/client/versions", timeout=30) as answer:
                assert answer.status == 200 and "versions" in json.loads(answer.read())
            login = urllib.request.Request(f"http://127.0.0.1:{local}/_matrix/client/v3/login", method="POST",
                                           data=json.dumps({"type": "m.login.password", "password": "wrong",
                                                            "identifier": {"type": "m.id.user", "user": "nobody"}}).encode(),
                                           headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(login, timeout=30)
            assert refused.value.code == 403 and json.loads(refused.value.read())["errcode"] == "M_FORBIDDEN"


def test_synapse_has_its_oidc_dependencies(site: dict[str, Any]) -> None:
    """Keycloak SSO needs Synapse's "oidc" extra (authlib): without it Synapse refuses to start once the OIDC
    provider is configured. Synapse's own dependency check, run in the deployed venv."""
    user = layout.tenant_names(TENANT)["unix_user"]
    out = run(site["host"], f"cd / && runuser -u {user} -- {layout.SYNAPSE_VENV}/bin/python -c "
                            + shlex.quote("from synapse.util.check_dependencies import check_requirements; "
                                          "check_requirements('oidc'); import synapse.handlers.oidc; print('oidc ok')"))
    assert out.strip().endswith("oidc ok"), out


def test_localpart_mapping_is_synapses(site: dict[str, Any]) -> None:
    from counselkit.access.revoke import matrix_localpart
    from counselkit.keycloak import render
    from counselkit.plan import load_plan

    plan = load_plan(site["tenants"])
    oidc = yaml.safe_load(render.synapse_oidc(plan, plan.tenant(TENANT), "unused"))
    config = oidc["oidc_providers"][0]["user_mapping_provider"]["config"]
    names = [name for name, _ in LOCALPARTS] + ["Zoë.O'Brien", "ﬁnn", "A\u00a0B", "-x.", "日本"]
    script = Path("/tmp/counselkit-revoke-mapper.py")
    run(site["host"], f"printf %s {shlex.quote(MAPPER)} > {script} && chmod 644 {script}")
    user = layout.tenant_names(TENANT)["unix_user"]
    out = run(site["host"], f"runuser -u {user} -- {layout.SYNAPSE_VENV}/bin/python {script}",
              stdin=json.dumps({"config": config, "names": names}))
    assert json.loads(out.strip().splitlines()[-1]) == [matrix_localpart(name) for name in names]


def test_disable_ends_sessions_at_once_and_enable_lets_the_user_back(site: dict[str, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    host = site["host"]
    names = layout.tenant_names(TENANT)
    from counselkit.plan import load_plan
    from counselkit.secrets import SecretStore

    plan = load_plan(site["tenants"])
    tenant = plan.tenant(TENANT)
    port = tenant.synapse_port
    localpart, password = f"lab.counsellor-{random_source.token_hex(3)}", random_source.token_urlsafe(18)
    run(host, f"{layout.SYNAPSE_VENV}/bin/register_new_matrix_user -c {names['config_dir']}/homeserver.yaml "
              f"-u {localpart} --password-file /dev/stdin --no-admin http://127.0.0.1:{port} >/dev/null", stdin=password)
    status, login = password_login(host, port, localpart, password)
    assert status == 200, login
    token = login["access_token"]
    status, whoami = client(host, port, "GET", "/_matrix/client/v3/account/whoami", token=token)
    assert (status, whoami["user_id"]) == (200, f"@{localpart}:{tenant.domain}")

    # As the Keycloak username would be written (upper case): mapped to the account's localpart.
    disabled = counselkit_access(site, "disable", TENANT, localpart.upper())
    assert disabled.returncode == 0, disabled.stderr
    assert f"@{localpart}:{tenant.domain} locked, 2 device(s)" in disabled.stdout  # the registration's and the login's
    assert "Keycloak: not part of this site" in disabled.stdout

    status, refused = client(host, port, "GET", "/_matrix/client/v3/account/whoami", token=token)
    assert status == 401 and refused["errcode"] in ("M_UNKNOWN_TOKEN", "M_USER_LOCKED"), refused
    status, refused = password_login(host, port, localpart, password)
    assert (status, refused.get("errcode")) == (401, "M_USER_LOCKED"), refused

    again = counselkit_access(site, "disable", TENANT, localpart)  # idempotent
    assert again.returncode == 0 and "0 device(s)" in again.stdout, again.stderr

    enabled = counselkit_access(site, "enable", TENANT, localpart)
    assert enabled.returncode == 0 and "unlocked" in enabled.stdout, enabled.stderr
    status, login = password_login(host, port, localpart, password)
    assert status == 200, login
    status, _ = client(host, port, "GET", "/_matrix/client/v3/account/whoami", token=login["access_token"])
    assert status == 200

    # No secret in the command's output; the temporary admins are deactivated and hold no token.
    for name, value in site["env"].items():
        monkeypatch.setenv(name, value)
    store = SecretStore.open(site["tenants"])
    for secret in (store.get(ref) for ref in tenant.secrets.values()):
        for result in (disabled, again, enabled):
            assert secret not in result.stdout + result.stderr
    sql = ("select count(*), count(*) filter (where deactivated = 1), "
           "(select count(*) from access_tokens where user_id like '@counselkit-ops-%') "
           "from users where name like '@counselkit-ops-%'")
    counts = run(host, f"cd / && runuser -u postgres -- psql -X -d {names['db_name']} -tAc {shlex.quote(sql)}").strip()
    total, deactivated, tokens = (int(n) for n in counts.split("|"))
    assert total >= 3 and deactivated == total and tokens == 0, counts


def test_disable_of_an_unknown_account_changes_nothing(site: dict[str, Any]) -> None:
    result = counselkit_access(site, "disable", TENANT, f"nobody-{random_source.token_hex(3)}")
    assert result.returncode == 0 and "never logged in" in result.stdout, result.stderr
    sql = "select count(*) from users where name like '@nobody-%'"
    names = layout.tenant_names(TENANT)
    assert run(site["host"], f"cd / && runuser -u postgres -- psql -X -d {names['db_name']} -tAc {shlex.quote(sql)}").strip() == "0"


def test_keycloak_part_disables_the_account_and_ends_its_sessions() -> None:
    if find_archive() is None:
        pytest.skip(SKIP_REASON)
    pytest.fail("the Keycloak half of access disable has no lab check yet: with the archive, extend this test "
                "(deploy with Keycloak as test_keycloak_lab.full does, disable an account, check enabled=false and "
                "no sessions via the admin API)")
