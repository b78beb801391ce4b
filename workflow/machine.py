"""One ``transitions`` machine per process definition, shared by every record and every call.

The machine holds no model and is never rebuilt: its transitions are read once into a table of
(state, event) -> destination, so firing an event neither builds a Machine nor registers a model.
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
        # Read once from the machine's own transitions: firing is then a dictionary look-up.
        self._dest = {
            (source, name): transitions[0].dest
            for name, event in self.machine.events.items()
            for source, transitions in event.transitions.items()
        }

    def allows(self, state: str, event: str) -> bool:
        return (state, event) in self._dest

    def advance(self, state: str, event: str) -> str:
        """The state ``event`` leads to from ``state``; the machine decides if it may not."""
        dest = self._dest.get((state, event))
        if dest is None:
            token = _Token(state)
            self.machine.events[event].trigger(token)  # raises MachineError
            return token.state
        return dest


_MACHINES: dict[tuple[str, str], Machinery] = {}


def machinery_for(process: Process) -> Machinery:
    key = (process.name, process.version)
    if key not in _MACHINES:
        _MACHINES[key] = Machinery(process)
    return _MACHINES[key]
