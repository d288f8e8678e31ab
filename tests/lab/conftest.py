"""The `lab` fixture: one lab (the hosts of tests/support.py LAB_HOSTS) shared by every lab test in the session.

It reuses a healthy lab that is already up, otherwise brings one up, and takes
it down at the end unless --reuse-lab was given: the teardown runs after the last
lab test in any order, and checks that `lab down` left nothing behind
(tests/checks/lab_down.py; a leftover is an error of that teardown).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

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
def lab_at_rest(lab: LabState) -> Iterator[LabState]:
    """The lab with every host up for the whole test: for tests that look at every host (status, SSH to each,
    processes), which a host being reset by a molecule scenario would fail. A reset under way is waited for, and no
    other starts until the test is over (head_start.HOST_RESETS); the rest of the background work goes on."""
    with head_start.HOST_RESETS:
        yield lab


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


@pytest.fixture(scope="session")
def example_deploys(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The example tenants deployed once per session by each engine: pyinfra onto the parity suite's pyinfra host
    (node3), Ansible onto its Ansible host (node8), at the same time (tests/lab/engines.py deploy_example_pair, which
    says what both get: one vault, the lab's SMTP sink, the backup component).

    The parity suite compares the two hosts and runs both engines a second time (drift repair); the suites that need
    a deployed site and change nothing the others check (privacy, session revocation, the counselling suites) use
    the pyinfra host through `example_site`. One first deploy per engine for all of them, in any order."""
    from tests.lab.engines import deploy_example_pair

    hosts = {engine: lab.host(LAB_HOSTS[f"parity_{engine}"]) for engine in ("pyinfra", "ansible")}
    return deploy_example_pair(lab, tmp_path_factory.mktemp("example-deploys"), hosts, bucket="counselkit-parity")


KEYCLOAK_PAIR = "keycloak pair"  # its head start (tests/lab/head_start.py)
KEYCLOAK_PAIR_MODULES = ("tests.lab.test_parity", "tests.lab.test_keycloak_lab")  # the suites that use it
# Two of the example's three tenants: what Keycloak adds per tenant (OIDC files, a realm path on every tenant's name)
# shows with two as with three, and each tenant more is a Synapse more on both hosts for every run of the pair.
KEYCLOAK_PAIR_TENANTS = ("awo-kiel", "diakonie-luebeck")


def prepare_keycloak_pair(lab: LabState, factory: pytest.TempPathFactory):
    from tests.lab.engines import KEYCLOAK_UP_TO_ARCHIVE, prepare_example_pair

    hosts = {"pyinfra": lab.host(LAB_HOSTS["keycloak"]), "ansible": lab.host(LAB_HOSTS["keycloak_ansible"])}
    return prepare_example_pair(lab, factory.mktemp("keycloak-deploys"), hosts, bucket="counselkit-parity-keycloak",
                                choices=KEYCLOAK_UP_TO_ARCHIVE, slugs=KEYCLOAK_PAIR_TENANTS)


def start_keycloak_pair(session: pytest.Session, lab: LabState, factory: pytest.TempPathFactory):
    """The pair's files and vault made here (main thread); its first runs in the background, after the work started
    before it (the molecule scenarios), so that no more than two deploys compete with the foreground's."""
    from concurrent.futures import ThreadPoolExecutor, wait

    prepared = prepare_keycloak_pair(lab, factory)
    earlier = head_start.started_before()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keycloak-pair")
    runs = pool.submit(lambda: (wait(earlier), prepared.run())[1])
    pool.shutdown(wait=False)
    return [runs], (prepared, runs)


head_start.register(KEYCLOAK_PAIR, start_keycloak_pair, KEYCLOAK_PAIR_MODULES, last=True)


@pytest.fixture(scope="session")
def keycloak_deploys(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two example tenants with Keycloak configured (tests.support.KEYCLOAK_PIN), deployed once per session by each
    engine up to Keycloak's release archive, which no reachable registry has: pyinfra onto node7, Ansible onto
    node10, at the same time, in the background from the moment the lab is up (start_keycloak_pair). Their Synapses
    log in through a Keycloak that is not there (SSO only), so no suite that needs a counsellor's password login may
    use these hosts: the Keycloak suite and the parity suite do."""
    started = head_start.take(KEYCLOAK_PAIR)
    if started is None:  # no head start was made (the lab fixture came up before these suites were selected)
        from tests.lab.engines import deploy_prepared_pair

        return deploy_prepared_pair(prepare_keycloak_pair(lab, tmp_path_factory))
    prepared, runs = started
    return prepared.deployed(runs.result())


@pytest.fixture(scope="session")
def example_site(example_deploys: dict[str, object]) -> dict[str, object]:
    """The pyinfra half of `example_deploys` (node3): the host, its tenants file and the environment naming the
    vault password. The environment of the session is left as it was."""
    hosts, tenants = example_deploys["hosts"], example_deploys["tenants"]
    return {"host": hosts["pyinfra"], "tenants": tenants["pyinfra"], "env": example_deploys["env"]}
