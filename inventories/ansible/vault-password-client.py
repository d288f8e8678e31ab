#!/usr/bin/env python3
"""Ansible vault password client: the password of counselkit's secrets file, found as counselkit finds it.

$COUNSELKIT_VAULT_PASSWORD_FILE (a file of your own, mode 0600) or else $COUNSELKIT_VAULT_PASSWORD — the rules
are counselkit.vaultpass (standard library only), shared with the pyinfra side. Without a usable password it
prints nothing and exits 1 with the reason on stderr: there is no fallback password, so every ansible command
that reads this configuration (also --syntax-check and ansible-lint) needs the variable set.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from counselkit.vaultpass import VaultPasswordError, vault_password  # noqa: E402

try:
    password = vault_password()
except VaultPasswordError as exc:
    sys.stderr.write(f"counselkit vault-password-client: {exc}\n")
    sys.exit(1)
sys.stdout.buffer.write(password + b"\n")
