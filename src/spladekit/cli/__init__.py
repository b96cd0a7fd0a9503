"""The ``spladekit`` command line: subcommands, JSON lines out, one-line errors.

Each command lives in a module of this package (``encode``, ``collection``, ``evaluation``...);
:mod:`.options` holds the options they share, derived from the library's own declarations.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import click

from ..errors import ModelMismatchError, SpladeError, first_line, one_line
from .options import DEBUG_ENV


class _Group(click.Group):
    """Turns errors into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(os.environ.get(DEBUG_ENV))
        was_disabled = logging.root.manager.disable
        with warnings.catch_warnings():
            if not debug:
                # Libraries under the CLI (pymilvus, milvus-lite, transformers, torch, ray) log
                # their own tracebacks and notices to stderr; the CLI says what went wrong
                # itself, in one line.
                logging.disable(logging.CRITICAL)
                warnings.simplefilter("ignore")
            try:
                return self._invoke(ctx, debug)
            finally:
                logging.disable(was_disabled)

    def _invoke(self, ctx: click.Context, debug: bool) -> Any:
        try:
            return super().invoke(ctx)
        except ModelMismatchError as exc:
            click.echo(
                f"error: {one_line(exc)} (on the command line: --allow-other-model)", err=True
            )
            ctx.exit(1)
        except SpladeError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(1)
        except (BrokenPipeError, KeyboardInterrupt):
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors and exits: click reports them itself
        except OSError as exc:
            if debug:
                raise
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(1)
        except Exception as exc:
            if debug:
                raise
            first = first_line(exc)
            click.echo(
                f"error: unexpected {type(exc).__name__}: {first} (set {DEBUG_ENV}=1 to see the "
                "traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="spladekit")
def main() -> None:
    """SPLADE sparse vectors: encode texts, index and search them in Milvus, evaluate, serve."""


def _register() -> None:
    from . import collection, encode, evaluation, finetune, inspect, serve

    for module in (encode, inspect, collection, evaluation, serve, finetune):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
