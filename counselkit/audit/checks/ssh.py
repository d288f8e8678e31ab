"""Checks of OpenSSH server."""

from __future__ import annotations

from counselkit import layout

from ..context import CheckContext, Finding, failed, passed, verdict
from .registry import check, na


@check("ssh_password_auth_disabled", "sshd -T: password, keyboard-interactive and empty passwords off; public keys on")
def ssh_password_auth_disabled(ctx: CheckContext) -> Finding:
    expected = "passwordauthentication no, kbdinteractiveauthentication no, permitemptypasswords no, pubkeyauthentication yes"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed: no OpenSSH server configuration could be read")
    wanted = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no",
              "permitemptypasswords": "no", "pubkeyauthentication": "yes"}
    found = {k: config.get(k, "(unset)") for k in wanted}
    problems = [f"{k} {v} (expected {wanted[k]})" for k, v in found.items() if v != wanted[k]]
    return verdict(problems, expected, ", ".join(f"{k} {v}" for k, v in found.items()))


@check("ssh_root_login_key_only", "sshd -T: root may not log in with a password")
def ssh_root_login_key_only(ctx: CheckContext) -> Finding:
    expected = "permitrootlogin no or prohibit-password"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    value = config.get("permitrootlogin", "(unset)")
    ok = value in {"no", "prohibit-password", "without-password", "forced-commands-only"}
    return (passed if ok else failed)(expected, f"permitrootlogin {value}")


MODERN_KEX = {"sntrup761x25519-sha512@openssh.com", "sntrup761x25519-sha512", "mlkem768x25519-sha256",
              "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
              "ecdh-sha2-nistp521", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
              "diffie-hellman-group-exchange-sha256"}
MODERN_CIPHERS = {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                  "aes256-ctr", "aes192-ctr", "aes128-ctr"}
MODERN_MACS = {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"}
MODERN_HOSTKEYS = {"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
                   "sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                   "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512", "rsa-sha2-256",
                   "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                   "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                   "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com"}


@check("ssh_modern_algorithms", "sshd -T: only modern key exchange, cipher, MAC and host key algorithms offered")
def ssh_modern_algorithms(ctx: CheckContext) -> Finding:
    expected = ("kex ⊆ {curve25519, sntrup761x25519, ecdh-nistp, DH group16/18/gex-sha256}; ciphers ⊆ {chacha20-poly1305, "
                "aes-gcm, aes-ctr}; macs ⊆ {hmac-sha2-*-etm, umac-128-etm}; host keys ⊆ {ed25519, ecdsa, rsa-sha2}")
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    problems, shown = [], []
    for key, allowed in (("kexalgorithms", MODERN_KEX), ("ciphers", MODERN_CIPHERS), ("macs", MODERN_MACS),
                         ("hostkeyalgorithms", MODERN_HOSTKEYS)):
        offered = [a for a in config.get(key, "").split(",") if a]
        weak = [a for a in offered if a not in allowed]
        shown.append(f"{key} {','.join(offered)}")
        if weak:
            problems.append(f"{key}: not allowed {', '.join(weak)}")
        if not offered:
            problems.append(f"{key}: nothing reported")
    return verdict(problems, expected, "\n".join(shown))


# --- no root login once admins deploy with sudo (CK-SSH-03) ---------------------------------------------------

@check("ssh_root_login_off", "sshd -T: root cannot log in over SSH at all; the deploy logs in as an admin with sudo")
def ssh_root_login_off(ctx: CheckContext) -> Finding:
    expected = f"permitrootlogin no; platform.hosts[{ctx.plan_host.name}].ssh_user one of platform.admins (sudo)"
    config = ctx.sshd
    if config is None:
        return failed(expected, "`sshd -T` failed")
    value = config.get("permitrootlogin", "(unset)")
    found = f"permitrootlogin {value}; the deploy logs in as {ctx.plan_host.ssh_user}"
    if value == "no":
        return passed(expected, found)
    if not ctx.plan_host.sudo:  # flagged, not failed: the plan itself still deploys as root (the bootstrap run)
        return na(expected, found, f"not applicable while the deploy logs in as {layout.ROOT_USER}: set "
                  f"platform.hosts[{ctx.plan_host.name}].ssh_user to one of platform.admins and deploy once, "
                  "then root SSH login is off (docs/operations.md)")
    return failed(expected, f"{found}, whose plan switches root login off: sshd_config differs from the deploy")
