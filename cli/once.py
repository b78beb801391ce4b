"""Commands that refuse an option given more than once: click would keep the last value
without a word, and an administrator who typed two reasons, or two databases, would not learn
which one counted."""

from __future__ import annotations

import click


def _refuse_repeats(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    """A usage error naming the first option of ``args`` given again (one meant to repeat
    aside); nothing where ``--help`` or ``--version`` asks for something else."""
    if ctx.resilient_parsing:
        return
    try:
        _, _, order = command.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError:
        return  # the real parse says what is wrong
    if any(isinstance(param, click.Option) and param.is_eager for param in order):
        return
    seen: set[str | None] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count:
            continue
        if param.name in seen:
            raise click.UsageError(f"option {param.opts[0]} is given more than once; give it "
                                   "once", ctx)
        seen.add(param.name)


class OnceCommand(click.Command):
    """A command that refuses an option given twice."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)


class OnceGroup(click.Group):
    """A group that refuses an option given twice, as its commands and subgroups do."""

    command_class = OnceCommand
    group_class = type  # a subgroup is of its parent's class

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)
