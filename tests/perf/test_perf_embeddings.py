"""Device measurements: the embedding stack's throughput, latency, GPU load, power, memory and temperature.

Every figure is read from the session's evidence window (the same MQTT messages and tegrastats samples
Tasks 3 and 6 check), so this module adds no waiting of its own. Each is a measurement held to the
profile's limits and, when ``baselines/<device>.json`` has it, to the baseline within
``limits.baseline_tolerance`` (tests/perf/conftest.py). Latency is receipt time minus the payload's device
``ts``, with the device clock's offset (measured through the host) taken out.
"""

from __future__ import annotations

import math

import pytest

from jetson_hil import perf
from jetson_hil.mqtt_recorder import json_objects
from jetson_hil.payloads import get_path
from jetson_hil.tegrastats import TOTAL_RAILS

pytestmark = [pytest.mark.jetson, pytest.mark.perf]

# Jetson modules throttle from about 97 C (tj) and shut down at 105 C; a run that gets near is not healthy.
TEMP_MAX_C = 95.0


@pytest.fixture(scope="module")
def embeddings(mqtt_window, profile):
    messages = mqtt_window.on(profile.topics.embeddings)
    if not messages:
        pytest.skip(f"no {profile.topics.embeddings} messages in the window (Task 3 reports it)")
    return messages


@pytest.fixture(scope="module")
def decoded(embeddings):
    """(message, object) for every message that is a JSON object."""
    return json_objects(embeddings)


@pytest.fixture(scope="module")
def samples(embeddings, telemetry, telemetry_between):
    found = telemetry_between(embeddings[0].received_mono, embeddings[-1].received_mono)
    if not found:
        pytest.skip(f"no telemetry sample overlaps the embedding flow: {telemetry.error or 'none recorded'}")
    return found


def _parsed(samples):
    return [getattr(s, "sample", s) for s in samples]


def test_clock_offset(device_clock, profile, perf_measure):
    perf_measure(
        "clock.offset_ms",
        device_clock.offset_s * 1000.0,
        "ms",
        better=None,
        doc=f"device clock minus the runner's, best of {device_clock.round_trips} `date +%s.%N` round trips",
    )
    perf_measure(
        "clock.uncertainty_ms",
        device_clock.uncertainty_s * 1000.0,
        "ms",
        high=profile.limits.max_latency_ms / 2,
        better=None,
        doc="half the fastest round trip: the most the offset can be wrong by; applied only when larger",
        fix="reaching the device takes too long to measure its clock; latencies below are not trustworthy",
    )


def test_embedding_throughput_and_jitter(embeddings, mqtt_window, profile, perf_measure):
    t = perf.throughput([m.received_mono for m in embeddings], window_s=mqtt_window.seconds)
    perf_measure(
        "perf.embeddings_hz",
        t.rate_hz,
        "Hz",
        low=profile.limits.min_rate_hz,
        better="higher",
        doc="embeddings received per second over the evidence window",
        fix="the encoder is slower than the profile's min_rate_hz (CPU fallback? thermal throttling?)",
    )
    perf_measure(
        "perf.embeddings_jitter_ms",
        t.jitter_ms,
        "ms",
        high=1000.0 / profile.limits.min_rate_hz,
        doc=f"standard deviation of the {t.count - 1} intervals between arrivals (mean {t.mean_interval_ms} ms)",
        fix="arrivals stall for longer than one period at the minimum rate: the publisher or the broker stalls",
    )


def test_end_to_end_latency_percentiles(decoded, device_clock, profile, perf_measure):
    pairs = []
    for m, obj in decoded:
        ts = get_path(obj, profile.fields.ts)
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            pairs.append((float(ts), m.received))
    if not pairs:
        pytest.fail(f"no payload carries a numeric {profile.fields.ts}: latency cannot be measured", pytrace=False)
    values = perf.latencies_ms(pairs, device_clock.correction_s)
    for key, value in perf.percentiles(values).items():
        perf_measure(
            f"perf.latency_{key}_ms",
            value,
            "ms",
            high=profile.limits.max_latency_ms,
            doc=f"{key} of receipt - device ts over {len(values)} embeddings, clock correction "
            f"{device_clock.correction_s * 1000:.2f} ms",
            fix="embeddings reach the runner late: a loaded broker or network, or the device clock jumped",
        )
    infer = [obj.get("infer_ms") for _, obj in decoded if isinstance(obj.get("infer_ms"), (int, float))]
    if infer:
        perf_measure(
            "perf.infer_p50_ms",
            perf.percentiles(infer, (50,))["p50"],
            "ms",
            doc="the agent's own infer_ms (payload), median",
        )


