"""The simulator on a host with a real NVIDIA GPU: choosing it, injecting it, reading its users and load.

What runs on the real GPU is proven on the H200 (docs/gpu-validation.md, "Simulator on the real GPU"); here,
without one, the pure parts: the choice, the OCI spec the runtime writes, the NVML reader's files and what the
checks make of them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jetson_hil import gpu_use
from jetson_hil.sim import nvml_clients, real_gpu
from jetson_hil.sim.paths import PACKAGE_DIR

H200 = real_gpu.RealGpu(
    [real_gpu.Node("/dev/nvidia0", 195, 0), real_gpu.Node("/dev/nvidiactl", 195, 255),
     real_gpu.Node("/dev/nvidia-uvm", 238, 0)],
    ["/usr/local/nvidia/lib64", "/opt/driver/lib"], "NVIDIA H200", "580.159.04",
)


def _load(path: Path, name: str):
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    loader.exec_module(module)
    return module


runtime = _load(PACKAGE_DIR / "runtime" / "nvidia-container-runtime", "sim_nvidia_runtime")


# ------------------------------------------------------------------------------------------------ choice
def test_auto_takes_the_hosts_gpu_on_a_jetson_simulator_only() -> None:
    assert real_gpu.choose("auto", H200, "jetson") is H200
    assert real_gpu.choose("auto", None, "jetson") is None
    assert real_gpu.choose("simulated", H200, "jetson") is None
    assert real_gpu.choose("auto", H200, "dgpu") is None  # its driver is simulated: faults are driver states


@pytest.mark.parametrize(("mode", "found", "kind", "says"), [
    ("real", None, "jetson", "no usable NVIDIA GPU"),
    ("real", H200, "dgpu", "driver and nvidia-smi are simulated"),
    ("fast", H200, "jetson", "choose one of auto, real, simulated"),
])
def test_impossible_choices_are_one_line(mode, found, kind, says) -> None:
    with pytest.raises(ValueError, match=says) as err:
        real_gpu.choose(mode, found, kind)
    assert "\n" not in str(err.value)


def test_ldconfig_and_spec_round_trip(tmp_path: Path) -> None:
    text = ("\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12\n"
            "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n")
    assert real_gpu.parse_ldconfig(text) == ["/usr/lib/x86_64-linux-gnu"]
    real_gpu.write_spec(tmp_path, H200)
    assert real_gpu.read_spec(tmp_path) == H200
    real_gpu.write_spec(tmp_path, None)
    assert real_gpu.read_spec(tmp_path) is None


def test_this_host_without_a_driver_has_no_real_gpu(tmp_path: Path) -> None:
    """A /dev without NVIDIA nodes, and no libcuda anywhere: None, so `auto` simulates."""
    assert real_gpu.device_nodes(str(tmp_path)) == []
    assert real_gpu.find(str(tmp_path), env={"LD_LIBRARY_PATH": str(tmp_path)}) is None


def test_device_nodes_are_the_nvidia_character_devices(tmp_path: Path) -> None:
    for name in ("nvidiactl", "nvidia0", "nvidia-uvm", "nvhost-gpu"):
        try:
            os.mknod(tmp_path / name, 0o20666, os.makedev(195, 7))
        except PermissionError:
            pytest.skip("needs root to make device nodes")
    (tmp_path / "nvidia1").touch()  # a plain file is no device
    names = [os.path.basename(n.path) for n in real_gpu.device_nodes(str(tmp_path))]
    assert names == ["nvidia-uvm", "nvidia0", "nvidiactl"]


# ------------------------------------------------------------------------------------------------ runtime
def _bundle(tmp_path: Path, real: real_gpu.RealGpu | None) -> tuple[Path, Path]:
    root = tmp_path / "sim"
    (root / "gpu" / "dev").mkdir(parents=True)
    (root / "gpu" / "state").mkdir()
    (root / "gpu" / "dev" / "nvmap").touch()
    (root / "rootfs" / "etc").mkdir(parents=True)
    (root / "rootfs" / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\n")
    real_gpu.write_spec(root / "gpu", real)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    spec = {"process": {"env": ["NVIDIA_VISIBLE_DEVICES=all", f"JETSON_SIM_ROOT={root}",
                                "LD_LIBRARY_PATH=/app/lib"]},
            "mounts": [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}]}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle, root


def test_runtime_injects_the_real_gpu_as_the_container_toolkit_does(tmp_path: Path) -> None:
    bundle, root = _bundle(tmp_path, H200)
    runtime.inject(str(bundle))
    spec = json.loads((bundle / "config.json").read_text())
    devices = {d["path"]: (d["type"], d["major"], d["minor"]) for d in spec["linux"]["devices"]}
    assert devices == {"/dev/nvidia0": ("c", 195, 0), "/dev/nvidiactl": ("c", 195, 255),
                       "/dev/nvidia-uvm": ("c", 238, 0)}
    rules = {(r["major"], r["minor"], r["access"]) for r in spec["linux"]["resources"]["devices"] if r["allow"]}
    assert rules == {(195, 0, "rwm"), (195, 255, "rwm"), (238, 0, "rwm")}
    env = spec["process"]["env"]
    assert "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/opt/driver/lib:/app/lib" in env
    binds = {m["destination"]: m["source"] for m in spec["mounts"]}
    assert binds["/opt/driver/lib"] == "/opt/driver/lib"  # outside /usr: bound; under it: the /usr mount has it
    assert "/usr/local/nvidia/lib64" not in binds
    assert "/dev/nvmap" not in binds  # the simulated GPU's nodes stay out
    assert binds["/etc/nv_tegra_release"].endswith("rootfs/etc/nv_tegra_release")  # the Jetson surface stays


def test_runtime_keeps_the_simulated_gpu_without_a_spec(tmp_path: Path) -> None:
    bundle, root = _bundle(tmp_path, None)
    runtime.inject(str(bundle))
    spec = json.loads((bundle / "config.json").read_text())
    assert "linux" not in spec
    assert {m["destination"] for m in spec["mounts"]} >= {"/dev/nvmap", "/run/jetson-sim/gpu"}


# ------------------------------------------------------------------------------------------------ NVML reader
class _Reader:
    """The NVML reader's three questions, answered from a script (stands in for the driver only)."""

    nvml = object()

    def __init__(self) -> None:
        self.procs: list[tuple[int, int | None]] = [(os.getpid(), 900 * 2**20)]
        self.util = 37
        self.queue: list[list[tuple[int, int, int]]] = []

    def processes(self):
        return self.procs

    def utilization(self):
        return self.util

    def samples(self, since_us):
        return self.queue.pop(0) if self.queue else []


