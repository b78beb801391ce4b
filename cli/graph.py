"""`workflow graph`: the process diagram, or one request's path through it."""

from __future__ import annotations

import click

from cli.app import App, pass_app
from cli.once import OnceCommand
from workflow import graph as diagrams


@click.command(cls=OnceCommand, short_help="Draw the process; with REF, mark the path it took.")
@click.argument("ref", required=False)
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True, help="Mermaid (renders on GitHub) or Graphviz DOT.")
@pass_app
def graph(app: App, ref: str | None, fmt: str) -> None:
    """Draw the process; with REF, mark that request's path (who, when) and current state."""
    draw = diagrams.mermaid if fmt == "mermaid" else diagrams.dot
    wf = app.user_workflow()
    if ref is None:
        click.echo(draw(app.process), nl=False)
        return
    record = wf.get(ref)
    click.echo(draw(app.process, wf.path(ref), record["state"]), nl=False)
