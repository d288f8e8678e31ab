"""The one way every command names its tenants file: `--tenants FILE`, else $COUNSELKIT_TENANTS, else tenants.yaml.

Commands that took the file as a positional argument (`validate`, `plan`, ...) still do, and the older `--file`
of `billing`, `backup` and `secrets set` stays an alias of `--tenants`; all of them resolve through `tenants_path`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

DEFAULT_TENANTS = "tenants.yaml"
TENANTS_ENV = "COUNSELKIT_TENANTS"
HELP = f"The tenants file (default: ${TENANTS_ENV}, else {DEFAULT_TENANTS})."

F = TypeVar("F", bound=Callable[..., Any])
_PATH = click.Path(dir_okay=False, path_type=Path)


def tenants_path(given: Path | str | None = None, default: Path | str = DEFAULT_TENANTS) -> Path:
    """The file named on the command line, else in the environment, else `default`."""
    return Path(given or os.environ.get(TENANTS_ENV) or default)


def tenants_option(positional: bool = False, aliases: tuple[str, ...] = (), default: Path | str = DEFAULT_TENANTS,
                   help_text: str = HELP) -> Callable[[F], F]:
    """Add `--tenants FILE` (plus `aliases`, and an optional positional TENANTS_FILE for backward compatibility) and
    pass the resolved path to the command as `tenants_file`."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, tenants_option_value: Path | None = None, tenants_positional: Path | None = None,
                    **kwargs: Any) -> Any:
            if tenants_positional and tenants_option_value and tenants_positional != tenants_option_value:
                raise click.UsageError(f"two tenants files given ({tenants_positional} and --tenants "
                                       f"{tenants_option_value}); name one")
            return func(*args, tenants_file=tenants_path(tenants_positional or tenants_option_value, default), **kwargs)

        command = click.option("--tenants", *aliases, "tenants_option_value", type=_PATH, default=None,
                               metavar="FILE", help=help_text)(wrapper)
        if positional:
            command = click.argument("tenants_positional", metavar="[TENANTS_FILE]", required=False, type=_PATH)(command)
        return command  # type: ignore[return-value]

    return decorate
