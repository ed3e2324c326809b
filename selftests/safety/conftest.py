"""The safety selftests' own simulated device (`safety`): they pause it, restart its broker, plant secrets and
hold its lease, so they never touch the shared `sim1`."""

from __future__ import annotations

import pytest

SAFETY_SIM = "safety"


@pytest.fixture(scope="session")
def safety_sim():
    """The `safety` simulator (tiny encoder), started if needed and stopped after unless it was already up."""
    from jetson_hil.sim import simulator

    before = simulator.status(SAFETY_SIM)
    cfg = simulator.up(simulator.SimConfig(name=SAFETY_SIM, encoder="tiny", rate=5.0), log=lambda m: None)
    yield cfg
    if before.get("state") != "up":
        simulator.down(SAFETY_SIM, log=lambda m: None)
