"""The acceptance suite with the agents as host processes (``[agents] mode = "process"``), no Docker at all.

The reference agents run here as plain processes (tiny encoder, on the CPU) against a mosquitto started for this
test; the profile names a Docker socket that does not exist. Proves, in a subprocess run as a user runs it: Task 2's
probe runs on the host with the profile's python (this venv's CPU torch, so it fails, truthfully, and the runbook
path is Plan A failure, decided from that evidence); the container-only checks skip with the stated reason before
anything asks the engine; no check mentions the engine; Task 6's MQTT checks see the processes' messages.
(The same mode on real CUDA, where Task 3 runs and passes: docs/gpu-validation.md, "Agents as host processes".)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetson_hil import host_agents, suite_run

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "jetson_hil" / "sim" / "agents"
RUN_TIMEOUT_S = 300
CONTAINER_ONLY = (
    "tests/container/test_task2_container_cuda.py::test_agent_container_is_running",
    "tests/container/test_task2_container_cuda.py::test_agent_container_is_not_restarting",
    "tests/container/test_task2_container_cuda.py::test_agent_uses_the_nvidia_runtime",
    "tests/container/test_task2_container_cuda.py::test_agent_sees_the_gpu_device_nodes",
    "tests/container/test_task4_image_alignment.py::test_dockerfile_base_image_targets_the_host_l4t",
    "tests/container/test_task4_image_alignment.py::test_running_image_targets_the_host_l4t",
    "tests/container/test_task4_image_alignment.py::test_requirements_keep_the_jetson_torch",
)

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto (scripts/test installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_embedding(port: int, timeout_s: float) -> bool:
    import paho.mqtt.client as mqtt

    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.append(m.payload)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.connect("127.0.0.1", port)
            break
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
    client.subscribe("vision/embeddings")
    client.loop_start()
    try:
        while not got and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.loop_stop()
        client.disconnect()
    return bool(got)


@pytest.fixture(scope="module")
def process_device(tmp_path_factory):
    """Broker + the four agents as host processes, and a process-mode profile pointing at them."""
    tmp = tmp_path_factory.mktemp("process-mode")
    port = _free_port()
    data, project = tmp / "data", tmp / "agents"
    (project / "config").mkdir(parents=True)
    data.mkdir()
    (project / "config" / "jetson.env").write_text(
        "VL_JEPA_DEVICE=cpu\nVL_JEPA_FP16=0\nVL_JEPA_BACKEND=pytorch\nEMBEDDING_GUARD_DIM=64\nEMBEDDING_GUARD_MODE=run\n"
    )
    env = {**os.environ, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(port), "VL_JEPA_ENCODER": "tiny",
           "VL_JEPA_DEVICE": "cpu", "VL_JEPA_FP16": "0", "VL_JEPA_RATE": "5",
           "JETSON_SIM_FAULTS_FILE": str(tmp / "no-faults"), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    log = (tmp / "agents.log").open("w")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(["mosquitto", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT))
        subprocess.run([sys.executable, str(AGENTS / "vl_jepa.py"), "--collect-centroids",
                        str(data / "centroids.json"), "--samples", "10"], env=env, check=True, timeout=120,
                       capture_output=True)  # fmt: skip
        extra = {
            "vl_jepa": {},
            "embedding_guard": {"EMBEDDING_GUARD_MODE": "run", "EMBEDDING_GUARD_DIM": "64",
                                "EMBEDDING_GUARD_CENTROIDS": str(data / "centroids.json")},
            "scene": {"SCENE_LOCATIONS": str(data / "locations.json")},
            "policy": {},
        }  # fmt: skip
        for name, more in extra.items():
            procs.append(subprocess.Popen([sys.executable, str(AGENTS / f"{name}.py")], env={**env, **more},
                                          stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
        assert _wait_for_embedding(port, 60), (tmp / "agents.log").read_text()[-2000:]
        profile = tmp / "device.toml"
        profile.write_text(f"""\
[device]
name = "process-mode-{port}"
host = "local://"
docker_url = "unix://{tmp}/no-docker.sock"
sudo = false

[agents]
mode = "process"
python = "{sys.executable}"

[compose]
project_dir = "{project}"

[mqtt]
url = "mqtt://127.0.0.1:{port}"

[expect]
dim = 64
fp16 = false
device = "cpu"
""")
        yield profile
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()


@pytest.fixture(scope="module")
def suite(process_device, tmp_path_factory):
    profile = process_device
    xml = tmp_path_factory.mktemp("process-mode-run") / "junit.xml"
    modules = ["tests/container", "tests/mqtt"]
    run = suite_run.run([*modules, f"--device={profile}", "--window", "5"], ROOT, xml, RUN_TIMEOUT_S)
    assert not run.problem, run.describe()
    return run


def test_container_only_checks_skip_with_the_reason(suite):
    skipped = suite.of("skipped")
    for test_id in CONTAINER_ONLY:
        assert test_id in skipped, f"{test_id} did not skip:\n{suite.describe()}"
        assert host_agents.CONTAINER_ONLY_REASON in skipped[test_id].message


def test_the_probe_runs_on_the_host_with_the_agents_python(suite):
    passed, failed = suite.of("passed"), suite.of("failed")
    assert "tests/container/test_task2_container_cuda.py::test_probe_runs_in_the_container" in passed, suite.describe()
    assert "tests/container/test_task2_container_cuda.py::test_runbook_path_decided" in passed, suite.describe()
    cuda = failed.get("tests/container/test_task2_container_cuda.py::test_cuda_is_available")
    assert cuda is not None, suite.describe()
    assert f"in {sys.executable} on the host" in cuda.message


def test_task3_is_off_the_path_by_the_probes_evidence(suite):
    task3 = [o for o in suite.outcomes if "test_task3_gpu_embeddings.py" in o.test_id]
    assert task3 and all(o.outcome == "skipped" for o in task3), suite.describe()
    assert all("Plan A failure path" in o.message and "on the host" in o.message for o in task3)


def test_no_check_needs_or_mentions_the_engine(suite):
    assert not suite.of("error"), suite.describe()
    mentions = [o.test_id for o in suite.outcomes if "Docker engine" in (o.message or "")]
    assert not mentions, suite.describe()


def test_task6_reads_the_processes_messages(suite):
    passed = suite.of("passed")
    for name in ("test_understanding_arrives", "test_actuation_results_arrive"):
        assert f"tests/mqtt/test_task6_success.py::{name}" in passed, suite.describe()
