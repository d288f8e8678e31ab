"""Privacy defaults on a deployed host (issue 13 points 5, 6, 7, 11, 14), checked against the real Synapse and nginx.

Deploys the example tenants onto the parity suite's pyinfra host — the same tenants.yaml that suite deploys there
(tests/support.py example_on), so either suite may run first. What is checked is what the installed release made of
the configuration (Synapse's own config parser), not the text of the files; the unit tests check the text.
"""

from __future__ import annotations

import json
import secrets as random_source
import shlex
import subprocess
from pathlib import Path

import pytest

from counselkit import layout, policy
from counselkit.lab import ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TENANT = "awo-kiel"
MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}

# Run by the tenant's user on the host: the values Synapse parsed from the tenant's config directory.
PROBE = """
import json, sys
from synapse.config.homeserver import HomeServerConfig
c = HomeServerConfig.load_config("probe", ["--config-path", sys.argv[1]])
print(json.dumps({
    "session_lifetime": c.registration.session_lifetime,
    "nonrefreshable": c.registration.nonrefreshable_access_token_lifetime,
    "refreshable": c.registration.refreshable_access_token_lifetime,
    "refresh_token_lifetime": c.registration.refresh_token_lifetime,
    "user_ips_max_age": c.server.user_ips_max_age,
    "delete_stale_devices_after": c.server.delete_stale_devices_after,
    "presence_enabled": c.server.presence_enabled,
    "user_directory": c.userdirectory.user_directory_search_enabled,
    "push_include_content": c.push.push_include_content,
    "local_media_lifetime": c.media.media_retention_local_media_lifetime_ms,
    "federation_domain_whitelist": sorted(c.federation.federation_domain_whitelist or {}),
    "key_servers": [k.server_name for k in c.key.key_servers],
}))
"""


def ms(duration: str) -> int:
    return int(duration[:-1]) * MS[duration[-1]]


@pytest.fixture(scope="module")
def deployed(example_site):
    return example_site["host"]


def run(host, command: str, stdin: str = "") -> str:
    """A shell command on the host; passwords go in on standard input, never in its argv."""
    result = subprocess.run(ssh.ssh_argv(host, [command]), input=stdin, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


def https(host, path: str, *curl_args: str, times: int = 1) -> list[str]:
    """curl on the host through nginx (the tenant's name resolved to loopback), `times` requests in a row (one SSH
    round trip, so that a rate limit sees them as a burst); the status codes."""
    domain = f"{TENANT}.beratung.example.org"
    args = " ".join(shlex.quote(a) for a in curl_args)
    curl = (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --resolve {domain}:443:127.0.0.1 {args} "
            f"{shlex.quote(f'https://{domain}{path}')}")
    return run(host, f"for i in $(seq {times}); do {curl}; done").split()


def test_synapse_runs_with_the_privacy_config(deployed):
    names = layout.tenant_names(TENANT)
    run(deployed, f"systemctl is-active {names['unit']}")
    script = Path("/tmp/counselkit-privacy-probe.py")
    run(deployed, f"printf %s {shlex.quote(PROBE)} > {script} && chmod 644 {script}")
    # With the unit's module path: loading the config imports the counselling module it names (modules:).
    parsed = json.loads(run(deployed, f"runuser -u {names['unix_user']} -- env PYTHONPATH={layout.SYNAPSE_MODULE_ROOT} "
                                      f"{layout.SYNAPSE_VENV}/bin/python {script} {names['config_dir']}"
                            ).strip().splitlines()[-1])
    assert parsed["session_lifetime"] == parsed["nonrefreshable"] == ms(policy.SYNAPSE_SESSION_LIFETIME)
    assert parsed["refresh_token_lifetime"] == ms(policy.SYNAPSE_SESSION_LIFETIME)
    assert parsed["refreshable"] == ms(policy.SYNAPSE_ACCESS_TOKEN_LIFETIME)
    assert parsed["user_ips_max_age"] == parsed["delete_stale_devices_after"] == policy.LOG_RETENTION_DAYS * MS["d"]
    assert parsed["local_media_lifetime"] == ms(policy.MESSAGE_RETENTION)
    assert parsed["presence_enabled"] is False and parsed["user_directory"] is False
    assert parsed["push_include_content"] is False
    assert parsed["federation_domain_whitelist"] == [] and parsed["key_servers"] == []


def test_client_api_answers_through_nginx_and_the_log_keeps_no_query_string(deployed):
    assert https(deployed, "/_matrix/client/versions") == ["200"]
    marker = random_source.token_hex(8)
    https(deployed, f"/_matrix/client/versions?access_token=tok{marker}&code=code{marker}")
    log = run(deployed, "tail -n 50 /var/log/nginx/access.log")
    assert "/_matrix/client/versions" in log
    leaked = run(deployed, f"grep -rc {marker} /var/log/nginx/ || true")
    assert all(line.endswith(":0") for line in leaked.split()), leaked


def test_login_paths_are_rate_limited_and_other_paths_not(deployed):
    statuses = https(deployed, "/_matrix/client/v3/login", "-X", "POST", "-d", "{}", times=policy.NGINX_AUTH_BURST + 10)
    assert "429" in statuses and statuses[0] != "429", statuses
    assert https(deployed, "/_matrix/client/versions", times=policy.NGINX_AUTH_BURST + 10) == ["200"] * (policy.NGINX_AUTH_BURST + 10)


def test_access_tokens_expire(deployed):
    names = layout.tenant_names(TENANT)
    port = json.loads(run(deployed, f"{layout.SYNAPSE_VENV}/bin/python -c "
                                    f"\"import yaml,json;print(json.dumps(yaml.safe_load(open('{names['config_dir']}/homeserver.yaml'))['listeners'][0]['port']))\""))
    user, password = f"privacy-{random_source.token_hex(4)}", random_source.token_urlsafe(18)
    run(deployed, f"{layout.SYNAPSE_VENV}/bin/register_new_matrix_user -c {names['config_dir']}/homeserver.yaml "
                  f"-u {user} --password-file /dev/stdin --no-admin http://127.0.0.1:{port} >/dev/null", stdin=password)
    for refresh, lifetime in ((False, policy.SYNAPSE_SESSION_LIFETIME), (True, policy.SYNAPSE_ACCESS_TOKEN_LIFETIME)):
        body = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                           "password": password, "refresh_token": refresh})
        answer = json.loads(run(deployed, f"curl -sS -X POST --data-binary @- http://127.0.0.1:{port}/_matrix/client/v3/login",
                                stdin=body))
        assert 0 < answer["expires_in_ms"] <= ms(lifetime), answer.keys()
        assert ("refresh_token" in answer) is refresh
