"""The `workflow` program's entry point: it runs before anything heavy is imported, so that
Ctrl-C during start-up ends the program as it does later, with one line and exit code 130."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from cli.main import main as run
        from workflow import interrupts
    except KeyboardInterrupt:
        if sys.stderr is not None:
            sys.stderr.write("error: interrupted: nothing was changed\n")
        raise SystemExit(130) from None
    interrupts.ending_the_program()
    run()


if __name__ == "__main__":
    main()
