"""Perf-only options and fixtures: baselines per device, the device clock's offset, `perf_measure`.

``--update-baseline``  write this run's perf figures to ``baselines/<device>.json`` at the session's end
                       (merged into what is there), instead of comparing with it.
``--perf-json PATH``   also write this run's perf figures to PATH (the fidelity selftest reads them);
                       or JETSON_HIL_PERF_JSON=PATH.
Both options exist only when tests/perf is named on the command line (see `updating`).

`perf_measure(name, value, unit, low=None, high=None, better="lower"|"higher"|None, doc="", fix="")` records
the figure, checks it against the profile's limits (`low`/`high`), then against the device's baseline: a
regression beyond ``limits.baseline_tolerance`` (and beyond `SLACK` in the figure's unit) fails with the delta
and both values. Without a baseline
the figure passes on the profile's limits and the test carries a note saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jetson_hil.perf import Baseline

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
CLOCK_TIMEOUT_S = 60.0  # the rig's quiet wait and seven round trips, with room
UPDATE_ENV = "JETSON_HIL_UPDATE_BASELINE"
# the smallest change in a unit that counts as a regression, whatever the relative tolerance says
SLACK = {"ms": 2.0, "%": 5.0, "C": 3.0, "MHz": 50.0}


def updating(config: pytest.Config) -> bool:
    """--update-baseline, or JETSON_HIL_UPDATE_BASELINE=1. pytest parses the command line before it reads
    this conftest unless tests/perf is named on it, so `pytest -m jetson --update-baseline` is refused: use
    `pytest -m perf tests/perf --update-baseline`, or the variable with a whole-suite run."""
    return bool(config.getoption("--update-baseline", False)) or os.environ.get(UPDATE_ENV) == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jetson-hil")
    group.addoption(
        "--update-baseline",
        action="store_true",
        default=False,
        help="write this run's perf figures to baselines/<device>.json instead of comparing with it",
    )
    group.addoption("--perf-json", default=None, metavar="PATH", help="also write this run's perf figures to PATH")


@pytest.fixture(scope="session")
def perf_figures(pytestconfig: pytest.Config, profile: Any) -> Any:
    """name -> {value, unit, better} of this session's perf figures; written out at the session's end."""
    figures: dict[str, dict[str, Any]] = {}
    yield figures
    if not figures:
        return
    if updating(pytestconfig):
        baseline = Baseline.load(BASELINES, profile.name) or Baseline(profile.name)
        baseline.metrics.update({k: v for k, v in figures.items() if v.get("better")})
        path = baseline.save(BASELINES)
        print(f"\njetson-hil: perf baseline of {profile.name} written to {path}")
    out = pytestconfig.getoption("--perf-json", None) or os.environ.get("JETSON_HIL_PERF_JSON")
    if out:
        Path(out).write_text(json.dumps({"device": profile.name, "metrics": figures}, indent=2), encoding="utf-8")


@pytest.fixture(scope="session")
def baseline(pytestconfig: pytest.Config, profile: Any) -> Baseline | None:
    """The device's baseline, or None (no file yet, or --update-baseline is writing a new one)."""
    if updating(pytestconfig):
        return None
    return Baseline.load(BASELINES, profile.name)


@pytest.fixture
def perf_measure(
    measure: Any, perf_figures: dict, baseline: Baseline | None, profile: Any, attach: Any, pytestconfig: pytest.Config
) -> Any:
    tolerance = profile.limits.baseline_tolerance
    notes: list[str] = []

    def _perf_measure(
        name: str,
        value: Any,
        unit: str = "",
        low: float | None = None,
        high: float | None = None,
        better: str | None = "lower",
        doc: str = "",
        fix: str = "",
    ) -> Any:
        __tracebackhide__ = True
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        perf_figures[name] = {"value": number, "unit": unit, "better": better}
        m = measure(name, value, unit, low=low, high=high, doc=doc, fix=fix)
        if better is None or number is None:
            return m
        bounds = baseline.limits(name, tolerance, SLACK.get(unit, 0.0)) if baseline else None
        if bounds is None:
            why = (
                "--update-baseline writes it"
                if updating(pytestconfig)
                else (f"no baseline for it in baselines/{profile.name}.json (write one with --update-baseline)")
            )
            notes.append(f"{name}: not compared with a baseline: {why}")
            return m
        return measure(
            f"{name}.vs_baseline",
            value,
            unit,
            low=bounds[0],
            high=bounds[1],
            doc=f"{name} against baselines/{profile.name}.json, tolerance {tolerance:g}",
            fix=(baseline.regression(name, float(number), tolerance, SLACK.get(unit, 0.0)) or "")
            + ". Fix: find what changed on the device (image, JetPack, power mode, thermal throttling); if the "
            "change is intended, rewrite the baseline with --update-baseline",
        )

    yield _perf_measure
    if notes:
        attach("baseline notes", "\n".join(notes))


@pytest.fixture(scope="session")
def device_clock(rig: Any, host: Any) -> Any:
    """The device clock's offset from ours, from ``date +%s.%N`` round trips through the host (the fastest wins),
    measured by the rig in the background during the evidence window (fixtures/background.py, `clock`)."""
    return rig.result("clock", CLOCK_TIMEOUT_S)