def test_reader_writes_clients_the_checks_read_and_removes_the_gone(tmp_path: Path) -> None:
    reader, busy, me = _Reader(), nvml_clients.Busy(period_s=0.2), os.getpid()
    t0 = busy.last_ts
    reader.queue = [[(me, t0 + 1, 50), (me, t0 + 2, 25)], [(me, t0 + 2, 25), (me, t0 + 3, 0)]]
    nvml_clients.tick(reader, busy, str(tmp_path), "host1")
    nvml_clients.tick(reader, busy, str(tmp_path), "host1")  # the repeated sample counts once
    files = sorted((tmp_path / "clients").glob("*.json"))
    assert [f.name for f in files] == [f"nvml-{me}.json"]
    (client,) = gpu_use.parse_sim_clients("\n".join(f.read_text() for f in files))
    assert (client.pid, client.real_gpu, client.memory_bytes) == (me, True, 900 * 2**20)
    assert client.busy_ns == int(0.5 * 0.2 * 1e9) + int(0.25 * 0.2 * 1e9)
    assert "pytest" in client.cmdline or "python" in client.cmdline
    assert client.started and abs(client.started - time.time()) < 24 * 3600
    assert json.loads((tmp_path / "utilization.json").read_text())["percent"] == 37
    reader.procs = []
    nvml_clients.tick(reader, busy, str(tmp_path), "host1")
    assert list((tmp_path / "clients").glob("*.json")) == []


def test_container_id_from_either_cgroup_layout() -> None:
    cid = "0123456789abcdef" * 4
    assert nvml_clients.container_of(f"0::/system.slice/docker-{cid}.scope\n") == cid
    assert nvml_clients.container_of(f"12:pids:/docker/{cid}\n0::/docker/{cid}\n") == cid
    assert nvml_clients.container_of("0::/user.slice/session-1.scope\n") is None


