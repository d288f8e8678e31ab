"""Both engines run from the tests: pyinfra (deploy/runner.run_deploy) and Ansible (site.yml with the lab's
inventory plugin), and both at once onto two hosts, each watched by a `ps` sampler (tests/checks/leaks.py)."""

from __future__ import annotations

import json
import os
import secrets as random_source
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from counselkit.lab import LabHost, LabState
from deploy.runner import DeployResult, run_deploy, run_prepare
from tests.checks import leaks

REPO = Path(__file__).resolve().parents[2]


def run_ansible(tenants_file: Path, env: dict[str, str], timeout: float = 3600,
                extra_vars: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    prepared = run_prepare(tenants_file, env)  # as for pyinfra: the inventory plugin only reads
    if prepared.returncode != 0:
        return prepared
    bindir = str(Path(sys.executable).parent)
    full_env = {**os.environ, **env, "COUNSELKIT_TENANTS": str(tenants_file),
                "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    extra = ["-e", json.dumps(extra_vars)] if extra_vars else []
    return subprocess.run([f"{bindir}/ansible-playbook", "-i", "inventories/ansible/lab", *extra, "site.yml"], cwd=REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@dataclass
class EngineRuns:
    """One pyinfra run and one Ansible run, made at the same time, with what `ps` showed on each host meanwhile."""

    pyinfra: DeployResult
    ansible: subprocess.CompletedProcess[str]
    process_args: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ansible_output(self) -> str:
        return self.ansible.stdout + self.ansible.stderr

    def failures(self, pyinfra_host: str, ansible_host: str) -> list[str]:
        problems = []
        if self.pyinfra.returncode != 0:
            problems.append(f"pyinfra deploy onto {pyinfra_host} failed:\n{self.pyinfra.output[-5000:]}")
        if self.ansible.returncode != 0:
            problems.append(f"ansible-playbook onto {ansible_host} failed:\n{self.ansible_output[-5000:]}")
        return problems


@dataclass(frozen=True)
class EngineChoices:
    """What the two engines are told beyond the tenants file, the same choice in each one's terms."""

    pyinfra_data: dict[str, str] = field(default_factory=dict)  # deploy/site.py's host data (--data key=value)
    ansible_vars: dict[str, object] = field(default_factory=dict)  # site.yml's extra vars (-e)
    keycloak: bool = False  # the tenants file configures Keycloak (tests.support.KEYCLOAK_PIN)


# Keycloak up to its release archive, which no reachable registry has (deploy/site.py, roles/keycloak)
KEYCLOAK_UP_TO_ARCHIVE = EngineChoices({"keycloak_with_archive": "false"}, {"keycloak_with_archive": False},
                                       keycloak=True)


def run_both(pyinfra_host: LabHost, pyinfra_tenants: Path, ansible_host: LabHost, ansible_tenants: Path,
             env: dict[str, str], choices: EngineChoices = EngineChoices()) -> EngineRuns:
    """pyinfra onto one host and Ansible onto the other, concurrently: the two hosts share nothing, and most of a
    deploy is waiting on the host (package installs, restarts), so the pair takes little more than the slower one.
    Both files are prepared first, one after the other: they share one secrets vault next to them."""
    for tenants in (pyinfra_tenants, ansible_tenants):
        prepared = run_prepare(tenants, env)
        if prepared.returncode != 0:
            raise AssertionError(f"counselkit prepare --tenants {tenants} failed:\n{prepared.stdout}{prepared.stderr}")
    samplers = {host.name: leaks.ProcessSampler(host) for host in (pyinfra_host, ansible_host)}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            pyinfra = pool.submit(run_deploy, pyinfra_tenants, extra_env=env, data=choices.pyinfra_data)
            ansible = pool.submit(run_ansible, ansible_tenants, env, extra_vars=choices.ansible_vars)
            runs = EngineRuns(pyinfra.result(), ansible.result())
    finally:
        args = {name: sampler.stop() for name, sampler in samplers.items()}
    runs.process_args = args
    return runs


@dataclass
class PreparedPair:
    """Two tenants files with their one vault, ready for both engines' first runs (prepare_example_pair)."""

    hosts: dict[str, LabHost]  # by engine
    tenants: dict[str, Path]  # by engine
    env: dict[str, str]  # the vault password file
    choices: EngineChoices

    def run(self) -> EngineRuns:
        """Both engines' first runs, at the same time: only subprocesses and SSH (a background thread may run it)."""
        return run_both(self.hosts["pyinfra"], self.tenants["pyinfra"], self.hosts["ansible"],
                        self.tenants["ansible"], self.env, self.choices)

    def deployed(self, runs: EngineRuns) -> dict[str, Any]:
        """What the session's fixtures give: hosts, tenants (files by engine), env, runs, choices; fails on a failed run."""
        problems = runs.failures(self.hosts["pyinfra"].name, self.hosts["ansible"].name)
        assert not problems, "\n".join(problems)
        return {"hosts": self.hosts, "tenants": self.tenants, "env": self.env, "runs": runs, "choices": self.choices}


def prepare_example_pair(lab: LabState, workdir: Path, hosts: dict[str, LabHost], bucket: str,
                         choices: EngineChoices = EngineChoices(),
                         slugs: tuple[str, ...] | None = None) -> PreparedPair:
    """The example tenants (all on one host) for pyinfra onto hosts["pyinfra"] and Ansible onto hosts["ansible"].
    Both tenants files sit in `workdir`, so they share one secrets vault (same passwords and certificates), and each
    names its host's real address, so SSH from the control side reaches it; their mail relay (platform.smtp) is the
    lab's SMTP sink; the lab's S3 keys are in the vault, so both deploy the backup component too. With
    `choices.keycloak` the example configures Keycloak (tests.support.KEYCLOAK_PIN); with `slugs`, only those of
    the example's tenants are kept (in the example's order).
    Runs in the calling thread: the vault is opened in-process, with the environment restored afterwards."""
    from counselkit.demo import prepare_secrets
    from tests.support import KEYCLOAK_PIN, environment_kept, example_on, write_yaml

    password_file = workdir / "vault-password"
    password_file.write_text(random_source.token_urlsafe(24) + "\n")
    password_file.chmod(0o600)
    env = {"COUNSELKIT_VAULT_PASSWORD_FILE": str(password_file)}
    tenants = {}
    for engine, host in hosts.items():
        data = example_on(host.name)
        data["platform"]["hosts"][0]["address"] = host.address
        if slugs is not None:
            data["tenants"] = [entry for entry in data["tenants"] if entry["slug"] in slugs]
            assert {entry["slug"] for entry in data["tenants"]} == set(slugs), f"not all of {slugs} in the example"
        if lab.smtp_sink is not None:  # the relay for the counsellors' notices (and both engines' egress rule)
            data["platform"]["smtp"] = {"host": lab.smtp_sink.host, "port": lab.smtp_sink.port, "starttls": False,
                                        "from_address": f"noreply@{data['platform']['domain']}"}
        if choices.keycloak:
            data["platform"].setdefault("artifacts", {})["keycloak"] = dict(KEYCLOAK_PIN)
        # a bucket of its own per pair: node1's example (the restore drill) keeps its repositories to itself; the two
        # hosts share the vault, so each tenant's repository (bucket/slug) and its password are the same on both,
        # which restic allows (nothing here runs a backup: the timers' first run is the next night)
        data["platform"]["backup"]["bucket"] = bucket
        tenants[engine] = write_yaml(workdir / f"{host.name}.tenants.yaml", data)
    with environment_kept("COUNSELKIT_VAULT_PASSWORD_FILE"):
        os.environ.update(env)  # the vault is opened in-process here
        assert lab.s3 is not None, "the lab has no S3 server"
        # one vault for both files, made ready as `counselkit demo` does it: `counselkit prepare`, then the lab S3
        # server's keys
        prepare_secrets(tenants["pyinfra"], lab.s3.access_key, lab.s3.secret_key)
    return PreparedPair(hosts, tenants, env, choices)


def deploy_example_pair(lab: LabState, workdir: Path, hosts: dict[str, LabHost], bucket: str,
                        choices: EngineChoices = EngineChoices(), slugs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """prepare_example_pair, then both first runs, here and now."""
    return deploy_prepared_pair(prepare_example_pair(lab, workdir, hosts, bucket, choices, slugs))


def deploy_prepared_pair(prepared: PreparedPair) -> dict[str, Any]:
    """Both first runs of a prepared pair, here and now."""
    return prepared.deployed(prepared.run())
