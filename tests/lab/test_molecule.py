"""Every role's molecule scenario (default/delegated driver): converge, idempotence, verify.

One pytest test per role, so a failing role is named; nothing is skipped. The scenarios share the session's lab
(create runs `counselkit lab up --hosts 4`, which reuses a healthy lab; destroy leaves it up). Each starts from a
reset host (`counselkit lab reset HOST`: a fresh copy of the image), so a scenario passes alone and in any order
and brings its own prerequisites (its prepare.yml / converge.yml), never those an earlier scenario left.

The selected scenarios run two at a time, one on each of the suite's two hosts (tests/support.py LAB_HOSTS
"molecule" and "molecule_b"; molecule.yml's platform is $COUNSELKIT_MOLECULE_HOST): a scenario spends about half
its time waiting on its host, so two at once take about 40 % of the time one after the other on a 2-core machine.
They start as soon as the session's lab is up (tests/lab/head_start.py), in the background, and the tests here
wait for their results; suites that look at every lab host wait until the scenarios are done (`lab_at_rest`).
"""

from __future__ import annotations

import os
import queue
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.checks.molecule_env import prepare
from tests.lab import head_start
from tests.support import LAB_HOSTS, environment_kept

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Longest first (CI durations: hardening ~250 s, synapse ~225 s, the others ~170 s), so the two hosts finish close
# together.
ROLES = ["hardening", "synapse", "nginx", "backup", "keycloak", "postgresql"]
HOSTS = (LAB_HOSTS["molecule"], LAB_HOSTS["molecule_b"])
SCENARIO_TIMEOUT = 1800  # seconds for one `molecule test`
# Molecule keeps each scenario's state (created, prepared) in ~/.ansible/tmp/molecule.<hash of the role's directory
# name>.default, across runs and clones: after an interrupted run it says "prepared", the next run skips prepare.yml
# and converges a reset host without its prerequisites. Each scenario gets a fresh state directory instead.
STATE_LEFT_OVER = ("Skipping, instances already created", "Skipping, instances already prepared")
RESET_MARKER = "/root/.counselkit-before-reset"


@dataclass(frozen=True)
class ScenarioRun:
    role: str
    host: str
    reset_problem: str  # empty when the host was reset as it should be
    returncode: int
    output: str


def _environment(lab, directory: Path, host: str) -> dict[str, str]:
    """The scenario environment for one host (tests/checks/molecule_env.py): its own tenants file and vault."""
    env = {**os.environ, **prepare(directory, host)}
    if lab.s3 is not None:  # the backup role needs the storage provider's keys: the lab's S3 server
        from counselkit.demo import prepare_secrets

        with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):  # the vault opens in-process; the session's stays
            os.environ["COUNSELKIT_VAULT_PASSWORD_FILE"] = env["COUNSELKIT_VAULT_PASSWORD_FILE"]
            prepare_secrets(Path(env["COUNSELKIT_TENANTS"]), lab.s3.access_key, lab.s3.secret_key)
    return env


def _reset(lab, name: str) -> str:
    """The host as the lab's image has it: whatever an earlier scenario (or anything else) installed is gone. A
    marker written before the reset must be gone after it, so a reset that did nothing is reported."""
    from counselkit.lab import lab_reset, ssh

    host = lab.host(name)
    if ssh.run(host, f"touch {RESET_MARKER}").returncode != 0:
        return f"{name}: could not write the reset marker"
    with head_start.HOST_RESETS:  # a test looking at every host (lab_at_rest) is not running meanwhile
        lab_reset(name)
        if ssh.run(host, f"test ! -e {RESET_MARKER}").returncode != 0:
            return f"{name} was not reset"
    return ""


def _run_scenario(lab, role: str, hosts: queue.Queue, envs: dict[str, dict[str, str]], state_dir: Path) -> ScenarioRun:
    host = hosts.get()  # a host no other scenario is using
    try:
        problem = _reset(lab, host)
        if problem:
            return ScenarioRun(role, host, problem, -1, "")
        # COUNSELKIT_LAB_SESSION: create.yml checks this host only, not the whole lab the other suites are using
        env = {**envs[host], "MOLECULE_EPHEMERAL_DIRECTORY": str(state_dir / role), "COUNSELKIT_LAB_SESSION": "1"}
        try:
            result = subprocess.run(["molecule", "test"], cwd=REPO / "roles" / role, env=env,
                                    capture_output=True, text=True, timeout=SCENARIO_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            return ScenarioRun(role, host, "", -1, f"timed out after {SCENARIO_TIMEOUT} s\n{error.stdout or ''}")
        return ScenarioRun(role, host, "", result.returncode, result.stdout + result.stderr)
    finally:
        hosts.put(host)


def start_scenarios(session: pytest.Session, lab, factory: pytest.TempPathFactory) \
        -> tuple[list[Future[ScenarioRun]], dict[str, Future[ScenarioRun]]]:
    """The scenarios this session selected (all six, or the one run alone), started on the two hosts. The
    environments (counselkit prepare, the vault's S3 keys) are made here, in the calling thread; the threads only
    reset hosts and run molecule."""
    selected = {item.callspec.params["role"] for item in head_start.selected_in(session, __name__)
                if hasattr(item, "callspec")}
    workdir = factory.mktemp("molecule")
    envs = {host: _environment(lab, workdir / host, host) for host in HOSTS}
    free_hosts: queue.Queue[str] = queue.Queue()
    for host in HOSTS:
        free_hosts.put(host)
    pool = ThreadPoolExecutor(max_workers=len(HOSTS), thread_name_prefix="molecule")
    runs = {role: pool.submit(_run_scenario, lab, role, free_hosts, envs, workdir / "state")
            for role in ROLES if role in selected}
    pool.shutdown(wait=False)  # the submitted scenarios run on; head_start.finish() waits for them
    return list(runs.values()), runs


# Started by the `lab` fixture as soon as the lab is up (tests/lab/head_start.py): the scenarios run on their own
# two hosts while pytest goes through the other suites.
head_start.register(__name__, start_scenarios)


@pytest.fixture(scope="module")
def scenario_runs(request, lab, tmp_path_factory) -> dict[str, Future[ScenarioRun]]:
    runs = head_start.take(__name__)
    if runs is None:  # no head start was made (e.g. the lab fixture came from elsewhere)
        _, runs = start_scenarios(request.session, lab, tmp_path_factory)
    return runs


@pytest.mark.parametrize("role", ROLES)
def test_molecule_scenario(role, scenario_runs):
    run = scenario_runs[role].result()
    assert not run.reset_problem, run.reset_problem
    assert run.returncode == 0, f"molecule test of roles/{role} on {run.host} failed:\n{run.output[-6000:]}"
    left_over = [line for line in run.output.splitlines() if any(text in line for text in STATE_LEFT_OVER)]
    assert not left_over, f"roles/{role}: a step was skipped on state from an earlier run: {left_over}"
