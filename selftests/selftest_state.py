"""What the selftests own on this machine, kept apart from what a user runs.

Their simulators are named ``st-<purpose>`` (``st-<purpose>-gwN`` under a pytest-xdist worker, so two workers
never share one); no README command, ``run-suite`` or ``sim up`` default uses that prefix. Suite runs write
their reports under a temporary ``reports/`` (``JETSON_HIL_REPORTS``, set by ``selftests/conftest.py``),
never the checkout's.
"""

from __future__ import annotations

import os

PREFIX = "st-"


def sim_name(purpose: str) -> str:
    """The simulator name for one purpose of the selftests (``st-safety``), unique per xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{PREFIX}{purpose}" + (f"-{worker}" if worker else "")


def owned(name: str) -> bool:
    return name.startswith(PREFIX)
