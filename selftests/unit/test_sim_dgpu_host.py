"""The simulated dGPU host's nvidia-smi emulator and driver state, read back with the suite's own parsers.

The emulator runs as a program on a temporary GPU state dir (``JETSON_SIM_GPU_DIR``): what it prints must be
what `jetson_hil.dgpu` and tools/jetson/gpu_sampler.py parse on a real H200, and each driver fault must print
the real driver's text with its exit status.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetson_hil import dgpu
from jetson_hil.sim import dgpu_host
from jetson_hil.sim.faults import FAULTS

EMULATOR = Path(dgpu_host.__file__).parent / "device" / "nvidia-smi"
SAMPLER = Path(__file__).resolve().parents[2] / "tools" / "jetson" / "gpu_sampler.py"


def _smi(gpu_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JETSON_SIM_GPU_DIR": str(gpu_dir)}
    return subprocess.run([sys.executable, str(EMULATOR), *args], env=env, capture_output=True, text=True,
                          timeout=30)  # fmt: skip


@pytest.fixture
def gpu_dir(tmp_path: Path) -> Path:
    (tmp_path / "clients").mkdir()
    (tmp_path / "device.json").write_text(json.dumps(dgpu_host.device_state([])))
    return tmp_path


def _fault(gpu_dir: Path, *faults: str) -> None:
    (gpu_dir / "device.json").write_text(json.dumps(dgpu_host.device_state(list(faults))))


def test_banner_and_query_read_as_the_h200(gpu_dir: Path) -> None:
    banner = _smi(gpu_dir)
    assert banner.returncode == 0, banner.stdout + banner.stderr
    header = dgpu.parse_smi_header(banner.stdout)
    assert (header.driver_version, header.cuda_version) == ("580.159.04", "13.0")
    assert all(len(line) == 91 for line in banner.stdout.splitlines()[1:] if line.startswith(("|", "+")))
    assert "No running processes found" in banner.stdout
    query = _smi(gpu_dir, *dgpu.QUERY_COMMAND.split()[1:])
    (gpu,) = dgpu.parse_query_csv(query.stdout)
    assert (gpu.name, gpu.driver_version, gpu.memory_total_mib, gpu.compute_capability) == (
        "NVIDIA H200", "580.159.04", 143771, (9, 0))
    assert dgpu.parse_detection("tegra_release no\n" + _smi(gpu_dir, "--query-gpu=name", "--format=csv,noheader")
                                .stdout + "nvidia-smi exit 0\n").is_dgpu  # fmt: skip


def test_utilisation_is_the_clients_busy_time(gpu_dir: Path) -> None:
    sampler_spec = importlib.util.spec_from_file_location("gpu_sampler", SAMPLER)
    sampler = importlib.util.module_from_spec(sampler_spec)
    sampler_spec.loader.exec_module(sampler)
    out = _smi(gpu_dir, f"--query-gpu={sampler.QUERY}", "--format=csv,noheader,nounits")
    util, sm, temp, power = sampler.parse_smi_query(out.stdout.strip())
    assert util == 0 and sm == 1980 and temp == 32 and power > 0  # idle: no client, no busy time
    assert dgpu.parse_processes(_smi(gpu_dir, "--query-compute-apps=pid,process_name,used_memory",
                                     "--format=csv,noheader,nounits").stdout) == []  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "rc", "text"),
    [
        ("dgpu_driver_not_loaded", 9, "couldn't communicate with the NVIDIA driver"),
        ("dgpu_driver_library_mismatch", 18, "Failed to initialize NVML: Driver/library version mismatch"),
    ],
)
def test_driver_faults_print_the_real_texts(gpu_dir: Path, fault: str, rc: int, text: str) -> None:
    _fault(gpu_dir, fault)
    for args in ((), tuple(dgpu.QUERY_COMMAND.split()[1:]), ("pmon", "-s", "u", "-c", "1")):
        out = _smi(gpu_dir, *args)
        assert out.returncode == rc and text in out.stdout
        assert dgpu.smi_fix(out.stdout) is not None


def test_old_driver_and_mig(gpu_dir: Path) -> None:
    _fault(gpu_dir, "dgpu_driver_too_old")
    header = dgpu.parse_smi_header(_smi(gpu_dir).stdout)
    assert (header.driver_version, header.cuda_version) == ("535.247.01", "12.2")
    assert not dgpu.driver_supports(header.cuda_version, dgpu_host.IMAGE_FACTS["TORCH_CUDA"])
    _fault(gpu_dir, "dgpu_mig_no_utilisation")
    out = _smi(gpu_dir, "--query-gpu=utilization.gpu,mig.mode.current", "--format=csv,noheader")
    assert out.stdout.strip() == "[N/A], Enabled"


def test_bad_arguments_are_one_line(gpu_dir: Path) -> None:
    out = _smi(gpu_dir, "--query-gpu=nonsense", "--format=csv")
    assert out.returncode == 2 and out.stdout.strip() == 'Field "nonsense" is not a valid field to query.'
    out = _smi(gpu_dir, "--bogus")
    assert out.returncode == 2 and "Invalid combination of input arguments" in out.stdout


def test_faults_belong_to_their_host_kind() -> None:
    assert set(dgpu_host.FAULTS) <= set(FAULTS)
    assert dgpu_host.fault_conflict("jetson", "dgpu_driver_too_old", "gpu")
    assert dgpu_host.fault_conflict("dgpu", "tegrastats_missing", "device")
    assert dgpu_host.fault_conflict("dgpu", "nan_embeddings", "agent") is None
    assert dgpu_host.fault_conflict("jetson", "tegrastats_missing", "device") is None
    assert dgpu_host.JETSON_HOST_FAULTS.issubset(FAULTS)


# ------------------------------------------------------------------------------- the simulated CUDA there
GPU_SHIM = Path(dgpu_host.__file__).parent / "gpu"
CUDA_STATE = (
    "import json, warnings, torch\n"
    "warnings.simplefilter('always')\n"
    "with warnings.catch_warnings(record=True) as seen:\n"
    "    ok = torch.cuda.is_available()\n"
    "out = {'ok': ok, 'warnings': [str(w.message) for w in seen]}\n"
    "if ok:\n"
    "    p = torch.cuda.get_device_properties(0)\n"
    "    out.update(name=p.name, cap=[p.major, p.minor], integrated=p.is_integrated, cuda=torch.version.cuda)\n"
    "print(json.dumps(out))\n"
)


def _cuda_state(tmp_path: Path, faults: list[str]) -> dict:
    """torch in the dGPU image on the simulated H200: the image's facts, the runtime's nodes (plain files, as
    the simulated runtime injects them) and the driver's state; no /etc/nv_tegra_release."""
    (tmp_path / "dev").mkdir(exist_ok=True)
    for node in ("nvidiactl", "nvidia0"):
        (tmp_path / "dev" / node).touch()
    (tmp_path / "gpu").mkdir(exist_ok=True)
    (tmp_path / "gpu" / "device.json").write_text(json.dumps(dgpu_host.device_state(faults)))
    (tmp_path / "image.env").write_text("".join(f"{k}={v}\n" for k, v in dgpu_host.IMAGE_FACTS.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETSON_SIM_")}
    env.update(PYTHONPATH=str(GPU_SHIM), JETSON_SIM_IMAGE_ENV=str(tmp_path / "image.env"),
               JETSON_SIM_GPU_DIR=str(tmp_path / "gpu"), JETSON_SIM_DEV_DIR=str(tmp_path / "dev"),
               JETSON_SIM_RELEASE_FILE=str(tmp_path / "no-release"),
               JETSON_SIM_NVIDIA_PATHS=str(tmp_path / "dev" / "nvidiactl"))  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", CUDA_STATE], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_simulated_cuda_is_the_h200(tmp_path: Path) -> None:
    state = _cuda_state(tmp_path, [])
    assert state["ok"], state
    assert (state["name"], state["cap"], state["integrated"], state["cuda"]) == ("NVIDIA H200", [9, 0], 0, "12.6")


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ("dgpu_driver_not_loaded", "Found no NVIDIA driver on your system"),
        ("dgpu_driver_library_mismatch", "Error 803: system has unsupported display driver / cuda driver combination"),
        ("dgpu_driver_too_old", "cudaGetDeviceCount returned 35"),
    ],
)
def test_simulated_cuda_fails_with_the_driver(tmp_path: Path, fault: str, text: str) -> None:
    state = _cuda_state(tmp_path, [fault])
    assert not state["ok"] and any(text in w for w in state["warnings"]), state
