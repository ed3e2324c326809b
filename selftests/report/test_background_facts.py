"""The report's device facts gathered in the background (fixtures/report_device.py `device_facts_of`): which facts a run
keeps, and that matplotlib's preload is harmless (issue 7's suite speed)."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from fixtures import report_device as report
from jetson_hil.report import plots


@pytest.fixture
def gathered_now(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []

    def collect(rig: object) -> dict[str, str]:
        calls.append(rig)
        return {"gathered": "at the end"}

    monkeypatch.setattr(report, "collect_device", collect)
    return calls


def _done(value: object = None, error: BaseException | None = None) -> Future:
    future: Future = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


def test_background_facts_are_kept(gathered_now):
    rig = SimpleNamespace(device_lost=False)
    assert report.device_facts_of(rig, _done({"gathered": "early"})) == {"gathered": "early"}
    assert gathered_now == []


def test_without_background_facts_they_are_gathered_at_the_end(gathered_now):
    rig = SimpleNamespace(device_lost=False)
    assert report.device_facts_of(rig, None) == {"gathered": "at the end"}
    assert gathered_now == [rig]


def test_a_device_lost_meanwhile_is_asked_again(gathered_now):
    """collect_device then says what it still can, at once: the facts from before the loss are not shown."""
    rig = SimpleNamespace(device_lost=True)
    assert report.device_facts_of(rig, _done({"gathered": "early"})) == {"gathered": "at the end"}


def test_failed_or_cancelled_background_facts_are_gathered_again(gathered_now):
    rig = SimpleNamespace(device_lost=False)
    assert report.device_facts_of(rig, _done(error=RuntimeError("boom"))) == {"gathered": "at the end"}
    cancelled: Future = Future()
    cancelled.cancel()
    assert report.device_facts_of(rig, cancelled) == {"gathered": "at the end"}
    assert len(gathered_now) == 2


def test_preload_then_plot():
    plots.preload()
    png = plots.latency_png([1.0, 2.0, 2.5, 3.0, 4.0])
    assert png is not None and png.startswith(b"\x89PNG")
