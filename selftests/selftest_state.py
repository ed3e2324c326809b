"""What the selftests own on this machine, kept apart from what a user runs.

Their simulators are named ``st-<purpose>`` (``st-<purpose>-gwN`` under a pytest-xdist worker, so two workers
never share one); no README command, ``run-suite`` or ``sim up`` default uses that prefix. Suite runs write
their reports under a temporary ``reports/`` (``JETSON_HIL_REPORTS``, set by ``selftests/conftest.py``),
never the checkout's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

PREFIX = "st-"


def sim_name(purpose: str) -> str:
    """The simulator name for one purpose of the selftests (``st-safety``), unique per xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{PREFIX}{purpose}" + (f"-{worker}" if worker else "")


def owned(name: str) -> bool:
    return name.startswith(PREFIX)


@contextlib.contextmanager
def engine_turn(exclusive: bool):
    """A turn at the one Docker engine every simulator on this machine shares, among pytest-xdist workers.

    A test that reconfigures the engine itself (the matrix's engine faults: the nvidia runtime removed, runc as
    the default) takes it alone; every other test shares it. Otherwise another worker's simulator, recreating its
    containers, puts the runtime back mid-row (or fails to start on the reconfigured engine). The turnstile
    keeps a waiting exclusive turn from being starved by the other worker's back-to-back shared ones.
    """
    from jetson_hil.sim.paths import state_root

    locks = state_root() / "locks"  # beside the simulator's own host-wide locks, never one of them: a turn held
    locks.mkdir(parents=True, exist_ok=True)  # on the engine's start lock would deadlock the test that starts it
    with open(locks / "engine-turn.gate", "w") as gate, open(locks / "engine-turn.lock", "w") as engine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(engine, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(engine, fcntl.LOCK_UN)
