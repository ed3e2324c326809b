"""The device's embedding performance, computed from windows of evidence: pure functions, no I/O.

- `clock_offset`: the device clock minus ours, from ``date +%s.%N`` round trips (NTP style: the round trip
  with the smallest delay wins, offset = device time - midpoint, uncertainty = half that round trip);
- `throughput`: rate (Hz) and jitter (standard deviation of the inter-arrival intervals, ms);
- `latencies_ms` / `percentiles`: end-to-end latency from the payload's device ``ts`` to receipt, corrected
  by the clock offset;
- `rail_power` / `energy_per_embedding_mj`: mean power per tegrastats rail and the energy one embedding costs;
- `Baseline`: per-device JSON of earlier figures, and the limit a regression beyond the tolerance breaks.

>>> off = clock_offset([(10.000, 12.001, 10.002), (10.100, 12.150, 10.200)])
>>> round(off.offset_s, 3), round(off.uncertainty_s, 3)
(2.0, 0.001)
>>> throughput([0.0, 0.2, 0.4, 0.6], window_s=0.8).rate_hz
5.0
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetson_hil.evidence import percentile

__all__ = [
    "Baseline",
    "ClockOffset",
    "Throughput",
    "clock_offset",
    "energy_per_embedding_mj",
    "latencies_ms",
    "percentiles",
    "rail_power",
    "throughput",
]

UNCONNECTED_RAIL = "NC"


@dataclass(frozen=True)
class ClockOffset:
    """Device clock minus ours (s), with the bound on its error (half the best round trip) and the samples."""

    offset_s: float
    uncertainty_s: float
    round_trips: int

    @property
    def significant(self) -> bool:
        """True when the offset is larger than what the measurement itself could have produced."""
        return abs(self.offset_s) > self.uncertainty_s

    @property
    def correction_s(self) -> float:
        """The offset to apply: 0 when it is within its own uncertainty (same clock, e.g. the simulator),
        so the round trips' noise does not move every latency."""
        return self.offset_s if self.significant else 0.0


def clock_offset(round_trips: Iterable[tuple[float, float, float]]) -> ClockOffset:
    """(sent, device_time, received) triples, our clock in `sent`/`received`; ValueError when none is usable."""
    usable = [(r - s, d - (s + r) / 2.0) for s, d, r in round_trips if r >= s and math.isfinite(d)]
    if not usable:
        raise ValueError("no usable clock round trip (device time missing or not a number)")
    rtt, offset = min(usable)
    return ClockOffset(offset, rtt / 2.0, len(usable))


@dataclass(frozen=True)
class Throughput:
    count: int
    rate_hz: float
    jitter_ms: float | None
    mean_interval_ms: float | None


def throughput(received: Sequence[float], window_s: float | None = None) -> Throughput:
    """Rate over the window (count / window_s) or, without one, over first..last arrival; jitter is the
    standard deviation of the intervals between arrivals."""
    times = sorted(received)
    n = len(times)
    intervals = [b - a for a, b in zip(times, times[1:], strict=False)]
    span = times[-1] - times[0] if n > 1 else 0.0
    rate = n / window_s if window_s else ((n - 1) / span if span > 0 else 0.0)
    jitter = statistics.pstdev(intervals) * 1000.0 if len(intervals) > 1 else None
    mean = statistics.fmean(intervals) * 1000.0 if intervals else None
    return Throughput(n, rate, jitter, mean)


def latencies_ms(pairs: Iterable[tuple[float, float]], correction_s: float = 0.0) -> list[float]:
    """(device ts, received) pairs -> latency in ms, the device's ts moved onto our clock (ts - offset)."""
    return [(r - (ts - correction_s)) * 1000.0 for ts, r in pairs if math.isfinite(ts) and math.isfinite(r)]


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    return {f"p{q:g}": percentile(values, q) for q in qs}


def rail_power(samples: Iterable[Any]) -> dict[str, float]:
    """Mean instantaneous power (mW) per connected rail over tegrastats samples (`Sample` or parsed)."""
    sums: dict[str, list[float]] = {}
    for s in samples:
        sample = getattr(s, "sample", s)
        for name, rail in (getattr(sample, "rails", None) or {}).items():
            if name.partition("#")[0] == UNCONNECTED_RAIL:
                continue
            sums.setdefault(name, []).append(float(rail.current_mw))
    return {name: statistics.fmean(v) for name, v in sums.items() if v}


def total_power_mw(power: Mapping[str, float], total_rails: Sequence[str]) -> tuple[str, float] | None:
    """(rail, mW) for the whole board: the first total rail this module has, else the sum of its rails."""
    for name in total_rails:
        if name in power:
            return name, power[name]
    return ("sum of rails", sum(power.values())) if power else None


def energy_per_embedding_mj(power_mw: float, rate_hz: float) -> float | None:
    """mW / Hz = mJ per embedding; None when nothing was embedded."""
    return power_mw / rate_hz if rate_hz > 0 else None


# ------------------------------------------------------------------------------------------------ baselines

HIGHER = "higher"
LOWER = "lower"


@dataclass
class Baseline:
    """Earlier figures of one device: ``baselines/<device>.json`` = {"device", "updated", "metrics":
    {name: {"value", "unit", "better"}}}. `better` is 'higher' (rates) or 'lower' (latency, power...)."""

    device: str
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated: str | None = None

    @classmethod
    def path_for(cls, folder: Path, device: str) -> Path:
        return Path(folder) / f"{device}.json"

    @classmethod
    def load(cls, folder: Path, device: str) -> Baseline | None:
        path = cls.path_for(folder, device)
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data.get("device", device), dict(data.get("metrics", {})), data.get("updated"))

    def save(self, folder: Path) -> Path:
        path = self.path_for(folder, self.device)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = {"device": self.device, "updated": self.updated, "metrics": dict(sorted(self.metrics.items()))}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    def limits(self, name: str, tolerance: float, slack: float = 0.0) -> tuple[float | None, float | None] | None:
        """(low, high) that a regression beyond `tolerance` (relative) breaks, and never closer to the baseline
        than `slack` (absolute, in the figure's unit: 20% of a 0.6 ms broker hop is scheduler noise); None when
        the figure is not in the baseline."""
        entry = self.metrics.get(name)
        if not entry or not isinstance(entry.get("value"), (int, float)):
            return None
        value = float(entry["value"])
        margin = max(abs(value) * tolerance, slack)
        if entry.get("better") == HIGHER:
            return value - margin, None
        return None, value + margin

    def regression(self, name: str, value: float, tolerance: float, slack: float = 0.0) -> str | None:
        """'<name> regressed +31.0% beyond the 20% tolerance: baseline 10.00 ms, now 13.10 ms', or None."""
        bounds = self.limits(name, tolerance, slack)
        if bounds is None:
            return None
        low, high = bounds
        if (low is None or value >= low) and (high is None or value <= high):
            return None
        entry = self.metrics[name]
        base = float(entry["value"])
        unit = f" {entry.get('unit')}" if entry.get("unit") else ""
        delta = (value - base) / base * 100.0 if base else math.inf
        return (
            f"{name} regressed {delta:+.1f}% beyond the {tolerance * 100:g}% tolerance: baseline {base:.2f}{unit} "
            f"({self.updated or 'undated'}), now {value:.2f}{unit}"
        )
