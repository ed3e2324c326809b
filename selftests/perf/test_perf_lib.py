"""jetson_hil.perf on known numbers: clock offset, throughput, latency correction, energy, baselines."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jetson_hil import perf


def test_clock_offset_takes_the_fastest_round_trip():
    off = perf.clock_offset([(0.0, 5.5, 1.0), (10.0, 15.0105, 10.001), (20.0, 0.0, 19.0)])
    assert off.offset_s == pytest.approx(5.01)
    assert off.uncertainty_s == pytest.approx(0.0005)
    assert off.significant and off.correction_s == pytest.approx(5.01)


def test_clock_offset_within_its_uncertainty_is_not_applied():
    off = perf.clock_offset([(0.0, 0.01, 0.05)])
    assert not off.significant and off.correction_s == 0.0


def test_clock_offset_needs_a_round_trip():
    with pytest.raises(ValueError):
        perf.clock_offset([])


def test_throughput_rate_and_jitter():
    t = perf.throughput([0.0, 0.2, 0.4, 0.6, 0.8], window_s=1.0)
    assert t.rate_hz == 5.0 and t.jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert perf.throughput([0.0, 0.1, 0.4]).jitter_ms == pytest.approx(100.0)


def test_latencies_corrected_by_the_device_clock():
    # device clock 2 s ahead: ts 12.0 on the device is 10.0 here; received at 10.05 -> 50 ms
    assert perf.latencies_ms([(12.0, 10.05)], correction_s=2.0) == [pytest.approx(50.0)]
    assert perf.percentiles([1.0, 2.0, 3.0])["p50"] == 2.0


def test_power_per_rail_and_energy():
    rail = SimpleNamespace
    samples = [
        SimpleNamespace(rails={"VDD_IN": rail(current_mw=3000), "NC": rail(current_mw=0)}),
        SimpleNamespace(rails={"VDD_IN": rail(current_mw=5000)}),
    ]
    power = perf.rail_power(samples)
    assert power == {"VDD_IN": 4000.0}
    assert perf.total_power_mw(power, ("POM_5V_IN", "VDD_IN")) == ("VDD_IN", 4000.0)
    assert perf.total_power_mw({"A": 1.0, "B": 2.0}, ("VDD_IN",)) == ("sum of rails", 3.0)
    assert perf.energy_per_embedding_mj(4000.0, 5.0) == 800.0
    assert perf.energy_per_embedding_mj(4000.0, 0.0) is None


def test_baseline_round_trip_and_regression(tmp_path):
    b = perf.Baseline(
        "dev",
        {
            "lat": {"value": 10.0, "unit": "ms", "better": "lower"},
            "hz": {"value": 5.0, "unit": "Hz", "better": "higher"},
        },
    )
    b.save(tmp_path)
    loaded = perf.Baseline.load(tmp_path, "dev")
    assert loaded.limits("lat", 0.2) == (None, pytest.approx(12.0))
    assert loaded.limits("hz", 0.2) == (pytest.approx(4.0), None)
    assert loaded.regression("lat", 11.0, 0.2) is None
    text = loaded.regression("lat", 13.1, 0.2)
    assert "+31.0%" in text and "10.00 ms" in text and "13.10 ms" in text
    assert "-40.0%" in loaded.regression("hz", 3.0, 0.2)
    assert perf.Baseline.load(tmp_path, "other") is None


def test_baseline_slack_keeps_tiny_figures_from_failing_on_noise():
    b = perf.Baseline("dev", {"lat": {"value": 0.6, "unit": "ms", "better": "lower"}})
    assert b.limits("lat", 0.2, slack=2.0) == (None, pytest.approx(2.6))
    assert b.regression("lat", 0.81, 0.2, slack=2.0) is None
    assert b.regression("lat", 0.81, 0.2) is not None
