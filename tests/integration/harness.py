"""Render the real host-side backup script and job files into a scratch root and run them on this machine."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from counselkit import layout
from counselkit.backup.jobs import BackupJob, find_job
from counselkit.backup.render import Credentials, common_context, job_files, render
from counselkit.plan import Plan
from tests.integration.servers import Postgres


@dataclass
class LocalJob:
    job: BackupJob
    script: Path
    root: Path
    media_dir: Path
    signing_key: Path
    status_file: Path
    lock_file: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(self.script), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, cwd="/")


def install(plan: Plan, label: str, root: Path, pg: Postgres, credentials: Credentials, password: str,
            unix_user: str = "nobody") -> LocalJob:
    """The script and one job (tenant slug or _platform/<host>) as deploy/backup.py installs them, under `root`."""
    config_root, state_root = root / "etc/backup", root / "var/backup"
    roots = {"config_root": str(config_root), "state_root": str(state_root), "lock_dir": str(state_root / "locks"),
             "host_lock": str(state_root / "locks/host.lock")}
    script = root / "counselkit-backup"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(render("counselkit-backup.sh.j2", **(common_context(plan) | roots)))
    job = find_job(plan, label)
    slug = job.name
    media, key = root / f"data/{slug}/media", root / f"etc/synapse/{slug}/signing.key"
    names = {k: v.replace(layout.BACKUP_CONFIG_ROOT, str(config_root)).replace(layout.BACKUP_STATE_ROOT, str(state_root))
             for k, v in layout.backup_job_names(slug).items()}
    paths = (str(media), str(key)) if job.kind == "tenant" else ()
    job = replace(job, paths=paths, unix_user=unix_user if job.kind == "tenant" else None, unit=None, names=names)
    for f in job_files(plan, job, credentials, password):
        path = Path(f.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.content)
        path.chmod(int(f.mode, 8))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_")) and "proxy" not in k.lower()}
    env |= pg.env
    return LocalJob(job, script, root, media, key, Path(names["status_file"]), Path(names["lock_file"]), env)
