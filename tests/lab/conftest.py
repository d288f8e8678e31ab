"""The `lab` fixture: one lab (the hosts of tests/support.py LAB_HOSTS) shared by every lab test in the session.

It reuses a healthy lab that is already up, otherwise brings one up, and takes
it down at the end unless --reuse-lab was given: the teardown runs after the last
lab test in any order, and checks that `lab down` left nothing behind
(tests/checks/lab_down.py; a leftover is an error of that teardown).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from counselkit.lab import LabHost, LabState, lab_down, lab_up, load_state, ssh
from tests.checks.lab_down import leftovers_after_down, problems_before_down
from tests.lab import head_start
from tests.support import LAB_HOST_COUNT, LAB_HOSTS

LAB_TEST_HOSTS = LAB_HOST_COUNT  # see tests/support.py LAB_HOSTS: which suite uses which host
TEST_HOST_NAMES = [LAB_HOSTS["example"], LAB_HOSTS["bare"]]


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Iterator[LabState]:
    state = load_state()
    if state is not None and len(state.hosts) < LAB_TEST_HOSTS:
        lab_down()
    # Health is judged by lab_up under the lab lock: a host being reset (`lab reset`, which holds the lock) is
    # waited for instead of being taken for a broken lab; a healthy lab is reused, a broken one made anew.
    state = lab_up(LAB_TEST_HOSTS)
    # suites with hosts of their own start in the background now (the molecule scenarios: tests/lab/head_start.py)
    head_start.begin(request.session, state, request.getfixturevalue("tmp_path_factory"))
    try:
        yield state
    finally:
        head_start.finish()  # never take the lab down under a running scenario
    if not request.config.getoption("--reuse-lab"):
        take_down_and_check(load_state() or state)


@pytest.fixture
def lab_at_rest(lab: LabState) -> LabState:
    """The lab with no background work running: for tests that look at every host (status, SSH to each), which a
    host being reset by a molecule scenario would fail. They wait here until the scenarios are done."""
    head_start.finish()
    return lab


def take_down_and_check(state: LabState) -> None:
    """`lab down` as the session's last step; fails (a teardown error) if it left anything but the image cache."""
    before = problems_before_down(state)
    lab_down()
    left = leftovers_after_down(state)
    if before or left:
        pytest.fail("lab down: " + "; ".join([*(f"before: {p}" for p in before), *(f"left behind: {p}" for p in left)]))


RunOn = Callable[[LabHost, str], str]


@pytest.fixture(scope="session")
def run_on(lab: LabState) -> RunOn:
    """run_on(host, "shell command") -> stdout; fails the test on a non-zero exit."""

    def run(host: LabHost, command: str, timeout: float = 600) -> str:
        try:
            result = ssh.run(host, command, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{host.name}: `{command}` timed out after {timeout} s")
        if result.returncode != 0:
            pytest.fail(f"{host.name}: `{command}` exited {result.returncode}\n"
                        f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-2000:]}")
        return result.stdout

    return run


@pytest.fixture(params=TEST_HOST_NAMES)
def lab_host(request: pytest.FixtureRequest, lab: LabState) -> LabHost:
    """Each lab test host in turn."""
    return lab.host(request.param)


@pytest.fixture(scope="session")
def example_secrets(lab: LabState):
    """The example tenants.yaml made deployable to the lab, as `counselkit demo` does it: a vault password,
    every generated secret, the lab's S3 credentials, and the backup bucket. Returns the secrets store."""
    from click.testing import CliRunner

    from counselkit.backup.commands import backup
    from counselkit.demo import ensure_vault_password, prepare_secrets
    from counselkit.secrets import SecretStore
    from tests.support import EXAMPLE

    assert lab.s3 is not None, "the lab has no S3 server"
    ensure_vault_password()
    prepare_secrets(EXAMPLE, lab.s3.access_key, lab.s3.secret_key)
    provisioned = CliRunner().invoke(backup, ["provision", "--file", str(EXAMPLE), "--lab"])
    assert provisioned.exit_code == 0, provisioned.output
    return SecretStore.open(EXAMPLE)


