"""Both engines run from the tests: pyinfra (deploy/runner.run_deploy) and Ansible (site.yml with the lab's
inventory plugin), and both at once onto two hosts, each watched by a `ps` sampler (tests/checks/leaks.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from counselkit.lab import LabHost
from deploy.runner import DeployResult, run_deploy, run_prepare
from tests.checks import leaks

REPO = Path(__file__).resolve().parents[2]


def run_ansible(tenants_file: Path, env: dict[str, str], timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    prepared = run_prepare(tenants_file, env)  # as for pyinfra: the inventory plugin only reads
    if prepared.returncode != 0:
        return prepared
    bindir = str(Path(sys.executable).parent)
    full_env = {**os.environ, **env, "COUNSELKIT_TENANTS": str(tenants_file),
                "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    return subprocess.run([f"{bindir}/ansible-playbook", "-i", "inventories/ansible/lab", "site.yml"], cwd=REPO,
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


def run_both(pyinfra_host: LabHost, pyinfra_tenants: Path, ansible_host: LabHost, ansible_tenants: Path,
             env: dict[str, str]) -> EngineRuns:
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
            pyinfra = pool.submit(run_deploy, pyinfra_tenants, extra_env=env)
            ansible = pool.submit(run_ansible, ansible_tenants, env)
            runs = EngineRuns(pyinfra.result(), ansible.result())
    finally:
        args = {name: sampler.stop() for name, sampler in samplers.items()}
    runs.process_args = args
    return runs
