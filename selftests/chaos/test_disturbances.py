"""What the engine's container events say in a failing check's message (jetson_hil.engine_events)."""

from __future__ import annotations

from jetson_hil.engine_events import engine_disturbances

T0 = 1_796_582_000.0  # 2026-12-06 18:33:20 UTC


def _event(action: str, name: str, at: float, **attrs: str) -> dict:
    return {"Action": action, "timeNano": int(at * 1e9), "Actor": {"Attributes": {"name": name, **attrs}}}


def test_a_restart_reads_as_one_line_with_its_exit_code_and_times():
    events = [_event("kill", "agent", T0 + 1, signal="15"), _event("die", "agent", T0 + 1.25, exitCode="0"),
              _event("stop", "agent", T0 + 1.3), _event("start", "agent", T0 + 1.5),
              _event("restart", "agent", T0 + 1.5)]
    assert engine_disturbances(events, T0) == [
        "container agent restarted: stopped (exit code 0) at 18:33:21.2, started at 18:33:21.5 UTC"]


def test_a_pause_and_the_broker_each_get_their_line():
    events = [_event("pause", "agent", T0 + 2), _event("unpause", "agent", T0 + 4),
              _event("die", "mosquitto", T0 + 5, exitCode="137"), _event("oom", "guard", T0 + 6)]
    assert engine_disturbances(events, T0) == [
        "container agent paused: paused at 18:33:22.0, unpaused at 18:33:24.0 UTC",
        "container mosquitto stopped (exit code 137) at 18:33:25.0 UTC",
        "container guard ran out of memory at 18:33:26.0 UTC",
    ]


def test_events_before_the_run_and_our_own_execs_say_nothing():
    events = [_event("start", "agent", T0 - 0.5), _event("exec_start: python3 probe.py", "agent", T0 + 1),
              _event("exec_die", "agent", T0 + 2, exitCode="0")]
    assert engine_disturbances(events, T0) == []
