"""Control-side services for lab hosts: the forward proxy, the S3 server and the SMTP sink.

Both listen on the service address only (10.248.0.1 on ``lo``), which lab
hosts reach over their veth; nothing listens on the machine's real interfaces.
"""

from __future__ import annotations

import os
import secrets
import socket
import string
import sys
import time
from pathlib import Path

from counselkit.lab import addresses, settings
from counselkit.lab.errors import LabError
from counselkit.lab.prereqs import find_command
from counselkit.lab.processes import LabProcess, is_running, log_tail, spawn
from counselkit.lab.state import S3Settings, SmtpSinkSettings


def proxy_config() -> str:
    # tinyproxy logs to stderr (our log file) when neither LogFile nor Syslog is set.
    return "\n".join([
        "# counselkit lab forward proxy: written by `counselkit lab up`",
        "User nobody",
        "Group nogroup",
        f"Port {settings.PROXY_PORT}",
        f"Listen {settings.SERVICE_ADDRESS}",
        f"Allow {settings.LAB_NET}",  # lab hosts only
        "ConnectPort 443",  # CONNECT only for HTTPS, as corporate proxies allow
        "Timeout 600",
        "MaxClients 100",
        "LogLevel Info",
        "DisableViaHeader Yes",
        "",
    ])


def start_proxy(config_path: Path, log_path: Path) -> LabProcess:
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(proxy_config())
    binary = find_command("tinyproxy") or "tinyproxy"
    return spawn("proxy", [binary, "-d", "-c", str(config_path)], log_path)


def _random_token(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_s3_settings() -> S3Settings:
    return S3Settings(
        endpoint=addresses.s3_endpoint(),
        region=settings.S3_REGION,
        access_key="CKLAB" + _random_token(string.ascii_uppercase + string.digits, 15),
        secret_key=_random_token(string.ascii_letters + string.digits, 40),
    )


def start_s3(log_path: Path) -> LabProcess:
    # moto keeps everything in memory: a fresh, empty S3 on every `lab up`.
    argv = [sys.executable, "-m", "moto.server", "-H", settings.SERVICE_ADDRESS, "-p", str(settings.S3_PORT)]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return spawn("s3", argv, log_path, env=env)


def smtp_sink_argv(directory: Path) -> list[str]:
    return [sys.executable, "-m", "counselkit.lab.smtp_sink", "--listen", settings.SERVICE_ADDRESS,
            "--port", str(settings.SMTP_SINK_PORT), "--dir", str(directory)]


def smtp_sink_info() -> SmtpSinkSettings:
    host, port = addresses.smtp_sink_address()
    return SmtpSinkSettings(host=host, port=port, mail_dir=settings.SMTP_SINK_DIR)


def start_smtp_sink(directory: Path, log_path: Path) -> LabProcess:
    # A fresh, empty mailbox on every `lab up`, like moto's S3: tests see this lab's mail only.
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in directory.glob("*.eml"):
        old.unlink()
    return spawn("smtp", smtp_sink_argv(directory), log_path)


def wait_listening(proc: LabProcess, port: int, timeout: float = settings.SERVICE_START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(proc):
            raise LabError(f"{proc.role} server exited at start; last lines of {proc.log_path}:\n"
                           f"{log_tail(proc)}")
        try:
            with socket.create_connection((settings.SERVICE_ADDRESS, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LabError(f"{proc.role} server did not listen on {settings.SERVICE_ADDRESS}:{port} "
                   f"within {timeout:.0f} s; see {proc.log_path}")
