"""A heartbeat to the device: notices within seconds when a device that answered stops answering.

A hung transport (an SSH server that froze, a device that lost power behind a switch that keeps the TCP
connection) can hold any command for minutes; the per-command limits on the device cannot help when the
command never reaches it. The heartbeat runs a trivial command every `interval_s` in its own thread, bounded
by `timeout_s` here, and calls `on_lost(reason)` once when a device that has answered before does not.

>>> beat = Heartbeat(runner, on_lost=print, interval_s=2, timeout_s=10).start()    # doctest: +SKIP
>>> beat.stop()                                                                    # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = ["Heartbeat"]

# runner(command, timeout_s) -> exit status; raises when the transport fails or does not answer in time
Runner = Callable[[str, float], int]


class Heartbeat:
    """Runs ``true`` on the device every `interval_s`; `on_lost(reason)` once when it stops answering."""

    def __init__(
        self, runner: Runner, on_lost: Callable[[str], Any], interval_s: float = 2.0, timeout_s: float = 15.0
    ) -> None:
        self.runner = runner
        self.on_lost = on_lost
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.answered = 0
        self.lost: str | None = None
        self.last_answer_s: float | None = None  # seconds the last answer took
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._loop, name="jetson-hil-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> str:
        """One heartbeat: '' when the device answered, else why not (one line)."""
        started = time.monotonic()
        try:
            rc = self.runner("true", self.timeout_s)
        except Exception as exc:  # the transport's own error or its time limit
            return str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        self.last_answer_s = time.monotonic() - started
        return "" if rc == 0 else f"`true` exited {rc}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            problem = self.beat()
            if self._stop.is_set():
                return
            if not problem:
                self.answered += 1
            elif self.answered:  # a device that never answered is the rig's to report, at its first use
                at = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
                self.lost = f"stopped answering at {at}: {problem}"
                self.on_lost(self.lost)
                return
            self._stop.wait(self.interval_s)
