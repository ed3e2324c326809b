"""Measurements with limits, OpenHTF style: record the number first, then assert on it.

Every numeric check goes through a `Measurement` so the HTML report, ``summary.json``, baselines and
trends all come from one record, and a failing check says the value, the unit and the limit it broke:

>>> log = MeasurementLog()
>>> m = log.record("embeddings.rate_hz", 1.2, "Hz", low=4.0)
>>> m.outcome
'fail'
>>> m.message
'embeddings.rate_hz = 1.20 Hz, below the minimum 4.00 Hz'
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAIL", "PASS", "Measurement", "MeasurementLog", "check", "format_value"]

PASS = "pass"
FAIL = "fail"


def format_value(value: Any) -> str:
    """A number as a report shows it: integers as is, 2 decimals in the usual range, else 3 digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0 or 0.01 <= abs(value) < 1e6:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return repr(value)


def _number(value: Any) -> float | None:
    """The value as a float, or None when it is not a usable number (None, NaN, non-numeric)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class Measurement:
    """One named number with its unit and limits; `outcome` ('pass'/'fail') follows from the limits.

    Limits are inclusive; either may be None (no limit). A value of None or NaN, or one that is not a
    number, fails: a measurement that could not be taken is not a pass.
    """

    name: str
    value: Any
    unit: str = ""
    low: float | None = None
    high: float | None = None
    doc: str = ""
    outcome: str = field(init=False)
    message: str = field(init=False, compare=False)
    recorded: float = field(default_factory=time.time, compare=False)

    def __post_init__(self) -> None:
        outcome, message = self._judge()
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "message", message)

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    def _with_unit(self, value: Any) -> str:
        text = format_value(value)
        return f"{text} {self.unit}" if self.unit else text

    def limits_text(self) -> str:
        """The limits in words: 'at least 4.00 Hz', 'at most 500.00 ms', 'within [1, 2] %', 'none'."""
        if self.low is not None and self.high is not None:
            return f"within [{format_value(self.low)}, {format_value(self.high)}]" + (
                f" {self.unit}" if self.unit else ""
            )
        if self.low is not None:
            return f"at least {self._with_unit(self.low)}"
        if self.high is not None:
            return f"at most {self._with_unit(self.high)}"
        return "no limits"

    def _judge(self) -> tuple[str, str]:
        number = _number(self.value)
        if self.value is None:
            return FAIL, f"{self.name} has no value, expected {self.limits_text()}"
        if number is None:
            seen = self._with_unit(self.value)
            return FAIL, f"{self.name} = {seen}, not a number; expected {self.limits_text()}"
        seen = f"{self.name} = {self._with_unit(self.value)}"
        if self.low is not None and number < self.low:
            return FAIL, f"{seen}, below the minimum {self._with_unit(self.low)}"
        if self.high is not None and number > self.high:
            return FAIL, f"{seen}, above the maximum {self._with_unit(self.high)}"
        return PASS, f"{seen}, {self.limits_text()}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats become the strings 'nan', 'inf', '-inf')."""

        def safe(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return format_value(v)
            if v is None or isinstance(v, (bool, int, float, str)):
                return v
            return repr(v)

        return {
            "name": self.name,
            "value": safe(self.value),
            "unit": self.unit,
            "low": safe(self.low),
            "high": safe(self.high),
            "doc": self.doc,
            "outcome": self.outcome,
            "message": self.message,
            "recorded": self.recorded,
        }


def check(m: Measurement) -> Measurement:
    """Raises AssertionError with the measurement's message when it failed; returns it otherwise."""
    __tracebackhide__ = True
    if not m.passed:
        raise AssertionError(m.message)
    return m


class MeasurementLog:
    """A thread-safe, append-only list of measurements for one run (the report reads it at the end)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Measurement] = []

    def record(
        self,
        name: str,
        value: Any,
        unit: str = "",
        low: float | None = None,
        high: float | None = None,
        doc: str = "",
    ) -> Measurement:
        """Records a measurement and returns it (it does not assert; see `measure`)."""
        m = Measurement(name, value, unit, low, high, doc)
        with self._lock:
            self._items.append(m)
        return m

    def measure(
        self,
        name: str,
        value: Any,
        unit: str = "",
        low: float | None = None,
        high: float | None = None,
        doc: str = "",
    ) -> Measurement:
        """Records a measurement, then `check`s it: the usual call in a test."""
        __tracebackhide__ = True
        return check(self.record(name, value, unit, low, high, doc))

    def items(self) -> list[Measurement]:
        with self._lock:
            return list(self._items)

    def failed(self) -> list[Measurement]:
        return [m for m in self.items() if not m.passed]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.items()]

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self.items())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
