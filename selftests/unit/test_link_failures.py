"""Links that fail mid-run, the pure parts: the heartbeat's verdicts and the recorder's gap report."""

from __future__ import annotations

import threading
import time

from jetson_hil.heartbeat import Heartbeat
from jetson_hil.mqtt_recorder import ConnectionEvent, MqttRecorder


def test_heartbeat_reports_a_device_that_stops_answering_once() -> None:
    answers = iter([0, 0])
    lost: list[str] = []
    done = threading.Event()

    def runner(command: str, timeout: float) -> int:
        assert command == "true"
        try:
            return next(answers)
        except StopIteration:
            raise TimeoutError(f"a heartbeat gave no answer within {timeout:g} s") from None

    beat = Heartbeat(runner, lambda reason: (lost.append(reason), done.set()), interval_s=0.01, timeout_s=7)
    beat.start()
    assert done.wait(60)  # a hang guard: the loss is reported after the third beat, milliseconds in
    time.sleep(0.05)  # room for a wrong second report (its absence cannot fail on a slow machine)
    assert len(lost) == 1 and beat.answered == 2
    assert lost[0].startswith("stopped answering at ") and lost[0].endswith("gave no answer within 7 s")


def test_heartbeat_leaves_a_device_that_never_answered_to_the_rig() -> None:
    calls = []

    def runner(command: str, timeout: float) -> int:
        calls.append(command)
        return 255

    beat = Heartbeat(runner, lambda reason: calls.append("LOST"), interval_s=0.01).start()
    deadline = time.monotonic() + 60  # a hang guard: five beats take about 50 ms
    while len(calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.stop()
    assert "LOST" not in calls and len(calls) >= 5


def test_gap_report_ignores_our_own_disconnect_at_stop() -> None:
    rec = MqttRecorder("mqtt://127.0.0.1:1", ["t"])
    now = time.monotonic()
    rec._events = [
        ConnectionEvent("connect", 0, now - 10),
        ConnectionEvent("disconnect", 0, now - 8, "Unspecified error"),
        ConnectionEvent("connect", 0, now - 6.5),
        ConnectionEvent("disconnect", 0, now - 3, "keepalive timeout"),
    ]
    rec._stop_mono = now - 1
    rec._events.append(ConnectionEvent("disconnect", 0, now - 0.5, "normal"))
    gaps = rec.gap_report()
    assert [round(g["seconds"], 2) for g in gaps] == [1.5, 2.0]
    assert gaps[0]["reason"] == "Unspecified error" and gaps[0]["to"].endswith(" UTC")
    assert gaps[1]["to"] is None and gaps[1]["reason"] == "keepalive timeout"


def test_gap_report_of_a_steady_connection_is_empty() -> None:
    rec = MqttRecorder("mqtt://127.0.0.1:1", ["t"])
    rec._events = [ConnectionEvent("connect", 0, time.monotonic())]
    assert rec.gap_report() == []
