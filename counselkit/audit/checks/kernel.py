"""Checks of kernel and network stack (sysctl)."""

from __future__ import annotations

from ..context import CheckContext, Finding, failed, passed, verdict
from .registry import check, na


NETWORK_SYSCTLS = {  # per network namespace: effective inside a container too
    "net.ipv4.conf.all.accept_redirects": {"0"},
    "net.ipv4.conf.default.accept_redirects": {"0"},
    "net.ipv4.conf.all.secure_redirects": {"0"},
    "net.ipv4.conf.all.send_redirects": {"0"},
    "net.ipv4.conf.default.send_redirects": {"0"},
    "net.ipv4.conf.all.accept_source_route": {"0"},
    "net.ipv4.conf.all.rp_filter": {"1"},
    "net.ipv4.conf.all.log_martians": {"1"},
    "net.ipv4.icmp_echo_ignore_broadcasts": {"1"},
    "net.ipv4.tcp_syncookies": {"1"},
    "net.ipv6.conf.all.accept_redirects": {"0"},
    "net.ipv6.conf.default.accept_redirects": {"0"},
    "net.ipv6.conf.all.accept_source_route": {"0"},
}
KERNEL_SYSCTLS = {  # kernel-wide: a container sees (and cannot change) its host's kernel
    "kernel.randomize_va_space": {"2"},
    "kernel.kptr_restrict": {"2"},
    "kernel.dmesg_restrict": {"1"},
    "kernel.yama.ptrace_scope": {"1", "2", "3"},
    "kernel.unprivileged_bpf_disabled": {"1", "2"},
    "kernel.sysrq": {"0"},
    "fs.protected_hardlinks": {"1"},
    "fs.protected_symlinks": {"1"},
    "fs.suid_dumpable": {"0"},
}
SYSCTL_DIRS = ("/etc/sysctl.conf", "/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
               "/lib/sysctl.d")


def _effective_sysctls(ctx: CheckContext, wanted: dict[str, set[str]]) -> dict[str, str]:
    values = {}
    for key in wanted:
        result = ctx.run("sysctl", "-n", key)
        values[key] = result.stdout.strip() if result.rc == 0 else "(absent)"
    return values


def _configured_sysctls(ctx: CheckContext) -> dict[str, str]:
    """Values the sysctl.d files set (later files win, as systemd-sysctl applies them)."""
    result = ctx.run("grep", "-rsHE", "^[[:space:]]*-?[a-z0-9_.]+[[:space:]]*=", *SYSCTL_DIRS)
    entries: list[tuple[str, str, str, str]] = []
    for line in result.stdout.splitlines():
        path, _, setting = line.partition(":")
        key, _, value = setting.partition("=")
        entries.append((path.rsplit("/", 1)[-1], path, key.strip().lstrip("-"), value.strip()))
    # systemd-sysctl: of files with the same name only the one in the first directory counts (/etc replaces
    # /usr/lib), and the files are applied in lexical order of their names (later ones win).
    chosen: dict[str, str] = {}
    for name, path, _, _ in entries:
        if name not in chosen or _dir_rank(path) < _dir_rank(chosen[name]):
            chosen[name] = path
    configured: dict[str, str] = {}
    for name, path, key, value in sorted(entries, key=lambda e: e[0]):
        if chosen[name] == path:
            configured[key] = value
    return configured


def _dir_rank(path: str) -> int:
    return next((i for i, d in enumerate(SYSCTL_DIRS) if path == d or path.startswith(d + "/")), len(SYSCTL_DIRS))


@check("sysctl_network", "network stack: no redirects or source routing, reverse-path filter, SYN cookies, martians logged")
def sysctl_network(ctx: CheckContext) -> Finding:
    expected = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in NETWORK_SYSCTLS.items())
    values = _effective_sysctls(ctx, NETWORK_SYSCTLS)
    problems = [f"{k} = {v} (expected {'|'.join(sorted(NETWORK_SYSCTLS[k]))})"
                for k, v in values.items() if v not in NETWORK_SYSCTLS[k]]
    return verdict(problems, expected, "\n".join(f"{k} = {v}" for k, v in values.items()))


@check("sysctl_kernel", "kernel: full ASLR, kernel pointers and dmesg hidden, ptrace restricted, protected links, no SUID core dumps")
def sysctl_kernel(ctx: CheckContext) -> Finding:
    expected = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in KERNEL_SYSCTLS.items())
    values = _effective_sysctls(ctx, KERNEL_SYSCTLS)
    wrong = {k: v for k, v in values.items() if v not in KERNEL_SYSCTLS[k]}
    if not wrong:
        return passed(expected, "\n".join(f"{k} = {v}" for k, v in values.items()))
    if ctx.container:
        configured = _configured_sysctls(ctx)
        missing = [f"{k}: configured {configured.get(k, '(not configured)')}" for k in KERNEL_SYSCTLS
                   if configured.get(k) not in KERNEL_SYSCTLS[k]]
        found = "\n".join(f"{k} = {values[k]} (effective, host kernel); configured {configured.get(k, '-')}"
                          for k in KERNEL_SYSCTLS)
        if missing:
            return failed(expected + " (configured in sysctl.d, since the container cannot apply them)",
                          "not configured for a real host:\n" + "\n".join(missing) + "\n\n" + found)
        return na(expected, found, f"not applicable: container ({ctx.container}); kernel-wide settings belong to the "
                                    "host kernel and cannot be set from inside. The configuration for a real host is present.")
    return failed(expected, "\n".join(f"{k} = {v} (expected {'|'.join(sorted(KERNEL_SYSCTLS[k]))})" for k, v in wrong.items()))
