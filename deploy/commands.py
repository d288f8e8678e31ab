"""Shell command lines the pyinfra deploys run, built from plan data: every value is one shell word.

Every value that comes from tenants.yaml, the lock file, the secrets file or the host itself goes through
`shlex.quote` here (via `argv`), so a value such as "a@b.example`reboot`" stays one argument and is never run.
Pure functions, no pyinfra host: tests/unit/test_deploy_commands.py builds them with hostile values.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable



def argv(*words: str) -> str:
    """One command line whose words are exactly `words` for sh (each quoted)."""
    return shlex.join(words)


def only_upgrade(packages: Iterable[str]) -> str:
    # Package names come from the host's apt output; "--" ends apt's options before them.
    return ("DEBIAN_FRONTEND=noninteractive " +
            argv("apt-get", "install", "-y", "-q", "--only-upgrade", "-o", "Dpkg::Options::=--force-confold", "--",
                 *packages))


def create_venv(venv: str) -> str:
    return argv("python3", "-m", "venv", venv)


def pip_install_hashed(venv: str, requirements: str) -> str:
    """Exactly the pinned, hashed set of the requirements file; nothing resolved or fetched beyond it."""
    return argv(f"{venv}/bin/pip", "install", "--no-cache-dir", "--quiet", "--require-hashes", "--no-deps",
                "--only-binary=:all:", "-r", requirements)


def as_user(user: str, *words: str) -> str:
    """Run as `user` from / (the tenant user may not read root's working directory)."""
    return "cd / && " + argv("runuser", "-u", user, "--", *words)


def generate_signing_key(venv: str, key_path: str, user: str) -> str:
    """Synapse's key generator runs as the tenant's user (no Synapse code as root) and prints the key; root writes
    it (the config dir is not writable for the tenant) through a temporary name, so no empty key is left behind."""
    temp = f"{key_path}.new"
    return (f"cd / && umask 077 && {argv('runuser', '-u', user, '--', f'{venv}/bin/generate_signing_key')} "
            f"> {shlex.quote(temp)} && {argv('mv', '-f', temp, key_path)}")


def chown(path: str, user: str, group: str) -> str:
    return argv("chown", f"{user}:{group}", "--", path)


def chmod(path: str, mode: str) -> str:
    return argv("chmod", mode, "--", path)


def remove_admin(user: str) -> str:
    """End the account's processes and sessions, then delete it with its home (authorized_keys included)."""
    # --force: userdel refuses an account that still has a process, and pkill may race a new login
    return f"{argv('pkill', '-KILL', '-u', user)}; {argv('userdel', '--force', '--remove', user)}"


def keycloak_unpack(release: str, archive: str, sha256: str, data_dir: str) -> str:
    """Unless `release` is unpacked: check the archive's SHA-256 again on the host, unpack it beside the release
    directory, make it root's and read-only, link its data dir, then rename it into place."""
    partial = f"{release}.partial"
    q = shlex.quote
    return (f"test -x {q(release + '/bin/kc.sh')} || ("
            f"echo {q(f'{sha256}  {archive}')} | sha256sum --check --quiet - && "
            f"rm -rf {q(partial)} && mkdir -p {q(partial)} && "
            f"tar -xzf {q(archive)} -C {q(partial)} --strip-components=1 --no-same-owner && "
            f"chown -R root:root {q(partial)} && chmod -R go-w {q(partial)} && "
            f"rm -rf {q(partial + '/data')} && ln -s {q(data_dir)} {q(partial + '/data')} && "
            f"mv {q(partial)} {q(release)})")
