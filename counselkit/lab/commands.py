"""``counselkit lab ...``: the click group for the lab."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from counselkit.lab import ssh
from counselkit.lab.errors import LabError
from counselkit.lab.lifecycle import lab_down, lab_reset, lab_up
from counselkit.lab.prereqs import require_root
from counselkit.lab.state import load_state
from counselkit.lab.status import format_status, status_dict


class _LabGroup(click.Group):
    """Turns lab failures into a message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; run `counselkit lab down` to clean up") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
            raise click.ClickException(f"unexpected error: {exc.__class__.__name__}: {exc}") from None


@click.group("lab", cls=_LabGroup)
def lab() -> None:
    """Real Debian 12 hosts on this machine (systemd-nspawn), a proxy and S3 for them."""


@lab.command("up")
@click.option("--hosts", "count", type=click.IntRange(1), default=1, show_default=True,
              help="Number of hosts (node1..nodeN).")
def up(count: int) -> None:
    """Build the image if needed and boot the lab hosts."""
    state = lab_up(count)
    click.echo(format_status(state))


@lab.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(as_json: bool) -> None:
    """Show hosts, addresses, proxy and S3."""
    require_root()
    state = load_state()
    if as_json:
        click.echo(json.dumps(status_dict(state), indent=2))
    else:
        click.echo(format_status(state))


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh_command(host: str, command: tuple[str, ...]) -> None:
    """Open a shell on HOST, or run COMMAND there (after --)."""
    require_root()
    state = load_state()
    if state is None:
        raise LabError("the lab is down; run `counselkit lab up` first")
    target = state.host(host)
    interactive = not command and sys.stdin.isatty()
    argv = ssh.ssh_argv(target, list(command) or None, batch=not interactive, tty=interactive)
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # hand the terminal over to ssh; its exit status is ours


@lab.command("reset")
@click.argument("host")
def reset(host: str) -> None:
    """Give HOST a fresh copy of the image and boot it again (the other hosts keep running)."""
    lab_reset(host)


@lab.command("down")
def down() -> None:
    """Stop the hosts and services, remove namespaces and links; keep the image cache."""
    lab_down()
