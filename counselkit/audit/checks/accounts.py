"""Checks of accounts and sudo."""

from __future__ import annotations

from counselkit import layout

from ..context import CheckContext, Finding, failed, verdict
from .registry import check


@check("accounts_admins_with_keys",
       f"every planned admin exists, is in group {layout.ADMIN_GROUP} and has exactly their planned key")
def accounts_admins_with_keys(ctx: CheckContext) -> Finding:
    admins = ctx.plan.platform.admins
    expected = f"accounts {', '.join(a.name for a in admins)} with their planned SSH key, members of {layout.ADMIN_GROUP}"
    keys_file = (ctx.sshd or {}).get("authorizedkeysfile", ".ssh/authorized_keys").split()[0]
    problems, found = [], []
    for admin in admins:
        entry = ctx.out("getent", "passwd", admin.name).strip()
        if not entry:
            problems.append(f"{admin.name}: no such account")
            continue
        home = entry.split(":")[5]
        path = keys_file.replace("%h", home).replace("%u", admin.name).replace("%%", "%")
        if not path.startswith("/"):
            path = f"{home}/{path}"
        blob = admin.ssh_key.split()[1]
        keys = ctx.run("cat", path)
        if keys.rc != 0:
            problems.append(f"{admin.name}: {path} missing")
        else:
            blobs = [line.split()[1] for line in keys.stdout.splitlines()
                     if len(line.split()) > 1 and not line.startswith("#")]
            if blob not in blobs:
                problems.append(f"{admin.name}: planned key not in {path}")
            extra = [b for b in blobs if b != blob]
            if extra:
                problems.append(f"{admin.name}: {len(extra)} unplanned key(s) in {path}")
        groups = ctx.out("id", "-nG", admin.name).split()
        if layout.ADMIN_GROUP not in groups:
            problems.append(f"{admin.name}: not in group {layout.ADMIN_GROUP} (groups: {' '.join(groups) or '-'})")
        found.append(f"{admin.name}: key present, groups {' '.join(groups)}")
    return verdict(problems, expected, "\n".join(found))


@check("sudo_group_matches_plan",
       f"the admin group {layout.ADMIN_GROUP} holds the planned admins; Debian's sudo group nobody unplanned")
def sudo_group_matches_plan(ctx: CheckContext) -> Finding:
    planned = {a.name for a in ctx.plan.platform.admins}
    expected = f"{layout.ADMIN_GROUP} members = {{{', '.join(sorted(planned))}}}; sudo members ⊆ that set"
    problems, found = [], []
    for group in (layout.ADMIN_GROUP, "sudo"):
        entry = ctx.out("getent", "group", group).strip()
        members = {m for m in entry.split(":")[3].split(",") if m} if entry else set()
        found.append(f"{group}: {', '.join(sorted(members)) or '-'}{'' if entry else ' (no such group)'}")
        extra = members - planned
        if extra:
            problems.append(f"unplanned members of {group}: {', '.join(sorted(extra))}")
        if group == layout.ADMIN_GROUP and members != planned:
            missing = planned - members
            problems.append(f"group {group} lacks {', '.join(sorted(missing))}" if entry else f"group {group} does not exist")
    return verdict(problems, expected, "\n".join(found))


@check("sudoers_permissions", "/etc/sudoers and /etc/sudoers.d/* owned by root and not writable or readable by others")
def sudoers_permissions(ctx: CheckContext) -> Finding:
    expected = "owner root, group root, no write for group/others, nothing for others (e.g. 0440)"
    result = ctx.run("find", "/etc/sudoers", "/etc/sudoers.d", "-maxdepth", "1", "-type", "f", "-printf", "%p %u %g %m\\n")
    if result.rc != 0 and not result.stdout:
        return failed(expected, "sudo is not installed (/etc/sudoers missing)")
    problems, rows = [], []
    for line in result.stdout.splitlines():
        path, user, group, mode = line.split()
        rows.append(line)
        bits = int(mode, 8)
        if user != "root" or group != "root" or bits & 0o022 or bits & 0o007:
            problems.append(f"{path}: {user}:{group} {mode}")
    return verdict(problems, expected, "\n".join(rows))


@check("accounts_unique_ids", "user names and UIDs are unique and only root has UID 0")
def accounts_unique_ids(ctx: CheckContext) -> Finding:
    expected = "no duplicate user name or UID; UID 0 only for root; every primary GID exists"
    passwd = ctx.out("getent", "passwd")
    groups = {line.split(":")[2] for line in ctx.out("getent", "group").splitlines() if line.count(":") >= 3}
    names: dict[str, int] = {}
    uids: dict[str, list[str]] = {}
    problems = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7:
            continue
        name, uid, gid = fields[0], fields[2], fields[3]
        names[name] = names.get(name, 0) + 1
        uids.setdefault(uid, []).append(name)
        if gid not in groups:
            problems.append(f"{name}: primary GID {gid} not defined")
    problems += [f"user name {n} appears {c} times" for n, c in names.items() if c > 1]
    problems += [f"UID {u} shared by {', '.join(n)}" for u, n in uids.items() if len(n) > 1 and u != "0"]
    root_like = uids.get("0", [])
    if root_like != ["root"]:
        problems.append(f"UID 0: {', '.join(root_like) or 'none'}")
    return verdict(problems, expected, f"{len(names)} accounts, UID 0: root only")


@check("accounts_no_empty_passwords", "no account has an empty password (passwd -S status NP)")
def accounts_no_empty_passwords(ctx: CheckContext) -> Finding:
    expected = "no account with status NP (no password)"
    result = ctx.run("passwd", "-S", "-a")
    if result.rc != 0:
        return Finding("error", expected, result.stderr.strip()[:300], "could not run `passwd -S -a`")
    empty = [line.split()[0] for line in result.stdout.splitlines() if len(line.split()) > 1 and line.split()[1] == "NP"]
    return verdict([f"accounts without password: {', '.join(empty)}"] if empty else [], expected,
                   f"{len(result.stdout.splitlines())} accounts, none without password")
