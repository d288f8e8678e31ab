#!/usr/bin/env python3
"""Ansible vault password client: the password of counselkit's secrets file, found as counselkit finds it.

$COUNSELKIT_VAULT_PASSWORD_FILE (a file holding it) or else $COUNSELKIT_VAULT_PASSWORD (counselkit.secrets).
Without either it prints a placeholder, so commands that decrypt nothing (ansible-lint, --syntax-check) still
work; the roles check for the variables before reading the secrets file and say what is missing.
"""

import os
import sys
from pathlib import Path

path = os.environ.get("COUNSELKIT_VAULT_PASSWORD_FILE")
if path:
    password = Path(path).read_bytes().strip()
else:
    password = os.environ.get("COUNSELKIT_VAULT_PASSWORD", "").encode()
sys.stdout.buffer.write((password or b"counselkit-vault-password-not-set") + b"\n")
