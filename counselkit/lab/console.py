"""Progress messages: plain lines on stderr so stdout stays for status output."""

import sys


def say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)
