"""Shared ground for the suite's own tests: one simulated Jetson (tiny encoder) for the session, and three
promises checked at the session's end (by the controller under pytest-xdist).

- The selftests never touch what the user made: suite runs they start write their reports under a temporary
  `reports/` (JETSON_HIL_REPORTS, set here before any test or xdist worker starts), their simulators are named
  by `selftest_state.sim_name`, and the session fails if the user's reports or simulators changed (in CI, or
  with JETSON_HIL_STRICT=1, also if a simulator of another name appeared).
- No silent skips in CI: with CI=true (or JETSON_HIL_STRICT=1) a skip whose reason is not in
  `EXPECTED_SKIPS` fails the session.
- Under pytest-xdist, a test that reconfigures the Docker engine every simulator shares runs alone
  (`engine_alone`); `scripts/test` hands out whole files (`--dist loadfile`), so a module's simulators start once.
- Where the time went: seconds per phase are printed in the summary, `scripts/test`'s bootstrap and lint
  (JETSON_HIL_PHASE_TIMES) and the tests' unit, simulator and meta phases.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from selftest_state import engine_turn, owned, sim_name

ROOT = Path(__file__).resolve().parents[1]
SIM_NAME = os.environ.get("JETSON_HIL_SELFTEST_SIM") or sim_name("shared")

# Skips a CI run accepts, by a piece of their reason, each with why it is expected there. Keep it short.
EXPECTED_SKIPS = {
    "this host has a CUDA GPU": "the CPU-only probe paths, on a runner with a real GPU",
    "JETSON_HIL_META=0": "the live fault matrix, left out on request (CI never sets it)",
}
PHASES = {"selftests/unit/": "unit", "selftests/meta/": "meta"}  # anything else: simulator

# Hypothesis' 200 ms deadline is a clock assertion: on a loaded 2-core machine it fails correct code.
settings.register_profile("selftests", deadline=None)
settings.load_profile("selftests")

_USER_REPORTS = "JETSON_HIL_SELFTEST_USER_REPORTS"
_SIM_IDENTITY = ("kind", "module", "release", "encoder", "backend", "rate", "mqtt_port", "ssh_port")
if not os.environ.get("PYTEST_XDIST_WORKER") or _USER_REPORTS not in os.environ:  # xdist workers inherit both
    os.environ[_USER_REPORTS] = os.environ.get("JETSON_HIL_REPORTS") or str(ROOT / "reports")
    os.environ["JETSON_HIL_REPORTS"] = str(Path(tempfile.mkdtemp(prefix="jetson-hil-selftest-")) / "reports")


def _user_state() -> dict[str, object]:
    """What the user made: the reports directory's entries and `latest`, and each simulator's saved config."""
    from jetson_hil.sim.paths import state_root

    reports = Path(os.environ[_USER_REPORTS])
    latest = reports / "latest"
    state: dict[str, object] = {
        "reports/": sorted(p.name for p in reports.iterdir()) if reports.is_dir() else [],
        "reports/latest": os.readlink(latest) if latest.is_symlink() else None,
    }
    for path in sorted((state_root() / "sim").glob("*/sim.json")):
        if not owned(path.parent.name):
            try:  # what a selftest that took the name would change; faults the user toggles meanwhile are theirs
                cfg = json.loads(path.read_text())
                state[f"simulator {path.parent.name}"] = {k: cfg.get(k) for k in _SIM_IDENTITY}
            except (OSError, ValueError):
                continue
    return state


class _SessionWatch:
    """The controller's view of the whole session: the user's state before, every skip, seconds per phase."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.before = _user_state()
        self.skips: list[tuple[str, str]] = []
        self.phase_s: dict[str, float] = {}
        self.file_s: dict[str, float] = {}
        self.problems: list[str] = []
        self.phases_line = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phase = next((name for prefix, name in PHASES.items() if report.nodeid.startswith(prefix)), "simulator")
        self.phase_s[phase] = self.phase_s.get(phase, 0.0) + report.duration
        path = report.nodeid.split("::", 1)[0]
        self.file_s[path] = self.file_s.get(path, 0.0) + report.duration
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skips.append((report.nodeid, reason))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        after = _user_state()
        strict = os.environ.get("CI", "").lower() == "true" or os.environ.get("JETSON_HIL_STRICT") == "1"
        # a simulator that appeared meanwhile may be the user's own work beside the tests; in CI it is ours
        keys = self.before.keys() | (after.keys() if strict else set())
        if changed := sorted(k for k in keys if self.before.get(k) != after.get(k)):
            self.problems.append(f"the selftests changed what the user made: {', '.join(changed)} (selftests name "
                                 "their simulators with selftest_state.sim_name and leave reports/ alone)")
        unexpected = [(n, r) for n, r in self.skips if not any(k in r for k in EXPECTED_SKIPS)]
        if strict and unexpected:
            self.problems.append(f"{len(unexpected)} unexpected skip(s) (selftests/conftest.py EXPECTED_SKIPS "
                                 "lists the expected ones):\n" + "\n".join(f"  {n}: {r}" for n, r in unexpected))
        if self.problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        measured = [p.split("=", 1) for p in os.environ.get("JETSON_HIL_PHASE_TIMES", "").split() if "=" in p]
        phases = [f"{n} {s} s" for n, s in measured] + [
            f"{n} {self.phase_s[n]:.0f} s" for n in ("unit", "simulator", "meta") if n in self.phase_s]
        self.phases_line = "seconds by phase: " + ", ".join(phases) + " (test phases: durations summed over workers)"
        slowest = sorted(self.file_s.items(), key=lambda kv: -kv[1])[:12]
        self.phases_line += "\nslowest files: " + ", ".join(f"{Path(f).name} {s:.0f} s" for f, s in slowest)
        reports = Path(os.environ["JETSON_HIL_REPORTS"]).parent
        if session.exitstatus == 0 or not any(reports.glob("*/*")):
            shutil.rmtree(reports, ignore_errors=True)
        else:
            self.problems.append(f"the reports of this session's suite runs: {reports}")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_line(self.phases_line)
        for problem in self.problems:
            terminalreporter.write_line(problem, red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engine_alone: reconfigures the shared Docker engine; runs while no other "
                            "pytest-xdist worker runs a test (selftest_state.engine_turn)")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_SessionWatch(config), "jetson-hil-selftest-watch")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Under pytest-xdist each test (its fixtures' set-up and tear-down included) holds a turn at the engine."""
    if not hasattr(item.config, "workerinput"):  # not an xdist worker (a nested run inherits only the env)
        return (yield)
    with engine_turn(exclusive=item.get_closest_marker("engine_alone") is not None):
        return (yield)


@pytest.fixture(scope="session")
def sim():
    """The shared simulated device, started if needed and stopped after unless it was already up."""
    from jetson_hil.sim import simulator

    before = simulator.status(SIM_NAME)
    cfg = simulator.SimConfig(name=SIM_NAME, encoder="tiny", rate=5.0, gpu="simulated")  # the same on a GPU host
    cfg = simulator.up(cfg, log=lambda m: None)
    yield cfg
    if before.get("state") != "up":
        simulator.down(SIM_NAME, log=lambda m: None)
