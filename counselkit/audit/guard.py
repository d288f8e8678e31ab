"""The read-only guard: every command the audit sends to a host passes through here first.

The audit must change nothing on a host. Rather than trusting each check to behave, the runner
wraps the testinfra backend so that *every* command — the checks' own and the ones testinfra's
modules (``host.file``, ``host.socket``, ``host.package`` ...) build internally — is parsed and
compared with an allow-list of read-only programs and arguments before it is sent. Anything else
raises :class:`ReadOnlyViolation` and is never executed.

The rules are deliberately narrow:

* no shell control operators (``; & | < >``), no command substitution (``$(`` or backticks);
* the program must be on the allow-list, and programs that *can* write (``find``, ``psql``,
  ``systemctl``, ``apt-config`` ...) are only allowed with sub-commands/options that read;
* SQL goes through ``psql`` only as ``SET default_transaction_read_only = on`` followed by
  ``SELECT``/``SHOW`` statements, so PostgreSQL itself refuses any write.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ReadOnlyViolation(Exception):
    """A command that is not provably read-only was refused before it reached the host."""


_FORBIDDEN_FRAGMENTS = ("$(", "`", "\n", "\r")
_OPERATOR_CHARS = set(";&|<>()")

# Programs allowed with any arguments: they only read or print.
_PLAIN_READERS = {
    "cat", "test", "stat", "id", "getent", "uname", "hostname", "ls", "readlink", "realpath",
    "grep", "head", "tail", "wc", "sha256sum", "md5sum", "dpkg-query", "ss", "ps", "whoami",
    "systemd-detect-virt", "sshd", "nft", "sysctl", "timedatectl", "auditctl", "passwd",
    "apt-cache", "true", "echo", "which", "lsb_release", "findmnt", "journalctl", "nginx",
    "openssl",
}

_WHICH = {"command": ("-v",)}

# Exact command lines testinfra itself runs to learn about the host (its encoding probe).
_EXACT = {"python3 -c 'import locale;print(locale.getpreferredencoding())'"}

# Programs allowed only with these first arguments (the sub-command that reads).
_SUBCOMMANDS: dict[str, set[str]] = {
    "systemctl": {"show", "is-active", "is-enabled", "is-system-running", "list-units", "list-timers",
                  "list-unit-files", "cat", "status", "--version"},
    "apt-config": {"dump", "shell"},
    "systemd-analyze": {"cat-config", "security"},
}

# Options that would make an otherwise reading program write, delete or execute.
_DENIED_OPTIONS: dict[str, tuple[str, ...]] = {
    "find": ("-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"),
    "sysctl": ("-w", "--write", "-p", "--load", "--system"),
    "nft": ("add", "delete", "flush", "insert", "replace", "create", "destroy", "reset", "-f", "--file",
            "import", "rename"),
    "passwd": ("-d", "--delete", "-e", "--expire", "-l", "--lock", "-u", "--unlock", "-n", "-x", "-w", "-i",
               "-r", "--repository", "-R", "--root", "-P", "--prefix"),
    "auditctl": ("-D", "-a", "-A", "-d", "-w", "-W", "-e", "-f", "-r", "-b", "-R", "--reset-lost", "--signal"),
    "timedatectl": ("set-time", "set-timezone", "set-local-rtc", "set-ntp", "ntp-servers", "revert"),
    "journalctl": ("--vacuum-size", "--vacuum-time", "--vacuum-files", "--rotate", "--flush", "--sync",
                   "--relinquish-var", "--smart-relinquish-var", "--setup-keys", "--update-catalog"),
    "sshd": (),  # only -T (checked below)
    "nginx": (),  # only -T / -v / -V (checked below)
    "openssl": (),  # only version / x509 -noout (checked below)
    "dpkg-query": ("--admindir",),
    "ls": (),
    "ps": (),
}


@dataclass
class Transcript:
    """What was run on a host, in order: the evidence an auditor can re-run by hand."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, command: str, rc: int | None, stdout: str, stderr: str) -> None:
        self.entries.append({"command": command, "rc": rc, "stdout": _clip(stdout), "stderr": _clip(stderr)})

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.entries[mark:]


