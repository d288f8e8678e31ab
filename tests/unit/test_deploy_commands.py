"""The pyinfra deploys' command lines with hostile plan values: each value stays one argument, nothing runs.

The operations are run without a host (their generator `_inner` with a stand-in for pyinfra's `host`); the
command lines they yield are then run by a real `sh` with stand-in programs that only record their argv.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from counselkit import layout
from deploy import base, commands, managed, nginx, synapse

HOSTILE = [
    "a@b.example`touch PWNED`",
    "a@b.example$(touch PWNED)",
    "a@b.example; touch PWNED",
    "a@b.example | touch PWNED",
    "a@b.example && touch PWNED",
    "a@b.example\ntouch PWNED",
    "a@b.example' ; touch PWNED; '",
    'a@b.example" ; touch PWNED; "',
    "${IFS}touch${IFS}PWNED",
    "-rf --help",
]


class FakeHost:
    """pyinfra's `host` for an operation's generator: facts from a dict, noop recorded."""

    name = "fake"

    def __init__(self, facts: dict | None = None):
        self.facts = facts or {}
        self.noops: list[str] = []

    def get_fact(self, fact, *args, **kwargs):
        return self.facts.get(kwargs.get("path") or fact.__name__)

    def noop(self, text: str) -> None:
        self.noops.append(text)


def run_recorded(command: str, tmp_path: Path, programs: list[str]) -> list[list[str]]:
    """Run `command` with sh in tmp_path; each of `programs` is a stand-in writing its argv (NUL-separated)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls"  # one file per call: arguments may hold newlines
    log.mkdir(exist_ok=True)
    for program in programs:
        stub = bin_dir / program
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" "{program}" "$@" > "{log}/$(date +%s%N)"\n')
        stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    # `cd /` in a command would leave tmp_path: run from / and look for PWNED in both places.
    subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, check=False, capture_output=True)
    assert not (tmp_path / "PWNED").exists() and not Path("/PWNED").exists(), f"injected: {command!r}"
    calls = [[w.decode() for w in f.read_bytes().split(b"\0")[:-1]] for f in sorted(log.iterdir())]
    for f in log.iterdir():
        f.unlink()
    return calls


@pytest.mark.parametrize("email", HOSTILE)
def test_certbot_operation_keeps_a_hostile_email_one_argument(email, tmp_path, monkeypatch):
    fake = FakeHost()
    monkeypatch.setattr(nginx, "host", fake)
    argv = nginx.nginx_spec.certbot_argv(email, "chat.example.org")  # the argv both engines run
    [command] = list(nginx.acme_certificate._inner(argv=argv, cert_path="/etc/letsencrypt/live/x/fullchain.pem"))
    calls = run_recorded(command, tmp_path, ["certbot"])
    assert calls == [["certbot", "certonly", "--non-interactive", "--agree-tos", "--email", email, "--webroot", "-w",
                      layout.ACME_WEBROOT, "-d", "chat.example.org", "--key-type", "ecdsa", "--deploy-hook",
                      f"systemctl reload {layout.NGINX_UNIT}"]]


def test_security_updates_quote_package_names_from_the_host(tmp_path, monkeypatch):
    hostile = ["libc6", "$(touch${IFS}PWNED)", "`touch${IFS}PWNED`;"]  # apt prints one name a word
    monkeypatch.setattr(base, "host", FakeHost({"Command": "\n".join(hostile)}))
    [command] = list(base.security_updates._inner())
    calls = run_recorded(command, tmp_path, ["apt-get"])
    assert calls[0][-4:] == ["--", *sorted(set(hostile))]


@pytest.mark.parametrize("user", ["mx-a;touch PWNED", "$(touch PWNED)", "a b"])
def test_owner_and_mode_quote_the_owner(user, tmp_path, monkeypatch):
    monkeypatch.setattr(managed, "host", FakeHost())
    monkeypatch.setattr(managed, "state", lambda path: None)
    lines = list(managed.owner_and_mode._inner(path="/x y", user=user, group=user, mode="600"))
    calls = [run_recorded(line, tmp_path, ["chown", "chmod"]) for line in lines]
    assert calls[0][-1] == ["chown", f"{user}:{user}", "--", "/x y"]
    assert calls[1][-1] == ["chmod", "600", "--", "/x y"]


def test_former_admins_are_removed_and_planned_ones_kept(tmp_path, monkeypatch):
    group_line = f"{layout.ADMIN_GROUP}:x:997:alice,mallory,root,eve$(touch PWNED)"
    monkeypatch.setattr(base, "host", FakeHost({"Command": group_line}))
    lines = list(base.remove_former_admins._inner(planned=["alice"]))
    calls = [c for line in lines for c in run_recorded(line, tmp_path, ["pkill", "userdel"])]
    removed = sorted(c[-1] for c in calls if c[0] == "userdel")
    assert removed == ["eve$(touch PWNED)", "mallory"]  # never root, never a planned admin
    assert ["pkill", "-KILL", "-u", "mallory"] in calls
    assert ["userdel", "--force", "--remove", "mallory"] in calls


