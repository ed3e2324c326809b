"""Measurements: the outcome follows the limits, and a failure names value, unit and the broken limit."""

from __future__ import annotations

import json
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.measure import FAIL, PASS, Measurement, MeasurementLog, check, format_value


def test_example_from_the_brief() -> None:
    m = Measurement("embeddings.rate_hz", 1.2, "Hz", low=4.0)
    assert m.outcome == FAIL
    with pytest.raises(AssertionError) as info:
        check(m)
    assert str(info.value) == "embeddings.rate_hz = 1.20 Hz, below the minimum 4.00 Hz"


@pytest.mark.parametrize(
    ("kwargs", "outcome", "message"),
    [
        ({"value": 5.0, "low": 4.0}, PASS, "x = 5.00 Hz, at least 4.00 Hz"),
        ({"value": 4.0, "low": 4.0}, PASS, "x = 4.00 Hz, at least 4.00 Hz"),
        ({"value": 600.0, "high": 500.0}, FAIL, "x = 600.00 Hz, above the maximum 500.00 Hz"),
        ({"value": 500, "high": 500.0}, PASS, "x = 500 Hz, at most 500.00 Hz"),
        ({"value": 0.5, "low": 1.0, "high": 2.0}, FAIL, "x = 0.50 Hz, below the minimum 1.00 Hz"),
        ({"value": 1.5, "low": 1.0, "high": 2.0}, PASS, "x = 1.50 Hz, within [1.00, 2.00] Hz"),
        ({"value": 3, "low": 1, "high": 2}, FAIL, "x = 3 Hz, above the maximum 2 Hz"),
        ({"value": None, "low": 4.0}, FAIL, "x has no value, expected at least 4.00 Hz"),
        ({"value": math.nan, "low": 4.0}, FAIL, "x = nan Hz, not a number; expected at least 4.00 Hz"),
        ({"value": "fast", "low": 4.0}, FAIL, "x = 'fast' Hz, not a number; expected at least 4.00 Hz"),
        ({"value": True, "low": 0.0}, FAIL, "x = True Hz, not a number; expected at least 0.00 Hz"),
        ({"value": math.inf, "high": 10.0}, FAIL, "x = inf Hz, above the maximum 10.00 Hz"),
        ({"value": 7.0}, PASS, "x = 7.00 Hz, no limits"),
        ({"value": math.nan}, FAIL, "x = nan Hz, not a number; expected no limits"),
        ({"value": 1e-5, "low": 0.01}, FAIL, "x = 1e-05 Hz, below the minimum 0.01 Hz"),
        ({"value": 10**400, "high": 1.0}, FAIL, "above the maximum 1.00 Hz"),
    ],
)
def test_outcomes_and_messages(kwargs: dict, outcome: str, message: str) -> None:
    m = Measurement("x", unit="Hz", **kwargs)
    assert m.outcome == outcome
    assert message in m.message
    if outcome == PASS:
        assert check(m) is m
    else:
        with pytest.raises(AssertionError, match="^x "):
            check(m)


def test_unitless() -> None:
    assert Measurement("seq.gaps", 3, high=0).message == "seq.gaps = 3, above the maximum 0"


def test_outcome_is_not_settable() -> None:
    with pytest.raises(TypeError):
        Measurement("x", 1.0, outcome=PASS)  # type: ignore[call-arg]


@given(
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.none(),
    low=st.none() | st.floats(allow_nan=False, min_value=-1e9, max_value=1e9),
    high=st.none() | st.floats(allow_nan=False, min_value=-1e9, max_value=1e9),
)
def test_outcome_matches_limits(value, low, high) -> None:
    m = Measurement("x", value, "u", low, high)
    ok = value is not None and not (isinstance(value, float) and math.isnan(value))
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    assert m.passed == ok
    json.dumps(m.as_dict(), allow_nan=False)


def test_log_records_and_exports() -> None:
    log = MeasurementLog()
    a = log.record("embeddings.rate_hz", 5.0, "Hz", low=4.0, doc="messages per second on vision/embeddings")
    b = log.record("gpu.gr3d_percent", math.nan, "%", low=1.0)
    assert log.items() == [a, b] and len(log) == 2 and list(log) == [a, b]
    assert log.failed() == [b]
    dicts = log.as_dicts()
    assert dicts[0] | {"recorded": 0} == {
        "name": "embeddings.rate_hz",
        "value": 5.0,
        "unit": "Hz",
        "low": 4.0,
        "high": None,
        "doc": "messages per second on vision/embeddings",
        "outcome": "pass",
        "message": "embeddings.rate_hz = 5.00 Hz, at least 4.00 Hz",
        "recorded": 0,
    }
    assert dicts[1]["value"] == "nan" and dicts[1]["outcome"] == "fail"
    json.dumps(dicts, allow_nan=False)


def test_measure_records_then_asserts() -> None:
    log = MeasurementLog()
    with pytest.raises(AssertionError, match=r"latency_ms = 900.00 ms, above the maximum 500.00 ms"):
        log.measure("latency_ms", 900.0, "ms", high=500.0)
    assert len(log) == 1 and log.items()[0].outcome == FAIL
    assert log.measure("latency_ms", 100.0, "ms", high=500.0).passed


def test_log_is_thread_safe() -> None:
    log = MeasurementLog()

    def worker(n: int) -> None:
        for i in range(500):
            log.record(f"t{n}", float(i), low=0.0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 4000 and not log.failed()


def test_format_value() -> None:
    assert format_value(1.2) == "1.20"
    assert format_value(0.0) == "0.00"
    assert format_value(12) == "12"
    assert format_value(0.0012) == "0.0012"
    assert format_value(2.5e9) == "2.5e+09"
    assert format_value(-math.inf) == "-inf"
