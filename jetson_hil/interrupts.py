"""Ctrl-C and SIGTERM during a change to a device: turned into exceptions, and held off while restoring.

Python raises KeyboardInterrupt on SIGINT, but SIGTERM (what CI runners, `timeout` and `kill` send) ends
the process at once by default, so `finally` blocks never run and a half-changed device stays that way.
`terminate_as_interrupt` makes SIGTERM raise `Terminated`, a KeyboardInterrupt, so pytest ends the
session the same way as on Ctrl-C and every clean-up runs. `held_interrupts` then keeps a second Ctrl-C
or SIGTERM from cutting the restore itself short: the signal is noted and raised again once the block is
done.

Signal handlers can only be set in the main thread; elsewhere both are no-ops.

>>> with terminate_as_interrupt():                                        # doctest: +SKIP
...     change_the_device()          # SIGTERM here raises Terminated
... # and in the clean-up:
>>> with held_interrupts():                                             # doctest: +SKIP
...     restore_the_device()         # Ctrl-C here waits until the restore is done
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["Terminated", "held_interrupts", "terminate_as_interrupt"]

HELD = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the run is being stopped from outside."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"{signal.Signals(signum).name} received: stopping after restoring the device")
        self.signum = signum


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (unless a handler other than the default is set)."""
    if not _main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    mine = previous in (signal.SIG_DFL, None)
    if mine:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if mine:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def held_interrupts() -> Iterator[list[int]]:
    """Within the block SIGINT and SIGTERM are noted, not acted on; after it, the first one noted is raised
    (KeyboardInterrupt for SIGINT, `Terminated` for SIGTERM). Yields the list of signals noted so far."""
    noted: list[int] = []
    if not _main_thread():
        yield noted
        return

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    previous: dict[int, Any] = {}
    for signum in HELD:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, note)
    try:
        yield noted
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if noted:
        if noted[0] == signal.SIGINT:
            raise KeyboardInterrupt(f"{signal.Signals(noted[0]).name} received while restoring the device")
        raise Terminated(noted[0])
