"""The lab's SMTP sink: a real SMTP server process that stores each message as a file, on lab/loopback addresses only."""

from __future__ import annotations

import email
import email.policy
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from counselkit.lab import processes, services, settings, smtp_sink, status
from counselkit.lab.state import LabState, SmtpSinkSettings


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.10", "8.8.8.8", "::1", "localhost", "10.249.0.1"])
def test_refuses_addresses_outside_lab_and_loopback(address):
    with pytest.raises(smtp_sink.SinkAddressError):
        smtp_sink.check_listen_address(address)


@pytest.mark.parametrize("address", [settings.SERVICE_ADDRESS, "127.0.0.1"])
def test_accepts_service_and_loopback_address(address):
    assert smtp_sink.check_listen_address(address) == address


def test_lab_starts_the_sink_on_the_service_address_only(tmp_path):
    argv = services.smtp_sink_argv(tmp_path)
    assert argv[argv.index("--listen") + 1] == settings.SERVICE_ADDRESS
    assert argv[argv.index("--port") + 1] == str(settings.SMTP_SINK_PORT)


def test_refusing_process_exits_with_a_message(tmp_path):
    result = subprocess.run([sys.executable, "-m", "counselkit.lab.smtp_sink", "--listen", "0.0.0.0",
                             "--port", "0", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "refusing to listen on 0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: processes.LabProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert processes.is_running(proc), processes.log_tail(proc)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"sink did not listen: {processes.log_tail(proc)}")


def test_sink_process_stores_each_message_as_a_file(tmp_path):
    pytest.importorskip("aiosmtpd", reason="the lab's SMTP sink needs aiosmtpd (test extra)")
    port, mail = _free_port(), tmp_path / "mail"
    argv = [sys.executable, "-m", "counselkit.lab.smtp_sink", "--listen", "127.0.0.1", "--port", str(port),
            "--dir", str(mail)]
    proc = processes.spawn("smtp", argv, tmp_path / "smtp.log")
    try:
        _wait_port(port, proc)
        for n in range(2):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "noreply@example.org", "c@example.org", f"Anfrage {n} – Ü"
            msg.set_content("Eine neue Anfrage wartet.\n")
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.send_message(msg, to_addrs=["c@example.org", "d@example.org"])
        stored = smtp_sink.read_messages(mail)
        assert len(stored) == 2
        subjects = [email.message_from_bytes(m, policy=email.policy.default)["Subject"] for m in stored]
        assert subjects == ["Anfrage 0 – Ü", "Anfrage 1 – Ü"]
        assert stored[0].startswith(b"X-Counselkit-Sink-Mail-From: noreply@example.org\r\n"
                                    b"X-Counselkit-Sink-Rcpt-To: c@example.org\r\nX-Counselkit-Sink-Rcpt-To: d@example.org\r\n")
        assert all((p.stat().st_mode & 0o777) == 0o600 for p in mail.glob("*.eml"))
        assert not list(mail.glob(".*.tmp"))
    finally:
        processes.stop(proc, timeout=10, sig=signal.SIGTERM)
    assert not processes.is_running(proc)
    assert "listening on 127.0.0.1" in Path(proc.log_path).read_text()


def test_start_empties_the_mailbox_of_the_last_lab(tmp_path, monkeypatch):
    (tmp_path / "old.eml").write_bytes(b"x")
    started = []
    monkeypatch.setattr(services, "spawn", lambda role, argv, log: started.append((role, argv)) or "proc")
    assert services.start_smtp_sink(tmp_path, tmp_path / "log") == "proc"
    assert not list(tmp_path.glob("*.eml")) and started[0][0] == "smtp"


def test_status_lists_the_sink(monkeypatch):
    monkeypatch.setattr(status, "is_running", lambda process: True)
    proc = processes.LabProcess(role="smtp", pid=4242, start_time=1, log_path="/l")
    state = LabState(hosts=[], phase="up", processes=[proc],
                     smtp_sink=SmtpSinkSettings(host=settings.SERVICE_ADDRESS, port=2525, mail_dir="/m"))
    assert f"smtp:  {settings.SERVICE_ADDRESS}:2525 sink, messages in /m (running, pid 4242)" in status.format_status(state)
    assert status.status_dict(state)["smtp_sink"] == {"address": f"{settings.SERVICE_ADDRESS}:2525",
                                                      "mail_dir": "/m", "status": "running, pid 4242"}
    older = LabState(hosts=[], phase="up")  # a lab brought up before the sink existed
    assert "smtp:  sink not started" in status.format_status(older)
