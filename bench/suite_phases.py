"""Where a suite run's seconds go: a pytest plugin that timestamps the phases of one run (issue 7).

Loaded by ``bench/suite_speed.py --phases`` (``-p suite_phases`` with bench/ on PYTHONPATH); writes JSON to
``$JETSON_HIL_PHASES`` at exit: seconds since ``$JETSON_HIL_PHASES_T0`` (the bench's launch time, so the
interpreter's start-up counts) for each phase mark, and the slowest test phases with the time each ended.
The marks: plugins loaded, collection done, first test set up, last test torn down, report written
(every pytest_sessionfinish done: summary.json, plots, pytest-html's page), unconfigure done, and the interpreter's exit
(an atexit handler registered first, so it runs last of all handlers).
"""

from __future__ import annotations

import atexit
import json
import os
import time

import pytest

T0 = float(os.environ.get("JETSON_HIL_PHASES_T0") or time.time())
MARKS: dict[str, float] = {}
SLOW: list[tuple[float, float, str]] = []  # (duration, ended, "when nodeid")
KEEP = 12


def _mark(name: str) -> None:
    MARKS.setdefault(name, round(time.time() - T0, 3))


def _write() -> None:
    MARKS["exit"] = round(time.time() - T0, 3)
    path = os.environ.get("JETSON_HIL_PHASES")
    if path:
        slow = [{"seconds": round(d, 3), "ended": round(e, 3), "what": w} for d, e, w in sorted(SLOW, reverse=True)]
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"marks": MARKS, "slowest": slow[:KEEP]}, f, indent=1)


atexit.register(_write)
_mark("plugins loaded")


def pytest_collection_finish(session: pytest.Session) -> None:
    _mark("collected")


def pytest_runtest_setup(item: pytest.Item) -> None:
    _mark("first test set up")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    now = time.time() - T0
    MARKS["last test torn down"] = round(now, 3)
    SLOW.append((report.duration, now, f"{report.when} {report.nodeid}"))


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session):
    yield
    _mark("report written")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _mark("unconfigured")