PARITY_BUCKET = "counselkit-parity"  # the example deploys' backup bucket on the lab's S3 server


def store_s3_keys(tenants: Path, env: dict[str, str], access_key: str, secret_key: str) -> None:
    """`counselkit prepare`, then the storage provider's keys (the lab S3 server's) in the vault the tenants file
    names, as an operator sets them with `counselkit secrets set`: the deploys then include the backup component."""
    from counselkit.plan import load_plan
    from counselkit.secrets import SecretStore
    from deploy.runner import run_prepare

    prepared = run_prepare(tenants, env)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    plan, store = load_plan(tenants), SecretStore.open(tenants)
    store.set(plan.platform_secrets["backup_s3_access_key"], access_key)
    store.set(plan.platform_secrets["backup_s3_secret_key"], secret_key)
    store.save()


@pytest.fixture(scope="session")
def example_deploys(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The example tenants deployed once per session by each engine: pyinfra onto the parity suite's pyinfra host
    (node3), Ansible onto its Ansible host (node8), at the same time (tests/lab/engines.py run_both). Both tenants
    files sit in one directory, so they share one secrets vault (same passwords and certificates), and each names
    its host's real address, so SSH from the control side reaches it; their mail relay (platform.smtp) is the lab's
    SMTP sink. The lab's S3 keys are in that vault, so both deploy the backup component (bucket PARITY_BUCKET).

    The parity suite compares the two hosts and runs both engines a second time (drift repair); the suites that need
    a deployed site and change nothing the others check (privacy, session revocation, the counselling suites) use
    the pyinfra host through `example_site`. One first deploy per engine for all of them, in any order."""
    import os
    import secrets as random_source

    from tests.lab.engines import run_both
    from tests.support import environment_kept, example_on, write_yaml

    workdir = tmp_path_factory.mktemp("example-deploys")
    password_file = workdir / "vault-password"
    password_file.write_text(random_source.token_urlsafe(24) + "\n")
    password_file.chmod(0o600)
    env = {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password_file)}
    hosts = {engine: lab.host(LAB_HOSTS[f"parity_{engine}"]) for engine in ("pyinfra", "ansible")}
    tenants = {}
    for engine, host in hosts.items():
        data = example_on(host.name)
        data["platform"]["hosts"][0]["address"] = host.address
        if lab.smtp_sink is not None:  # the relay for the counsellors' notices (and both engines' egress rule)
            data["platform"]["smtp"] = {"host": lab.smtp_sink.host, "port": lab.smtp_sink.port, "starttls": False,
                                        "from_address": f"noreply@{data['platform']['domain']}"}
        # a bucket of their own: node1's example (the restore drill) keeps its repositories to itself; the two hosts
        # share the vault, so each tenant's repository (bucket/slug) and its password are the same on both, which
        # restic allows (nothing here runs a backup: the timers' first run is the next night)
        data["platform"]["backup"]["bucket"] = PARITY_BUCKET
        tenants[engine] = write_yaml(workdir / f"{host.name}.tenants.yaml", data)
    with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):
        os.environ.update(env)  # the inventory, run in-process by some helpers, reads the vault password from here
        assert lab.s3 is not None, "the lab has no S3 server"
        # both engines deploy the backup component too (the parity suite compares it); one vault for both files
        store_s3_keys(tenants["pyinfra"], env, lab.s3.access_key, lab.s3.secret_key)
        runs = run_both(hosts["pyinfra"], tenants["pyinfra"], hosts["ansible"], tenants["ansible"], env)
    problems = runs.failures(hosts["pyinfra"].name, hosts["ansible"].name)
    assert not problems, "\n".join(problems)
    return {"hosts": hosts, "tenants": tenants, "env": env, "runs": runs}


@pytest.fixture(scope="session")
def example_site(example_deploys: dict[str, object]) -> dict[str, object]:
    """The pyinfra half of `example_deploys` (node3): the host, its tenants file and the environment naming the
    vault password. The environment of the session is left as it was."""
    hosts, tenants = example_deploys["hosts"], example_deploys["tenants"]
    return {"host": hosts["pyinfra"], "tenants": tenants["pyinfra"], "env": example_deploys["env"]}
