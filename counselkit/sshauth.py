"""Which SSH key a deploy logs in with, and whether root's planned authorized_keys would lock it out.

Both engines write root's authorized_keys from the plan (render.host_vars platform.root_keys). Before they do,
they read sshd's ExposeAuthInfo file ($SSH_USER_AUTH, set by templates/base/sshd_config.j2) and refuse when the
deploy logs in as root with a key that the new file would not hold.
"""

from __future__ import annotations

KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def key_id(line: str) -> str:
    """'type base64' of an OpenSSH public key line (options and comment dropped), for comparing keys."""
    words = line.split()
    for index, word in enumerate(words[:-1]):
        if word.startswith(KEY_TYPE_PREFIXES):
            return f"{word} {words[index + 1]}"
    return line.strip()


def session_key(auth_info: str) -> str | None:
    """The public key of this session, from the ExposeAuthInfo file ('publickey <type> <base64>' lines)."""
    for line in auth_info.splitlines():
        method, _, key = line.partition(" ")
        if method == "publickey" and key.strip():
            return key_id(key)
    return None


def lockout_problem(root_keys: list[str], auth_info: str, ssh_user: str, host: str) -> str | None:
    """A message when root's new keys would lock out this deploy, else None (also when sshd does not say which
    key was used: before the first deploy sets ExposeAuthInfo, or when the deploy does not log in as root)."""
    used = session_key(auth_info)
    if ssh_user != "root" or used is None or used in {key_id(k) for k in root_keys}:
        return None
    return (f"{host}: this deploy logs in as root with the key '{used[:60]}...', which no admin in platform.admins "
            "has: writing root's authorized_keys from tenants.yaml would lock the deploy out. Add that key to an "
            "admin in tenants.yaml, or deploy with an admin's key. Nothing has been changed.")
