"""Shared ground for the suite's own tests: one simulated Jetson (tiny encoder) for the whole session."""

from __future__ import annotations

import os

import pytest

SIM_NAME = os.environ.get("JETSON_HIL_SELFTEST_SIM", "sim1")


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
