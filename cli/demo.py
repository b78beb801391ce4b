"""`workflow demo`: play the seed story into a fresh database, narrating each step."""

from __future__ import annotations

import click

from cli.app import App, pass_app
from cli.once import OnceCommand
from cli.trail import print_trail
from states import demo as story
from workflow import interrupts
from workflow.clock import as_utc
from workflow.errors import WorkflowError


@click.command(cls=OnceCommand)
@pass_app
def demo(app: App) -> None:
    """Play the Patriot PAC-3 story into --db and print its history.

    The database is initialised first (you become its admin) and stays for you to explore.
    Refused, before anything is changed, if the database already holds requests or any of the
    story's users, if its policy no longer tells the story, or if you are not its admin (nor
    may you be one of the story's users).
    """
    app.registering()
    wf = app.workflow(create=True)
    users = [user["name"] for user in wf.users()] if wf.db.is_initialised() else []
    if users:  # who asks is checked first, and a refusal recorded, as for any command
        wf.require_admin(app.actor, "demo")
    fresh = "the demo needs a fresh database (name another: workflow --db FILE demo)"
    if wf.holds_records():
        raise WorkflowError(f"{app.db_shown} already holds requests; {fresh}")
    today = as_utc(wf.clock()).date()
    in_force = {entry["country"] for entry in wf.policy(as_of=today)} if users else None
    problem = story.obstacle(app.db_shown, users, app.actor, in_force)
    if problem:
        raise WorkflowError(problem)
    with interrupts.as_one():  # begun, the story is told to its end
        ref = story.play(wf, app.actor, click.echo, fresh=not users)
    click.echo(f"\nThe history of {ref}, oldest first:\n")
    print_trail(wf.history(ref))
    click.echo(f"\nExplore it: workflow --db {app.db_shown} --as {app.actor} request show "
               f"{ref}   (or --as sato, suzuki, ito)")
