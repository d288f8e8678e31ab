"""`counselkit access report`: table, JSON, CSV, seats, and a clear failure when Keycloak is unreachable."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.access import commands
from counselkit.keycloak import provision
from counselkit.keycloak.admin import KeycloakUnavailable
from counselkit.plan import load_plan
from tests.support import example_data, write_yaml
from tests.unit.test_keycloak_provision import FakeAdmin, secret


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "tenants.yaml", example_data())


@pytest.fixture
def admin(tenants_file: Path) -> FakeAdmin:
    fake = FakeAdmin()
    provision.provision_host(fake, load_plan(tenants_file), "node1", secret)
    fake.change_current_realm("skf-husum")
    for n in range(5):
        uid = fake.create_user({"username": f"berater{n}", "enabled": True, "email": f"b{n}@skf.example"})
        if n < 2:
            fake.data["skf-husum"]["credentials"][uid] = [{"type": "password"}, {"type": "otp"}]
    fake.change_current_realm("master")
    return fake


def opener_for(fake: FakeAdmin):
    @contextlib.contextmanager
    def opener(plan, host, password, ssh_options=(), url=None):
        assert password == "admin-pw"
        yield fake
    return opener


def test_gather_and_formats(tenants_file: Path, admin: FakeAdmin) -> None:
    report = commands.gather(load_plan(tenants_file), "admin-pw", opener=opener_for(admin))
    by_slug = {a.slug: a for a in report}
    husum = by_slug["skf-husum"]
    assert (husum.seats_used, husum.seats_licensed, husum.over_seats, husum.otp_completed) == (5, 4, 1, 2)
    assert by_slug["awo-kiel"].seats_used == 0 and len(by_slug["awo-kiel"].accounts) == 1  # the org admin

    text = commands.table(report)
    assert "seats used 5 of 4 licensed: OVER by 1" in text
    assert "b.jensen" in text and "org admin" in text

    data = json.loads(json.dumps([a.to_dict() for a in report]))
    husum_json = next(t for t in data if t["tenant"] == "skf-husum")
    assert husum_json["over_seats"] == 1
    assert [a["otp"] for a in husum_json["accounts"] if a["username"].startswith("berater")] == [True, True, False, False, False]

    rows = list(csv.DictReader(io.StringIO(commands.to_csv(report))))
    assert {r["tenant"] for r in rows} == {"awo-kiel", "diakonie-luebeck", "skf-husum"}
    org = next(r for r in rows if r["username"] == "b.jensen")
    assert (org["role"], org["counts_as_seat"], org["otp"]) == ("org_admin", "false", "false")


def test_gather_selects_tenants(tenants_file: Path, admin: FakeAdmin) -> None:
    report = commands.gather(load_plan(tenants_file), "admin-pw", tenants=("awo-kiel",), opener=opener_for(admin))
    assert [a.slug for a in report] == ["awo-kiel"]
    with pytest.raises(Exception, match="no tenant nope"):
        commands.gather(load_plan(tenants_file), "admin-pw", tenants=("nope",), opener=opener_for(admin))


def test_missing_realm_is_reported(tenants_file: Path) -> None:
    report = commands.gather(load_plan(tenants_file), "admin-pw", opener=opener_for(FakeAdmin()))
    assert all(a.realm_missing for a in report)
    assert "REALM MISSING" in commands.table(report)


class FakeStore:
    def get(self, ref: str) -> str:
        return "admin-pw"


def test_cli_unreachable_keycloak_exits_2(tenants_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("counselkit.secrets.SecretStore.open", classmethod(lambda cls, f: FakeStore()))

    def unreachable(*args, **kwargs):
        raise KeycloakUnavailable("host node1: ssh to root@203.0.113.10:22 failed: Connection timed out")

    monkeypatch.setattr(commands, "gather", unreachable)
    result = CliRunner().invoke(commands.access, ["report", str(tenants_file)])
    assert result.exit_code == commands.EXIT_UNREACHABLE
    assert "ssh to root@203.0.113.10:22 failed" in result.output
    assert "admin-pw" not in result.output


def test_cli_formats_and_overrun_exit(tenants_file: Path, admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("counselkit.secrets.SecretStore.open", classmethod(lambda cls, f: FakeStore()))
    real = commands.gather
    monkeypatch.setattr(commands, "gather", lambda plan, pw, tenants, ssh, url: real(plan, pw, tenants, ssh, url, opener=opener_for(admin)))
    runner = CliRunner()
    as_json = runner.invoke(commands.access, ["report", str(tenants_file), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)[2]["tenant"] == "skf-husum"
    as_csv = runner.invoke(commands.access, ["report", str(tenants_file), "--csv"])
    assert as_csv.exit_code == 0 and as_csv.output.startswith("tenant,name,host")
    assert runner.invoke(commands.access, ["report", str(tenants_file), "--json", "--csv"]).exit_code == 2
    strict = runner.invoke(commands.access, ["report", str(tenants_file), "--fail-on-overrun"])
    assert strict.exit_code == commands.EXIT_OVER_SEATS and "OVER by 1" in strict.output
