"""Looking for secret values where they must never be: deploy output, process argument lists, world-readable files.

Patterns are the secret values themselves (every reference in the secrets store), the private-key lines of PEM
bundles (their certificates are public), and the StoredKey/ServerKey of every database role's SCRAM verifier
(they allow an offline attack on the password). Findings name the secret's reference, never its value.
"""

from __future__ import annotations

import subprocess
import threading
from counselkit import layout
from counselkit.lab import LabHost
from counselkit.lab.ssh import ssh_argv
from counselkit.pgscram import verifier_keys
from counselkit.plan import Plan
from counselkit.secrets import SecretStore
from counselkit.tls import split_bundle

# Shorter values would match by chance; every generated secret is far longer (counselkit.secrets.generate).
MIN_PATTERN = 12
# Where a host keeps configuration and state; /proc, /sys and /tmp are not files anybody wrote on purpose.
SEARCHED_DIRS = ("/etc", "/var/lib", "/opt", "/srv", "/run")


def _value_patterns(value: str) -> list[str]:
    if "-----BEGIN" not in value:
        return [line for line in value.splitlines() if line]  # grep -f: one pattern a line
    # A PEM bundle: the key's base64 lines (one line of a key is as bad as all), never the public certificate —
    # nor a key line the certificate holds too (an EC key's PKCS#8 encoding ends with its public key).
    key, cert = split_bundle(value)
    return [line for line in key.splitlines() if line and not line.startswith("-----") and line not in cert]


def secret_patterns(store: SecretStore, plan: Plan) -> dict[str, str]:
    """pattern -> label (the secret's reference) for every secret the deploy of `plan` may handle."""
    patterns: dict[str, str] = {}
    for ref in store.refs():
        for pattern in _value_patterns(store.get(ref)):
            patterns[pattern] = ref
    roles = [(t.db_user, t.secrets["synapse_db_password"]) for h in plan.hosts for t in h.tenants]
    roles.append((layout.KEYCLOAK_DB_USER, plan.platform_secrets["keycloak_db_password"]))
    for role, ref in roles:
        if store.has(ref):
            for part, key in zip(("StoredKey", "ServerKey"), verifier_keys(role, store.get(ref))):
                patterns[key] = f"{part} of {role}'s SCRAM verifier"
    return {pattern: label for pattern, label in patterns.items() if len(pattern) >= MIN_PATTERN}


def found_in(text: str, patterns: dict[str, str]) -> list[str]:
    return sorted({label for pattern, label in patterns.items() if pattern in text})


class ProcessSampler:
    """`ps -eo args` on a host ten times a second (a short-lived process may slip through: the unit tests check the command lines themselves) while a deploy runs: every distinct line, kept here."""

    def __init__(self, host: LabHost) -> None:
        self.lines: set[str] = set()
        self._process = subprocess.Popen(ssh_argv(host, ["while :; do ps -eo args; sleep 0.1; done"]),
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                         stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.add(line.rstrip("\n"))

    def stop(self) -> set[str]:
        self._process.terminate()
        self._process.wait(timeout=30)
        self._reader.join(timeout=30)
        return self.lines


def world_readable_hits(host: LabHost, patterns: dict[str, str], timeout: float = 900) -> list[str]:
    """'path: label' for each file below SEARCHED_DIRS that `nobody` can read and that holds one of `patterns`.

    find runs as nobody (-readable: what any local account can actually open, directory modes included); root
    greps those files for the patterns, which reach the host on ssh's stdin and sit in a 0700 mktemp directory
    for the one grep pass.
    """
    dirs = " ".join(SEARCHED_DIRS)
    command = ('set -e; d=$(mktemp -d); trap \'rm -rf "$d"\' EXIT; cat > "$d/patterns"; '
               f"runuser -u nobody -- find {dirs} -type f -perm -o+r -readable -print0 2>/dev/null "
               '| xargs -0 -r grep -HoZsF -f "$d/patterns" || true')
    result = subprocess.run(ssh_argv(host, [command]), input="\n".join(patterns) + "\n", capture_output=True,
                            text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{host.name}: the world-readable file search failed: {result.stderr[-2000:]}")
    hits = set()
    for line in result.stdout.splitlines():
        path, _, match = line.partition("\0")
        # grep -o prints the longest match at each place; name it by the pattern it contains.
        hits.add(f"{path}: {', '.join(found_in(match, patterns)) or 'a secret'}")
    return sorted(hits)