def _clip(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def check_command(command: str) -> None:
    """Raise ReadOnlyViolation unless ``command`` (a shell command line) is on the read-only allow-list."""
    if command in _EXACT:
        return
    for fragment in _FORBIDDEN_FRAGMENTS:
        if fragment in command:
            raise ReadOnlyViolation(f"refused {command!r}: contains {fragment!r}")
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise ReadOnlyViolation(f"refused {command!r}: cannot be parsed ({exc})") from None
    if not tokens:
        raise ReadOnlyViolation("refused an empty command")
    for token in tokens:
        if token and set(token) <= _OPERATOR_CHARS:
            raise ReadOnlyViolation(f"refused {command!r}: shell operator {token!r}")
    _check_argv(command, tokens)


def _check_argv(command: str, argv: list[str]) -> None:
    # Leading environment assignments (LC_ALL=C ...) are fine; the program after them is what counts.
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=[^\s]*", argv[0]):
        if argv[0].split("=", 1)[0] in {"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "BASH_ENV", "ENV"}:
            raise ReadOnlyViolation(f"refused {command!r}: sets {argv[0].split('=', 1)[0]}")
        argv = argv[1:]
    if not argv:
        raise ReadOnlyViolation(f"refused {command!r}: no program")
    program = argv[0].rsplit("/", 1)[-1]
    args = argv[1:]
    if program == "timeout" and args and re.fullmatch(r"\d+(\.\d+)?[smh]?", args[0]):
        return _check_argv(command, args[1:])
    if program == "runuser":
        return _check_runuser(command, args)
    if program in _WHICH:
        if args[:1] != list(_WHICH[program]):
            raise ReadOnlyViolation(f"refused {command!r}: only `command -v` is allowed")
        return None
    if program == "find":
        _deny_options(command, program, args)
        return None
    if program in _SUBCOMMANDS:
        sub = next((a for a in args if not a.startswith("-") or a == "--version"), None)
        if sub not in _SUBCOMMANDS[program]:
            raise ReadOnlyViolation(f"refused {command!r}: `{program} {sub}` is not a read-only sub-command")
        if program == "systemctl" and any(a in {"--now", "--force"} for a in args):
            raise ReadOnlyViolation(f"refused {command!r}: option not allowed")
        return None
    if program not in _PLAIN_READERS:
        raise ReadOnlyViolation(f"refused {command!r}: `{program}` is not on the read-only allow-list")
    _deny_options(command, program, args)
    if program == "sshd" and args[:1] != ["-T"]:
        raise ReadOnlyViolation(f"refused {command!r}: sshd only with -T (print effective configuration)")
    if program == "nginx" and not (args and args[0] in {"-T", "-v", "-V"}):
        raise ReadOnlyViolation(f"refused {command!r}: nginx only with -T/-v/-V")
    if program == "openssl" and not (args[:1] == ["version"] or (args[:1] == ["x509"] and "-noout" in args
                                                                  and "-out" not in args)):
        raise ReadOnlyViolation(f"refused {command!r}: openssl only `version` or `x509 -noout`")
    if program == "nft" and args and args[0] not in {"list", "-j", "--json", "-a", "-n", "-s", "--version"}:
        raise ReadOnlyViolation(f"refused {command!r}: nft only `list`")
    if program == "nft" and "list" not in args and "--version" not in args:
        raise ReadOnlyViolation(f"refused {command!r}: nft only `list`")
    if program == "sysctl" and any("=" in a for a in args):
        raise ReadOnlyViolation(f"refused {command!r}: sysctl assignment")
    if program == "passwd" and args[:2] not in (["-S", "-a"], ["--status", "--all"]) and args[:1] != ["-S"]:
        raise ReadOnlyViolation(f"refused {command!r}: passwd only with -S (status)")
    if program == "auditctl" and args not in (["-l"], ["-s"]):
        raise ReadOnlyViolation(f"refused {command!r}: auditctl only -l or -s")
    if program == "timedatectl" and args and args[0] not in {"show", "status", "timesync-status", "show-timesync"}:
        raise ReadOnlyViolation(f"refused {command!r}: timedatectl only show/status")
    if program == "journalctl" and not any(a in {"--disk-usage", "--header", "--list-boots", "-n", "--lines"}
                                           or a.startswith("--lines=") for a in args):
        raise ReadOnlyViolation(f"refused {command!r}: journalctl only with --disk-usage/--header/-n")
    return None


def _deny_options(command: str, program: str, args: list[str]) -> None:
    denied = _DENIED_OPTIONS.get(program, ())
    for arg in args:
        if arg in denied or any(arg.startswith(f"{d}=") for d in denied if d.startswith("--")):
            raise ReadOnlyViolation(f"refused {command!r}: `{program} {arg}` may write or execute")


_READ_ONLY_SET = "SET default_transaction_read_only = on"
_SQL_READ = re.compile(r"^\s*(SELECT|SHOW)\b", re.IGNORECASE)
_PSQL_FLAGS = {"-X", "-A", "-t", "-q", "-At", "-XAt", "-XAtq", "--no-psqlrc", "--no-align", "--tuples-only", "--quiet"}


def _check_runuser(command: str, args: list[str]) -> None:
    """Only ``runuser -u postgres -- psql <flags> -c 'SET default_transaction_read_only = on' -c 'SELECT …' …``."""
    if args[:3] != ["-u", "postgres", "--"] or len(args) < 4 or args[3].rsplit("/", 1)[-1] != "psql":
        raise ReadOnlyViolation(f"refused {command!r}: runuser only as `runuser -u postgres -- psql`")
    psql = args[4:]
    statements: list[str] = []
    i = 0
    while i < len(psql):
        arg = psql[i]
        if arg == "-c":
            if i + 1 >= len(psql):
                raise ReadOnlyViolation(f"refused {command!r}: -c without SQL")
            statements.append(psql[i + 1])
            i += 2
        elif arg in {"-d", "--dbname", "-F", "-R"}:
            i += 2
        elif arg in _PSQL_FLAGS:
            i += 1
        else:
            raise ReadOnlyViolation(f"refused {command!r}: psql option {arg!r} not allowed")
    if not statements or statements[0].strip().rstrip(";") != _READ_ONLY_SET:
        raise ReadOnlyViolation(f"refused {command!r}: psql must first `{_READ_ONLY_SET}`")
    for sql in statements[1:]:
        body = sql.strip().rstrip(";")
        if ";" in body or not _SQL_READ.match(body):
            raise ReadOnlyViolation(f"refused {command!r}: only single SELECT/SHOW statements")


def psql_command(sql: str, database: str = "postgres") -> list[str]:
    """argv for a read-only query as the postgres superuser (peer authentication, no password)."""
    return ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-q", "-d", database,
            "-c", _READ_ONLY_SET, "-c", sql]


def guard_backend(backend: Any, transcript: Transcript) -> None:
    """Wrap a testinfra backend's ``run`` so every command is checked and recorded."""
    original: Callable[..., Any] = backend.run

    def guarded_run(command: str, *args: str, **kwargs: Any) -> Any:
        line = backend.quote(command, *args)
        try:
            check_command(line)
        except ReadOnlyViolation as exc:
            transcript.add(line, None, "", f"REFUSED by the read-only guard: {exc}")
            raise
        result = original(line, **kwargs)
        transcript.add(line, result.rc, result.stdout, result.stderr)
        return result

    backend.run = guarded_run
