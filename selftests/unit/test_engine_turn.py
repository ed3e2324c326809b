"""The selftests' turns at the shared Docker engine (`selftest_state.engine_turn`) under pytest-xdist."""

from __future__ import annotations

import threading

from selftest_state import engine_turn

from jetson_hil.sim.paths import state_lock

HANG_GUARD_S = 30.0


def test_a_test_holding_its_turn_can_start_the_engine(tmp_path, monkeypatch):
    """The engine's start lock is not the turn's lock: a test that starts the engine inside its turn proceeds
    (the two once shared a file, and every worker waited on itself)."""
    monkeypatch.setenv("JETSON_HIL_HOME", str(tmp_path))
    with engine_turn(exclusive=False), state_lock("engine", timeout=5):
        pass
    with engine_turn(exclusive=True), state_lock("engine", timeout=5):
        pass


def test_an_exclusive_turn_waits_for_the_shared_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("JETSON_HIL_HOME", str(tmp_path))
    alone = threading.Event()

    def exclusive():
        with engine_turn(exclusive=True):
            alone.set()

    with engine_turn(exclusive=False), engine_turn(exclusive=False):  # two shared turns at once
        waiter = threading.Thread(target=exclusive, daemon=True)
        waiter.start()
        assert not alone.wait(0.5), "the exclusive turn began while shared turns were held"
    assert alone.wait(HANG_GUARD_S), "the exclusive turn never began after the shared ones ended"
    waiter.join(HANG_GUARD_S)
