"""The suite's own footprint on the device it measures: the sampler it keeps running there for the whole run.

tegrastats (or the dGPU sampler) is the one long-lived process the suite starts on the device; its CPU over its
life, children included (``sudo``), is read from the device's /proc in one command (jetson_hil.process_cpu).
The rest of the suite's device work (short shells, copies, the Task 2 probe) and the agents' rate with and without
the suite are measured by ``bench/footprint.py`` (docs/performance.md): this figure is the part a real device can
report on every run.
"""

from __future__ import annotations

import pytest

from jetson_hil import process_cpu
from jetson_hil.errors import ParseError

pytestmark = [pytest.mark.jetson, pytest.mark.perf]

GOAL_PERCENT = 2.0  # the whole suite's device-side goal (bench/footprint.py); a figure here, not a verdict
COMMAND_TIMEOUT_S = 30.0


def test_suite_overhead_sampler_cpu(telemetry, device, perf_measure):
    if telemetry.pid is None:
        pytest.skip(f"the suite's sampler is not running on the device: {telemetry.error or 'not started'}")
    out = device.run(process_cpu.command(telemetry.pid), timeout_s=COMMAND_TIMEOUT_S)
    try:
        found = process_cpu.parse(out.stdout, telemetry.pid)
    except ParseError as exc:
        pytest.skip(f"the sampler's CPU could not be read: {exc}")
    perf_measure(
        "perf.suite_overhead_sampler_cpu_percent",
        round(found.percent_of_core, 3),
        "%",
        better=None,  # reported, never judged: no limit and no baseline regression
        doc=f"CPU of the suite's {telemetry.name} on the device ({found.processes} processes), in % of one core, "
        f"averaged over its {found.lifetime_s:.0f} s so far (its start included); the suite's goal for all its "
        f"device work is {GOAL_PERCENT:g} %",
    )
