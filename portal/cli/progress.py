"""One progress bar for every long CLI job, fed by the services' progress(done, total) callbacks."""
from __future__ import annotations

import sys
from typing import Callable

import click


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A callback drawing a click progress bar on stderr; it closes itself at the end."""
    state: dict = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=max(total, 1), label=label, show_pos=True, file=sys.stderr)
            state["bar"].__enter__()
        bar = state["bar"]
        bar.update(done - bar.pos)
        if done >= total and not state.get("closed"):
            state["closed"] = True
            bar.__exit__(None, None, None)

    return progress
