"""Commands that refuse an option given more than once: click would keep the last value
without a word, and an administrator who typed two reasons, or two databases, would not learn
which one counted."""

from __future__ import annotations

import click


def _refuse_repeats(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    if ctx.resilient_parsing:
        return
    try:
        _, _, order = command.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError:
        return  # the real parse says what is wrong
    seen: set[str | None] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count \
                or param.is_eager:
            continue
        if param.name in seen:
            raise click.UsageError(f"option {param.opts[0]} is given more than once; give it "
                                   "once", ctx)
        seen.add(param.name)


class OnceCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)


class OnceGroup(click.Group):
    command_class = OnceCommand
    group_class = type  # a subgroup is of its parent's class

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)
