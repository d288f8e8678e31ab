"""The vault password of the secrets file, found the one way both engines find it.

$COUNSELKIT_VAULT_PASSWORD_FILE (a file holding it) or else $COUNSELKIT_VAULT_PASSWORD. The file must belong to
the user running counselkit and be readable by nobody else: a password file that group or others can read is
refused rather than used. Standard library only, so the Ansible vault-password client can import it without
counselkit's dependencies (inventories/ansible/vault-password-client.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

PASSWORD_ENV = "COUNSELKIT_VAULT_PASSWORD"
PASSWORD_FILE_ENV = "COUNSELKIT_VAULT_PASSWORD_FILE"


class VaultPasswordError(Exception):
    """No usable vault password; the text says what to do (and never holds the password)."""


def _check_file(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise VaultPasswordError(f"the vault password file {path} named by {PASSWORD_FILE_ENV} is not a regular file")
    if info.st_uid != os.geteuid():
        raise VaultPasswordError(
            f"the vault password file {path} named by {PASSWORD_FILE_ENV} belongs to uid {info.st_uid}, not to you "
            f"(uid {os.geteuid()}): use a file of your own, mode 0600")
    if info.st_mode & 0o077:
        raise VaultPasswordError(
            f"the vault password file {path} named by {PASSWORD_FILE_ENV} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to use it. Fix: chmod 600 {path}")


def read_file(path: str) -> bytes:
    # Checked on the opened descriptor (after any symlink), so the file read is the file checked.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise VaultPasswordError(f"cannot read the vault password file {path} named by {PASSWORD_FILE_ENV}: "
                                 f"{exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_file(path, os.fstat(handle.fileno()))
        return handle.read().strip()


def vault_password(environ: Mapping[str, str] = os.environ) -> bytes:
    """The password, or VaultPasswordError naming the variable to set or the file mode to fix."""
    path = environ.get(PASSWORD_FILE_ENV)
    password = read_file(path) if path else environ.get(PASSWORD_ENV, "").encode()
    if not password:
        where = f"the file {path} is empty" if path else f"neither {PASSWORD_FILE_ENV} nor {PASSWORD_ENV} is set"
        raise VaultPasswordError(f"no vault password: {where}; set {PASSWORD_FILE_ENV} to a file holding it "
                                 f"(mode 0600, yours), or {PASSWORD_ENV}")
    return password
