"""jetson_hil.process_cpu: the suite's sampler's CPU from the device's /proc (tests/perf/test_perf_suite_overhead)."""

from __future__ import annotations

import os
import subprocess

import pytest

from jetson_hil.errors import ParseError
from jetson_hil.process_cpu import command, parse


def _stat(pid: int, comm: str, ppid: int, ticks: tuple[int, int, int, int], start: int) -> str:
    u, s, cu, cs = ticks
    return f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 100 0 0 0 {u} {s} {cu} {cs} 20 0 1 0 {start} 0 0"


def test_the_process_and_its_children_only_odd_names_too() -> None:
    text = "\n".join([
        "500.00 900.00", "100",
        _stat(10, "sudo", 1, (1, 1, 0, 0), 20000),
        _stat(11, "tegra stats) x", 10, (40, 10, 5, 5), 20001),
        _stat(12, "other", 1, (999, 999, 0, 0), 100),
    ])
    found = parse(text, 10)
    assert (found.cpu_s, found.lifetime_s, found.processes) == (0.62, 300.0, 2)
    assert round(found.percent_of_core, 4) == 0.2067


@pytest.mark.parametrize("text", ["", "500.0 1.0\n100\n", "500.0 1.0\n100\n" + _stat(12, "x", 1, (1, 1, 1, 1), 5)])
def test_a_process_that_is_gone_is_said_so(text: str) -> None:
    with pytest.raises(ParseError, match="process 10 is not running"):
        parse(text, 10)


def test_the_command_on_this_machine_reads_this_process() -> None:
    out = subprocess.run(["sh", "-c", command(os.getpid())], capture_output=True, text=True, timeout=30)
    found = parse(out.stdout, os.getpid())
    assert found.cpu_s > 0 and found.lifetime_s > 0 and found.processes >= 1
