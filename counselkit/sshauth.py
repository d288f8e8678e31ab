"""Which SSH key a deploy logs in with, and whether root's planned authorized_keys would lock it out.

Both engines write root's and every admin's authorized_keys from the plan (render.host_vars platform.root_keys,
platform.admins). Before they do, they read sshd's ExposeAuthInfo file ($SSH_USER_AUTH, set by
templates/base/sshd_config.j2) and refuse when the deploy logs in with a key that its user's new file would not
hold. The deploy user is the plan's (platform.hosts[].ssh_user: root or an admin); root login is switched off only
when it is an admin, so the path this deploy uses always stays open.
"""

from __future__ import annotations

from typing import Any

from .layout import ROOT_USER as ROOT
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


def planned_keys(platform: dict[str, Any], ssh_user: str) -> list[str]:
    """The keys the deploy writes for `ssh_user`: root's (platform.root_keys) or that admin's one key (none for
    any other user: validate allows only root and platform.admins as platform.hosts[].ssh_user)."""
    if ssh_user == ROOT:
        return list(platform["root_keys"])
    return [a["ssh_key"] for a in platform["admins"] if a["name"] == ssh_user]


def lockout_problem(platform: dict[str, Any], auth_info: str, ssh_user: str, host: str) -> str | None:
    """A message when the new authorized_keys of `ssh_user` would lock out this deploy, else None (also when sshd
    does not say which key was used: before the first deploy sets ExposeAuthInfo)."""
    used = session_key(auth_info)
    if used is None or used in {key_id(k) for k in planned_keys(platform, ssh_user)}:
        return None
    whose = "no admin in platform.admins has" if ssh_user == ROOT else f"is not the ssh_key of admin '{ssh_user}'"
    return (f"{host}: this deploy logs in as {ssh_user} with the key '{used[:60]}...', which {whose}: writing "
            f"{ssh_user}'s authorized_keys from tenants.yaml would lock the deploy out. Add that key to the admin in "
            "tenants.yaml, or deploy with the admin's key. Nothing has been changed.")
