"""Chaos during the evidence window: one simulated device (`st-chaos`, tiny encoder) for every event, and a suite
run (`chaos_run.SuiteRun`) that each test strikes while it records."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chaos_run import SuiteRun
from selftest_state import sim_name

CHAOS_SIM = os.environ.get("JETSON_HIL_CHAOS_SIM") or sim_name("chaos")


@pytest.fixture(scope="session")
def chaos_sim():
    """The `st-chaos` simulator (tiny encoder), started if needed and stopped after unless it was already up."""
    from jetson_hil.sim import simulator

    before = simulator.status(CHAOS_SIM)
    cfg = simulator.SimConfig.load(CHAOS_SIM) if before.get("state") == "up" else None
    if cfg is None or cfg.encoder != "tiny":  # one that is up already is taken as it is: `up` again costs minutes
        cfg = simulator.up(simulator.SimConfig(name=CHAOS_SIM, encoder="tiny", rate=5.0, gpu="simulated"),
                           log=lambda m: None)
    yield cfg
    if before.get("state") != "up":
        simulator.down(CHAOS_SIM, purge=True, log=lambda m: None)


@pytest.fixture
def suite_run(chaos_sim, tmp_path: Path) -> Iterator[Callable[..., SuiteRun]]:
    """start(profile="device.toml"): a SuiteRun against the chaos simulator; killed after the test if still running,
    and the simulator's agents publishing again before the next test."""
    from jetson_hil.sim import simulator

    runs: list[SuiteRun] = []

    def start(profile: str = "device.toml") -> SuiteRun:
        run = SuiteRun(chaos_sim, chaos_sim.root / profile, tmp_path / f"report-{len(runs)}")
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()
    try:
        simulator.wait_for_embeddings(chaos_sim, timeout=60)
    except simulator.SimError:  # agents that gave up on a restarted broker: start them again for the next test
        simulator.compose(chaos_sim, "restart vl_jepa embedding_guard scene policy", timeout=180)