def test_gpu_load(samples, profile, perf_measure):
    loads = [s.gpu_load_percent for s in _parsed(samples) if s.gpu_load_percent is not None]
    if not loads:
        pytest.fail("no tegrastats sample reports GR3D_FREQ: GPU load unknown", pytrace=False)
    perf_measure(
        "perf.gpu_load_mean_percent",
        sum(loads) / len(loads),
        "%",
        low=profile.limits.gr3d_min_percent,
        high=100,
        doc=f"mean GR3D_FREQ over {len(loads)} samples while embeddings flowed",
        fix="the GPU is idle while embeddings flow: they are computed on the CPU (Task 3)",
    )
    perf_measure("perf.gpu_load_max_percent", float(max(loads)), "%", high=100, doc="max GR3D_FREQ")
    clocks = [s.gpu_freq_mhz for s in _parsed(samples) if s.gpu_freq_mhz]
    if clocks:
        perf_measure(
            "perf.gpu_freq_mean_mhz",
            sum(clocks) / len(clocks),
            "MHz",
            low=0,
            better="higher",
            doc="mean GPC clock while embeddings flowed: a drop from the baseline is a lower power mode or throttling",
            fix="the GPU runs slower than it did: check `nvpmodel -q`, `jetson_clocks` and the temperatures",
        )
    cpu = [s.cpu_load_percent for s in _parsed(samples) if s.cpu_load_percent is not None]
    if cpu:
        perf_measure(
            "perf.cpu_load_mean_percent",
            sum(cpu) / len(cpu),
            "%",
            high=100,
            doc="mean load of the online CPU cores while embeddings flowed (pre/post-processing, MQTT)",
        )


def test_power_per_rail_and_energy_per_embedding(samples, embeddings, mqtt_window, perf_measure):
    power = perf.rail_power(samples)
    if not power:
        pytest.skip("this module's tegrastats reports no power rails")
    for rail, mw in sorted(power.items()):
        perf_measure(f"perf.power_{rail}_mw", mw, "mW", low=0, doc=f"mean {rail} power while embeddings flowed")
    total = perf.total_power_mw(power, TOTAL_RAILS)
    rate = len(embeddings) / mqtt_window.seconds
    rail, mw = total
    perf_measure(
        "perf.energy_per_embedding_mj",
        perf.energy_per_embedding_mj(mw, rate),
        "mJ",
        low=0,
        doc=f"{rail} mean power {mw:.0f} mW / {rate:.2f} embeddings per second (board energy, idle included)",
    )


def test_ram(samples, perf_measure):
    used = [s.ram_used_mb for s in _parsed(samples) if s.ram_used_mb is not None]
    total = next((s.ram_total_mb for s in _parsed(samples) if s.ram_total_mb), None)
    if not used:
        pytest.fail("no tegrastats sample reports RAM", pytrace=False)
    perf_measure(
        "perf.ram_used_max_mb",
        float(max(used)),
        "MB",
        high=0.95 * total if total else None,
        doc=f"most RAM in use while embeddings flowed (of {total} MB)",
        fix="RAM is nearly exhausted: the agents will be OOM-killed or swap",
    )


def test_peak_temperature(samples, perf_measure):
    temps = [
        t
        for s in _parsed(samples)
        for t in list(s.temperatures.values()) + list(s.temperatures_secondary.values())
        if isinstance(t, (int, float)) and math.isfinite(t) and t > -40
    ]
    if not temps:
        pytest.fail("no tegrastats sample reports a temperature", pytrace=False)
    sensors: dict[str, float] = {}
    for s in _parsed(samples):
        for name, t in s.temperatures.items():
            if isinstance(t, (int, float)) and math.isfinite(t) and t > -40:
                sensors[name] = max(t, sensors.get(name, t))
    for name, t in sorted(sensors.items()):
        perf_measure(
            f"perf.temperature_{name}_peak_c",
            t,
            "C",
            high=TEMP_MAX_C,
            doc=f"hottest {name} reading while embeddings flowed",
            fix="the module runs near its throttling point: check the fan, the heatsink and the power mode",
        )
    perf_measure(
        "perf.temperature_peak_c",
        max(temps),
        "C",
        high=TEMP_MAX_C,
        doc="hottest sensor reading while embeddings flowed",
        fix="the module runs near its throttling point: check the fan, the heatsink and the power mode",
    )
