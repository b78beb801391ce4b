"""One ``transitions`` machine per process definition, shared by every record and every call.

The machine holds no model: a throwaway token carrying the current state is triggered, so firing
an event never builds a Machine nor registers a model.
"""

from __future__ import annotations

from transitions import Machine

from workflow.process import Process


class _Token:
    def __init__(self, state: str) -> None:
        self.state = state


class Machinery:
    def __init__(self, process: Process) -> None:
        self.machine = Machine(
            model=None,
            states=list(process.states),
            transitions=[
                {"trigger": e.name, "source": list(e.sources), "dest": e.dest}
                for e in process.events
            ],
            initial=None,
            auto_transitions=False,
        )
        self._triggers = {state: set(self.machine.get_triggers(state)) for state in process.states}

    def allows(self, state: str, event: str) -> bool:
        return event in self._triggers.get(state, ())

    def advance(self, state: str, event: str) -> str:
        token = _Token(state)
        self.machine.events[event].trigger(token)
        return token.state


_MACHINES: dict[tuple[str, str], Machinery] = {}


def machinery_for(process: Process) -> Machinery:
    key = (process.name, process.version)
    if key not in _MACHINES:
        _MACHINES[key] = Machinery(process)
    return _MACHINES[key]
