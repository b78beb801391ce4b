"""What every command shares: the database target, the acting user, the clock, the process.

The database stack is imported only when a command first asks for the workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cli import output
from states import PROCESS
from workflow.errors import InvalidInput
from workflow.process import Process

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.engine import Workflow


class App:
    def __init__(self, db: str, actor: str, clock: Clock | None = None,
                 actor_named: bool = True) -> None:
        self.db = db
        self.actor = actor
        self.actor_named = actor_named
        self.clock = clock
        self.process: Process = PROCESS
        self._workflow: Workflow | None = None

    @property
    def db_shown(self) -> str:
        """The database as messages name it (a URL without its password)."""
        from workflow.database import shown

        return shown(self.db)

    def workflow(self, *, create: bool = False) -> Workflow:
        if self._workflow is None:
            from workflow.database import database_url, in_memory
            from workflow.engine import Workflow

            if in_memory(database_url(self.db)):
                raise InvalidInput(f"--db: {self.db_shown!r} is a database in memory, which would "
                                   "keep nothing once the command ends; name a file")
            self._workflow = Workflow(self.db, process=self.process, clock=self.clock,
                                      create=create)
            self._workflow.waiting = output.say if output.on_terminal() else None  # a person
            if self._workflow.login is not None and not self.actor_named:
                self.actor = self._workflow.login  # the database says who is acting
        return self._workflow

    @property
    def logged_in(self) -> bool:
        """The database says who acts (a PostgreSQL login mapped to a user): not --as."""
        return self._workflow is not None and self._workflow.login is not None

    def registering(self) -> str:
        """The acting user's name for a command that registers it (init, demo), before a
        SQLite file is made. A login name taken by default that no user could have is told how
        to name another; where a PostgreSQL database authenticates by login, the database's
        login is the name."""
        if self.actor_named:
            return self.actor
        from workflow.database import database_url

        if not database_url(self.db).startswith("sqlite") and self.workflow(
                create=True).login is not None:
            return self.actor  # the login the database says is acting
        from workflow import people

        try:
            people.check_name(self.actor)
        except InvalidInput as error:
            raise InvalidInput(f"{error} (it is your login name, the default of --as: name "
                               "the user with --as NAME)") from None
        return self.actor

    def user_workflow(self) -> Workflow:
        """The workflow, after checking that the caller is a registered, active user."""
        wf = self.workflow()
        wf.require_user(self.actor)
        return wf

    def close(self) -> None:
        if self._workflow is not None:
            self._workflow.close()


pass_app = click.make_pass_decorator(App)


def app_from(ctx: click.Context) -> App:
    app = ctx.find_object(App)
    assert app is not None
    return app


