"""What the lab's leak check (tests/checks/leaks.py) looks for: every secret, PEM keys by their key lines only
(the certificate is public), each database role's verifier keys, and nothing short enough to match by chance."""

from __future__ import annotations

from counselkit import layout
from counselkit.pgscram import verifier_keys
from counselkit.plan import load_plan
from counselkit.secrets import generate, wanted_secrets
from counselkit.tls import split_bundle
from tests.checks.leaks import MIN_PATTERN, found_in, secret_patterns
from tests.support import EXAMPLE


class Store:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def refs(self) -> list[str]:
        return sorted(self.values)

    def get(self, ref: str) -> str:
        return self.values[ref]

    def has(self, ref: str) -> bool:
        return ref in self.values


def test_every_secret_and_verifier_key_is_looked_for_by_its_reference() -> None:
    plan = load_plan(EXAMPLE)
    values = {ref: generate(kind, plan.platform.domain if kind == "ca" else None) for ref, kind in wanted_secrets(plan)}
    values[plan.platform_secrets["backup_s3_access_key"]] = "short"  # too short to grep for without false hits
    patterns = secret_patterns(Store(values), plan)
    labels = set(patterns.values())
    assert labels >= set(values) - {plan.platform_secrets["backup_s3_access_key"]}
    assert all(len(p) >= MIN_PATTERN and "\n" not in p for p in patterns)
    key, cert = split_bundle(values[plan.platform_secrets["internal_ca"]])
    assert not any(p in cert for p in patterns)  # the public certificate is no secret
    assert all(p in key for p, label in patterns.items() if label == plan.platform_secrets["internal_ca"])
    tenant = plan.hosts[0].tenants[0]
    stored_key, server_key = verifier_keys(tenant.db_user, values[tenant.secrets["synapse_db_password"]])
    assert patterns[stored_key] == f"StoredKey of {tenant.db_user}'s SCRAM verifier"
    assert patterns[server_key] == f"ServerKey of {tenant.db_user}'s SCRAM verifier"
    assert any(label.endswith(f"{layout.KEYCLOAK_DB_USER}'s SCRAM verifier") for label in labels)
    some = values[tenant.secrets["form_secret"]]
    assert found_in(f"log line ... {some} ...", patterns) == [tenant.secrets["form_secret"]]
    assert found_in("nothing secret here", patterns) == []
