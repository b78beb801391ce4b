"""The ``workflow`` command: global options, sub-commands, and the one place errors become exits.

Every expected failure is one line on stderr with exit code 1 (refused, unknown, conflict) or
2 (malformed input); nothing reaches the user as a traceback.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import sys
from typing import Any

import click

from cli import streams
from cli.app import App
from cli.once import OnceGroup
from workflow import interrupts
from workflow.errors import UnknownUser, Unreadable, WorkflowError
from workflow.values import quoted


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return "admin"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _check_arguments(args: list[str]) -> None:
    """Arguments and settings must be text the databases can store (before anything runs)."""
    named = [(f"argument {n}", a) for n, a in enumerate(args, 1)]
    named += [(name, os.environ[name]) for name in ENVIRONMENT if name in os.environ]
    for where, value in named:
        if "\x00" in value:
            raise click.UsageError(f"{where} contains a NUL byte")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.UsageError(f"{where} is not valid UTF-8") from None


ENVIRONMENT = ("WORKFLOW_DB", "WORKFLOW_USER")


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during a command: carried past click, which would print a blank
    line first."""

    def __init__(self, stop: KeyboardInterrupt) -> None:
        super().__init__()
        self.stop = stop


class OutputClosed(Exception):
    """The reader of the output went away (a closed pipe): carried past click, which would
    exit 1 saying nothing, whether or not the change was committed."""


class WorkflowGroup(OnceGroup):
    """A group whose ``main`` turns every failure into one line on stderr and an exit code."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as stop:
            raise Interrupted(stop) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as stop:
            raise Interrupted(stop) from None
        except BrokenPipeError:
            raise OutputClosed from None
        except UnknownUser as error:
            _from_login_name(ctx, error)
            raise
        except click.UsageError as error:
            if error.message != "Missing command.":
                raise
            raise click.UsageError("options but no command: `workflow --help` lists the "
                                   "commands", ctx) from None

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        streams.prepare()
        code = 0
        with interrupts.held() as held:
            code = self._run(args, prog_name, complete_var, held, **extra)
        if held.pressed and code == 0:
            with contextlib.suppress(OSError):
                click.echo(f"note: {_stopped(held.pressed)} after the change was committed: it "
                           "is applied, and the output above is complete", err=True)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args: Any, prog_name: str | None, complete_var: str | None,
             held: Any, **extra: Any) -> int:
        """The command, its failures made into one line and an exit code."""
        code = 0
        hook = sys.unraisablehook
        try:
            _check_arguments(list(sys.argv[1:] if args is None else args))
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.ctx.get_help() if error.ctx else error.format_message())
            code = 0
        except WorkflowError as error:
            if isinstance(error, Unreadable):  # its reads' cursors may fail again as they go
                sys.unraisablehook = _unsaid
            click.echo(f"error: {_one_line(str(error))}", err=True)
            code = error.exit_code
        except click.UsageError as error:
            click.echo(f"error: {_one_line(error.format_message())}", err=True)
            code = 2
        except click.ClickException as error:
            click.echo(f"error: {_one_line(error.format_message())}", err=True)
            code = error.exit_code
        except (Interrupted, click.Abort, KeyboardInterrupt) as error:
            stop = error.stop if isinstance(error, Interrupted) else error
            signum = signal.SIGTERM if isinstance(stop, interrupts.Terminated) else signal.SIGINT
            with contextlib.suppress(OSError):
                click.echo(f"error: {_stopped(signum)}: " + (
                    "what was committed before it stays, the rest was not done" if held.kept
                    else "nothing was changed"), err=True)
            code = 128 + signum
        except OutputClosed:
            _quiet_stdout()  # nothing more can reach it, not even at exit
            _output_failed("the output was closed before it was all written", held)
            code = 1
        except OSError as error:  # writing the output, most likely (a full disk)
            _output_failed(error.strerror or str(error), held)
            code = 1
        except Exception as error:  # the promise: never a traceback
            sys.unraisablehook = _unsaid
            click.echo(f"error: unexpected {type(error).__name__}: {_one_line(str(error))}",
                       err=True)
            code = 1
        if sys.unraisablehook is _unsaid:
            import gc

            gc.collect()  # what the failure left (its reads' cursors) cleaned up quietly
            sys.unraisablehook = hook
        return code


def _from_login_name(ctx: click.Context, error: UnknownUser) -> None:
    """Where the unknown user is the login name --as defaults to (and the database does not
    say who acts), say so, and how to name the user."""
    app = ctx.obj
    if (not isinstance(app, App) or app.actor_named or app.logged_in
            or not str(error).startswith(f"unknown user {quoted(app.actor)};")):
        return
    tag = f" [rule: {UnknownUser.rule}]"
    text = str(error).removesuffix(tag)
    error.args = (f"{text} (it is your login name, the default of --as: name a registered user "
                  f"with --as NAME or WORKFLOW_USER){tag}",)


def _stopped(signum: int) -> str:
    return "terminated" if signum == signal.SIGTERM else "interrupted"


def _unsaid(_unraisable: Any) -> None:
    """While a failed command's leftovers are cleaned up: a cleanup that fails too (a cursor
    over an unreadable value, say) fails for the reason the one line already gave."""


def _output_failed(what: str, held: Any) -> None:
    done = " (after the change was committed: it is applied)" if held.committed else ""
    with contextlib.suppress(OSError):  # stderr gone too: the exit code is all that is left
        click.echo(f"error: {_one_line(what)}{done}", err=True)


def _quiet_stdout() -> None:
    """Standard output pointed at the null device, so that flushing it at exit raises no
    second error."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@click.group(cls=WorkflowGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Dates are YYYY-MM-DD; moments ISO 8601, UTC unless an offset is given. "
                    "Commands that print data take --json. Exit codes: 0 done, 1 refused (the "
                    "rule named), not found or a check failed, 2 bad input or usage, 130 "
                    "interrupted (143 terminated).")
@click.option("--db", envvar="WORKFLOW_DB", default="workflow.db", show_default=True,
              metavar="PATH|URL",
              help="SQLite file path, or a database URL such as postgresql://user@host/db "
                   "(env WORKFLOW_DB).")
@click.option("--as", "actor", envvar="WORKFLOW_USER", default=_default_user, metavar="NAME",
              show_default="your login name",
              help="Who is acting; must be a registered, active user (env WORKFLOW_USER).")
@click.version_option(package_name="transfer-workflow")
@click.pass_context
def cli(ctx: click.Context, db: str, actor: str) -> None:
    """Approval workflow for defence-equipment transfer requests.

    Every change is checked against the process rules and recorded in an audit history.
    Run `workflow demo` to see the whole story played on a fresh database.
    """
    preset = ctx.obj if isinstance(ctx.obj, dict) else {}
    named = ctx.get_parameter_source("actor") is not click.core.ParameterSource.DEFAULT
    if named and not actor.strip():
        raise click.BadParameter("names no user (it is blank)", ctx, param_hint="'--as'")
    app = App(db, actor, clock=preset.get("clock"), actor_named=named)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    from cli import audit, db, demo, graph, policy, records, setup, trail

    for command in (setup.init, setup.user, records.request, trail.advance, trail.history,
                    trail.due, trail.todo, policy.policy, audit.audit, db.db, graph.graph,
                    demo.demo):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="workflow")