# ------------------------------------------------------------------------------------------------ verdicts
def _real(pid: int, cmd: str, busy: int = 0) -> gpu_use.GpuClient:
    return gpu_use.GpuClient(pid, cmd.rsplit("/", 1)[-1], "host1", f"python3 {cmd}", busy_ns=busy, started=1.0,
                             real_gpu=True)


def test_on_a_real_gpu_presence_and_the_claim_decide() -> None:
    agent = gpu_use.Agent(cmdline="vl_jepa.py")
    after = [_real(41, "/app/agents/vl_jepa.py"), _real(77, "/tmp/load.py", busy=2 * 10**9)]
    use = gpu_use.from_sim([], after, agent, 10.0, claimed_device="cuda:0")
    assert use.agent_on_gpu and "compute process on the real GPU" in use.reason
    assert "pid 77 load.py" in use.reason
    cpu = gpu_use.from_sim([], after, agent, 10.0, claimed_device="cpu")
    assert not cpu and "computes on the CPU" in cpu.reason
    gone = gpu_use.from_sim([], after[1:], agent, 10.0, claimed_device="cuda:0")  # config_cpu: not a GPU user
    assert not gone and "has no GPU client among 1 on the real GPU (NVML)" in gone.reason


# ------------------------------------------------------------------------------------------------ tegrastats
def test_tegrastats_prints_the_real_gpus_load_while_it_is_fresh(tmp_path: Path) -> None:
    (tmp_path / "module.json").write_text(json.dumps({"module": "orin-nano", "family": "orin-nano"}))
    (tmp_path / "clients").mkdir()

    def first_line() -> str:
        env = {**os.environ, "JETSON_SIM_MODULE_FILE": str(tmp_path / "module.json"),
               "JETSON_SIM_GPU_DIR": str(tmp_path), "JETSON_SIM_TEGRASTATS_PIDS": str(tmp_path / "pids")}
        proc = subprocess.Popen([sys.executable, str(PACKAGE_DIR / "device" / "tegrastats"), "--interval", "100"],
                                env=env, stdout=subprocess.PIPE, text=True)
        try:
            return proc.stdout.readline()
        finally:
            proc.kill()
            proc.wait()

    (tmp_path / "utilization.json").write_text(json.dumps({"percent": 37, "updated": time.time()}))
    assert "GR3D_FREQ 37%" in first_line()
    (tmp_path / "utilization.json").write_text(json.dumps({"percent": 37, "updated": time.time() - 60}))
    assert "GR3D_FREQ 0%" in first_line()  # a stale reading (the reader died) is not the GPU's load


# ------------------------------------------------------------------------------------------------ the shim
def _steps_aside(tmp_path: Path) -> bool:
    """Whether the simulated CUDA steps aside in a process started as `docker exec` starts one in an agent."""
    (tmp_path / "image.env").write_text("IMAGE_L4T=36.4.0\nTORCH_CUDA=12.6\nTORCH_CUDNN=90300\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETSON_SIM_")}
    env.update(PYTHONPATH=str(PACKAGE_DIR / "gpu"), JETSON_SIM_IMAGE_ENV=str(tmp_path / "image.env"),
               JETSON_SIM_GPU_DIR=str(tmp_path / "gpu"),
               JETSON_SIM_NVIDIA_PATHS=f"{tmp_path / 'nvidiactl'}:{tmp_path / 'version'}")
    code = "import sys; print(not any('Torch' in type(f).__name__ for f in sys.meta_path))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.strip() == "True"


def test_in_a_simulator_container_the_runtimes_node_decides(tmp_path: Path) -> None:
    """A host's /proc/driver/nvidia shows through into every container: only a real /dev/nvidiactl, which the
    runtime injects on a real GPU, makes the shim step aside, in the agent and in processes exec'd beside it."""
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "device.json").write_text("{}")
    (tmp_path / "version").write_text("NVRM version: 580.159.04\n")
    assert not _steps_aside(tmp_path)
    (tmp_path / "nvidiactl").touch()  # the simulated dGPU's node: a plain file
    assert not _steps_aside(tmp_path)
    (tmp_path / "nvidiactl").unlink()
    try:
        os.mknod(tmp_path / "nvidiactl", 0o20666, os.makedev(195, 255))
    except PermissionError:
        pytest.skip("needs root to make device nodes")
    assert _steps_aside(tmp_path)
