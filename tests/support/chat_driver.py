"""``morrow chat`` in a process of its own with a scripted model, for the terminal test.

Run as ``python chat_driver.py HOME``: the real CLI (``cli.main``), the real REPL on the real
terminal (a pseudo-terminal pexpect made), with ``App.provider`` answering from the script
below; only the model is scripted. The second turn streams two lines and then stalls until
the user presses Ctrl-C.
"""

from __future__ import annotations

import asyncio
import sys

from morrow.agent.app import App
from morrow.agent.cli import main
from morrow.agent.providers.scripted import BrokenStream, ScriptedProvider, call, calls, text

START, END = "2030-05-06T12:00:00+02:00", "2030-05-06T12:30:00+02:00"


async def _forever() -> None:
    await asyncio.Event().wait()  # until the turn is cancelled (Ctrl-C)


def script() -> ScriptedProvider:
    create = call("create_event", title="Lunch with Sam", start=START, end=END)
    return ScriptedProvider(
        [
            calls(create, say="Let me add it."),
            text("Added **Lunch with Sam**."),
            BrokenStream("Once upon a time\nthere was a calendar", wait=_forever),
        ],
        model="offline-demo",  # priced as the config's demo model: no price warning
    )


if __name__ == "__main__":
    model = script()
    App.provider = lambda self, name=None, **_: model  # type: ignore[method-assign]
    sys.exit(main(["--home", sys.argv[1], "chat", "--new", "--session", "t1"]))
