"""The lab's SMTP sink: a real SMTP server on the control side that keeps every message as a file.

Tenant hosts send their mail (Synapse's counsellor notices, the hosts' reports) to it as to a
platform relay; tests read the files in ``settings.SMTP_SINK_DIR``. It runs as
``python -m counselkit.lab.smtp_sink --listen ADDRESS --port PORT --dir DIR`` under the lab's
process records, like the proxy and the S3 server. It accepts any sender and recipient (it delivers
nothing onward) and refuses to listen on anything but a lab or loopback address.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from counselkit.lab import settings

#: Header lines the sink puts in front of each stored message (the SMTP envelope, which the
#: message itself need not repeat).
ENVELOPE_FROM = "X-Counselkit-Sink-Mail-From"
ENVELOPE_TO = "X-Counselkit-Sink-Rcpt-To"


class SinkAddressError(ValueError):
    """The sink was asked to listen on an address outside the lab and loopback."""


def check_listen_address(address: str) -> str:
    """``address`` if it is a single lab (10.248.0.0/16) or loopback IPv4 address, else SinkAddressError.

    A wildcard (0.0.0.0) or a real interface's address would put an open relay-like sink on the
    machine's network.
    """
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError as exc:
        raise SinkAddressError(f"SMTP sink: {address!r} is not an IPv4 address") from exc
    if not (ip in settings.LAB_NET or ip.is_loopback) or ip.is_unspecified:
        raise SinkAddressError(f"SMTP sink: refusing to listen on {address} "
                               f"(only the lab network {settings.LAB_NET} or loopback)")
    return address


def message_file_name(received_ns: int, sequence: int) -> str:
    """Sortable by arrival: nanosecond time, then a per-process counter."""
    return f"{received_ns:020d}-{sequence:06d}.eml"


def stored_message(mail_from: str, rcpt_tos: list[str], content: bytes) -> bytes:
    """The message as stored: envelope header lines, then the message bytes unchanged."""
    envelope = f"{ENVELOPE_FROM}: {mail_from}\r\n" + "".join(f"{ENVELOPE_TO}: {r}\r\n" for r in rcpt_tos)
    return envelope.encode("utf-8", "backslashreplace") + content


class MaildirHandler:
    """aiosmtpd handler: write each message atomically (temporary name, then rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = itertools.count()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        name = message_file_name(time.time_ns(), next(self._sequence))
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(stored_message(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.content or b""))
        os.replace(tmp, self.directory / name)
        return "250 Message accepted for delivery"


def read_messages(directory: Path) -> list[bytes]:
    """Every stored message in arrival order (for tests)."""
    return [p.read_bytes() for p in sorted(directory.glob("*.eml"))]


def serve(listen: str, port: int, directory: Path) -> None:
    """Run until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller  # the lab's test extra; imported only when serving

    check_listen_address(listen)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    controller = Controller(MaildirHandler(directory), hostname=listen, port=port,
                            data_size_limit=settings.SMTP_SINK_MAX_MESSAGE_BYTES)
    controller.start()
    print(f"SMTP sink listening on {listen}:{port}, storing messages in {directory}", flush=True)
    try:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m counselkit.lab.smtp_sink", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=settings.SERVICE_ADDRESS)
    parser.add_argument("--port", type=int, default=settings.SMTP_SINK_PORT)
    parser.add_argument("--dir", type=Path, default=settings.SMTP_SINK_DIR)
    args = parser.parse_args(argv)
    # Block the signals before the server thread starts, so sigwait (not a default handler) gets them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        serve(args.listen, args.port, args.dir)
    except SinkAddressError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
