"""The simulated Jetson is built from real parts: each part is checked with the real tool."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
import testinfra

from jetson_hil import l4t, tegrastats
from jetson_hil.device import module_from_model
from jetson_hil.sim import simulator


def test_testinfra_reads_release_over_docker(sim):
    host = testinfra.get_host(f"docker://{sim.container}")
    release = l4t.parse_release(host.file("/etc/nv_tegra_release").content_string)
    assert str(release) == sim.release


def test_real_dpkg_lists_jetpack_packages(sim):
    out = simulator.device_exec(sim, "dpkg -l")
    for name in ("nvidia-l4t-core", "nvidia-jetpack", "cuda-toolkit-", "libcudnn", "tensorrt"):
        assert name in out, f"{name} missing from dpkg -l on the device"
    core = simulator.device_exec(sim, "dpkg-query -W -f='${Version}' nvidia-l4t-core")
    assert str(l4t.parse_dpkg_core_version(core)) == sim.release


def test_device_tree_model_identifies_the_module(sim):
    """The model file the suite reads first where /proc/device-tree is absent, NUL-terminated as on a real device."""
    raw = simulator.device_exec(sim, "od -An -c /sys/firmware/devicetree/base/model")
    assert raw.split()[-1] == "\\0"
    model = simulator.device_exec(sim, "tr -d '\\000' < /sys/firmware/devicetree/base/model")
    assert module_from_model(model) is l4t.MODULES[sim.module]


def test_compose_in_device_host_runs_four_services(sim):
    out = simulator.compose(sim, "ps --services --filter status=running")
    running = set(out.split())
    assert {"vl_jepa", "embedding_guard", "scene", "policy"} <= running


def _collect(port: int, topic: str, count: int, timeout: float) -> list[tuple[float, dict]]:
    """The first `count` messages on `topic` with their arrival times (fewer if `timeout` s pass first)."""
    got: list[tuple[float, dict]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *a: c.subscribe(topic)
    client.on_message = lambda c, u, m: got.append((time.monotonic(), json.loads(m.payload)))
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    return got[:count]


def test_plain_subscriber_sees_embeddings_at_rate_and_dim(sim):
    got = _collect(sim.mqtt_port, "vision/embeddings", count=30, timeout=120)  # a hang guard: 6 s at 5 Hz
    assert len(got) == 30, f"only {len(got)} embeddings in 120 s"
    times = [t for t, _ in got]
    rate = (len(times) - 1) / (times[-1] - times[0])
    # A plausible band (arrivals on a loaded machine); the precise rate is bench/perf_fidelity.py's to measure.
    assert 0.5 * sim.rate <= rate <= 1.5 * sim.rate, f"rate {rate:.2f} Hz, configured {sim.rate} Hz"
    assert {len(p["embedding"]) for _, p in got} == {64}
    assert {p["dim"] for _, p in got} == {64}


def _gr3d(sim, seconds: int = 3) -> list[float]:
    out = simulator.device_exec(sim, f"timeout {seconds}.5 tegrastats --interval 500", check=False)
    return [tegrastats.parse_line(line).gpu_load_percent for line in out.splitlines() if line.strip()]


def test_gr3d_follows_the_agent_device(sim):
    busy = _gr3d(sim)
    assert busy and max(busy) > 0, f"GR3D {busy} while vl_jepa runs on cuda"
    simulator.set_fault(sim.name, "config_cpu", True, log=lambda m: None)
    try:
        deadline = time.monotonic() + 120  # a hang guard: the GPU is idle within a few seconds of the move
        idle = _gr3d(sim)
        while not (idle and max(idle) == 0) and time.monotonic() < deadline:
            idle = _gr3d(sim)
        assert idle and max(idle) == 0, f"GR3D {idle} after vl_jepa moved to cpu"
        idle = _gr3d(sim)
        assert idle and max(idle) == 0, f"GR3D {idle}: vl_jepa on cpu, yet the GPU got busy again"
    finally:
        simulator.set_fault(sim.name, "config_cpu", False, log=lambda m: None)


@pytest.mark.parametrize("verb", ["up", "down", "status", "fault"])
def test_every_verb_has_help(verb):
    cmd = [sys.executable, "-m", "jetson_hil.cli", "sim", verb, "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage:" in out.stdout