def test_no_former_admins_is_a_no_op(monkeypatch):
    fake = FakeHost({"Command": f"{layout.ADMIN_GROUP}:x:997:alice"})
    monkeypatch.setattr(base, "host", fake)
    assert list(base.remove_former_admins._inner(planned=["alice", "bob"])) == []
    assert fake.noops


def test_synapse_installs_only_the_hashed_requirements(tmp_path, monkeypatch):
    monkeypatch.setattr(synapse, "host", FakeHost({"Command": "old-sha", f"{layout.SYNAPSE_VENV}/bin/python": None}))
    lines = list(synapse.synapse_venv._inner(venv=layout.SYNAPSE_VENV, requirements_path="/r r.txt",
                                             requirements_sha256="abc", stamp=layout.SYNAPSE_REQUIREMENTS_STAMP))
    assert shlex.split(lines[0]) == ["python3", "-m", "venv", layout.SYNAPSE_VENV]
    pip = shlex.split(lines[1])
    assert pip[0] == f"{layout.SYNAPSE_VENV}/bin/pip" and "--require-hashes" in pip and "--no-deps" in pip
    assert pip[-2:] == ["-r", "/r r.txt"]
    assert lines[2].endswith(shlex.quote(layout.SYNAPSE_REQUIREMENTS_STAMP))  # stamp only after pip succeeded


def test_synapse_venv_is_a_no_op_when_the_stamp_matches(monkeypatch):
    monkeypatch.setattr(synapse, "host", FakeHost({"Command": "abc\n"}))
    assert list(synapse.synapse_venv._inner(venv="/v", requirements_path="/r", requirements_sha256="abc",
                                             stamp="/v/stamp")) == []


@pytest.mark.parametrize("user", ["mx-acme", "mx-x;touch PWNED"])
def test_signing_key_is_generated_as_the_tenant_user(user, tmp_path, monkeypatch):
    monkeypatch.setattr(synapse, "host", FakeHost())
    monkeypatch.setattr(managed, "host", FakeHost())
    monkeypatch.setattr(managed, "state", lambda path: None)
    key = tmp_path / "conf dir" / "signing.key"
    key.parent.mkdir()
    [command] = list(synapse.signing_key._inner(venv="/venv", key_path=str(key), user=user))
    calls = run_recorded(command, tmp_path, ["runuser"])
    assert calls == [["runuser", "-u", user, "--", "/venv/bin/generate_signing_key"]]
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"  # umask 077, renamed into place
    assert not Path(f"{key}.new").exists()


def test_requirements_file_of_the_pinned_release_is_complete_and_hashed():
    from counselkit.model.platform import SYNAPSE_VERSION

    text = (Path(synapse.REPO) / layout.synapse_requirements_file(SYNAPSE_VERSION)).read_text()
    pins = [line.split(" ")[0] for line in text.splitlines() if "==" in line]
    hashes = [line for line in text.splitlines() if "--hash=sha256:" in line]
    assert f"matrix-synapse=={SYNAPSE_VERSION}" in pins
    assert all(spec in pins for spec in layout.SYNAPSE_PIP_EXTRA_PACKAGES)
    assert len(hashes) == len(pins) > 20  # every pin has its hash (Synapse needs its whole dependency tree)


def test_missing_requirements_file_is_a_clear_error():
    with pytest.raises(Exception, match=r"no hashed requirements for matrix-synapse 0\.0\.1.*synapse_requirements\.py"):
        synapse.requirements("0.0.1")


def test_argv_round_trips_every_hostile_value():
    for value in HOSTILE:
        assert shlex.split(commands.argv("x", value)) == ["x", value]
    assert os.sep == "/"


def test_keycloak_unpack_quotes_every_path(tmp_path):
    release = tmp_path / "rel $(touch PWNED)"
    archive = tmp_path / "kc;touch PWNED.tgz"
    calls = run_recorded(commands.keycloak_unpack(str(release), str(archive), "ab" * 32, "/var/lib/kc data"),
                         tmp_path, ["sha256sum", "rm", "mkdir", "tar", "chown", "chmod", "ln", "mv"])
    by_program = {call[0]: call for call in calls}  # `test` is sh's builtin: the release is not there, so all runs
    assert by_program["tar"][2] == str(archive) and by_program["tar"][4] == f"{release}.partial"
    assert by_program["ln"] == ["ln", "-s", "/var/lib/kc data", f"{release}.partial/data"]
    assert by_program["mv"] == ["mv", f"{release}.partial", str(release)]
