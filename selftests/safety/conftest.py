"""The safety selftests' own simulated device (`st-safety`): they pause it, restart its broker, plant secrets and
hold its lease, so they never touch the shared one."""

from __future__ import annotations

import pytest
from selftest_state import sim_name

SAFETY_SIM = sim_name("safety")


@pytest.fixture(scope="session")
def safety_sim():
    """The `st-safety` simulator (tiny encoder), started if needed and stopped after unless it was already up."""
    from jetson_hil.sim import simulator

    before = simulator.status(SAFETY_SIM)
    cfg = simulator.up(simulator.SimConfig(name=SAFETY_SIM, encoder="tiny", rate=5.0), log=lambda m: None)
    yield cfg
    if before.get("state") != "up":
        simulator.down(SAFETY_SIM, log=lambda m: None)
