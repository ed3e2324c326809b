"""The simulated Jetson GPU (``jetson_hil/sim/gpu``): healthy behaviour and each failure of facts section 6.

Every scenario runs a fresh interpreter with ``PYTHONPATH=jetson_hil/sim/gpu`` (so ``sitecustomize`` hooks
``import torch`` exactly as in the simulated image) and temp dirs named by the ``JETSON_SIM_*`` overrides.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GPU_DIR = REPO / "jetson_hil" / "sim" / "gpu"
CHECK_SCRIPT = REPO / "tools" / "jetson" / "check_torch_cuda.py"
sys.path.insert(0, str(GPU_DIR))

import jetson_sim_cuda  # noqa: E402  (pure functions; importing it patches nothing)

HOST_R36_4_3 = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Jan  8 01:49:37 UTC 2025\n"
    "# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
    "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
)
HEALTHY_IMAGE = {"IMAGE_L4T": "36.4.0", "TORCH_CUDA": "12.6", "TORCH_CUDNN": "90300", "TORCH_ARCH_LIST": "sm_87"}
HEALTHY_DEVICE = {
    "name": "Orin",
    "capability": [8, 7],
    "driver_cuda": "12.6",
    "total_memory": 33554432000,
    "faults": [],
}
# The runbook's Task 1 script, verbatim (seed/000_577f6eb4537bde77.txt).
RUNBOOK_CHECK = """\
import torch
print("torch", torch.__version__)
print("cuda_available", torch.cuda.is_available())
print("cuda_version", torch.version.cuda)
print("cudnn", torch.backends.cudnn.version())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
    x = torch.randn(128, 128, device="cuda")
    y = x @ x
    torch.cuda.synchronize()
    print("cuda_matmul_ok", y.shape)
"""


class SimDevice:
    """A simulated image + runtime in temp dirs; ``run`` executes Python "inside the container"."""

    def __init__(self, root: Path):
        self.root = root
        self.image_env = root / "image.env"
        self.dev = root / "dev"
        self.gpu = root / "gpu"
        self.release = root / "nv_tegra_release"
        self.dev.mkdir()
        self.gpu.mkdir()
        self.configure()

    def configure(
        self,
        image: dict[str, str] | None = None,
        device: dict | None = None,
        release: str | None = HOST_R36_4_3,
        nodes: tuple[str, ...] = ("nvmap", "nvhost-gpu"),
    ) -> SimDevice:
        self.image_env.write_text("".join(f"{k}={v}\n" for k, v in {**HEALTHY_IMAGE, **(image or {})}.items()))
        (self.gpu / "device.json").write_text(json.dumps({**HEALTHY_DEVICE, **(device or {})}))
        for node in ("nvmap", "nvhost-gpu"):
            path = self.dev / node
            if node in nodes:
                path.touch()
            elif path.exists():
                path.unlink()
        if release is None:
            self.release.unlink(missing_ok=True)
        else:
            self.release.write_text(release)
        return self

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JETSON_SIM_")}
        env.update(
            PYTHONPATH=str(GPU_DIR),
            JETSON_SIM_IMAGE_ENV=str(self.image_env),
            JETSON_SIM_GPU_DIR=str(self.gpu),
            JETSON_SIM_DEV_DIR=str(self.dev),
            JETSON_SIM_RELEASE_FILE=str(self.release),
            PYTHONWARNINGS="default",
            JETSON_SIM_REAL_GPU="0",
        )
        return env

    def run(self, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )

    def run_file(self, path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(path)], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )

    def clients(self) -> list[Path]:
        folder = self.gpu / "clients"
        return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def sim(tmp_path: Path) -> SimDevice:
    return SimDevice(tmp_path)


def _json_line(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ pure


def test_l4t_compatibility_rule() -> None:
    ok = jetson_sim_cuda.l4t_compatible
    assert ok("36.4.3", "36.4.0") and ok("36.2.0", "36.3.0")
    assert not ok("36.4.3", "36.3.0") and not ok("36.4.0", "35.4.1")
    assert ok("38.2.0", "35.4.1") and ok("39.2.0", "36.4.0")
    assert ok("35.4.1", "35.2.1") and not ok("35.4.1", "36.4.0")
    assert ok("32.7.4", "32.7.1") and not ok("32.7.4", "32.6.1")
    assert ok("32.5.0", "32.5.0") and not ok("32.5.1", "32.5.0")


def test_release_and_env_parsing(tmp_path: Path) -> None:
    assert jetson_sim_cuda.parse_release(HOST_R36_4_3) == "36.4.3"
    assert jetson_sim_cuda.parse_release("garbage") is None
    env = tmp_path / "image.env"
    env.write_text("# comment\nIMAGE_L4T=35.4.1\nTORCH_CUDA=\nIMAGE_L4T=36.4.0\n")
    assert jetson_sim_cuda.read_env_file(str(env)) == {"IMAGE_L4T": "36.4.0", "TORCH_CUDA": ""}
    assert jetson_sim_cuda.cudnn_soname({"IMAGE_L4T": "35.4.1", "TORCH_CUDNN": ""}) == "libcudnn.so.8"
    assert jetson_sim_cuda.cudnn_soname({"IMAGE_L4T": "36.4.0", "TORCH_CUDNN": ""}) == "libcudnn.so.9"


# --------------------------------------------------------------------------------------------- healthy


def test_invisible_without_image_file(sim: SimDevice) -> None:
    sim.image_env.unlink()
    out = _json_line(
        sim.run(
            """
            import json, sys, torch
            print(json.dumps({
                "available": torch.cuda.is_available(),
                "cuda": torch.version.cuda,
                "mode": torch._C._is_torch_function_mode_enabled(),
                "shim": "jetson_sim_cuda" in sys.modules,
                "hooks": [type(f).__name__ for f in sys.meta_path if "Torch" in type(f).__name__],
            }))
            """
        )
    )
    assert out == {"available": False, "cuda": None, "mode": False, "shim": False, "hooks": []}


HEALTHY_PROBE = """
import json, time, torch, jetson_sim_cuda
from torch import nn
gpu = jetson_sim_cuda._GPU
r = {}
r["available"] = torch.cuda.is_available()
r["count"] = torch.cuda.device_count()
r["name"] = torch.cuda.get_device_name()
r["cap"] = list(torch.cuda.get_device_capability())
r["arch"] = torch.cuda.get_arch_list()
r["cuda"] = torch.version.cuda
r["cudnn"] = torch.backends.cudnn.version()
r["cudnn_ok"] = torch.backends.cudnn.is_available()
p = torch.cuda.get_device_properties(0)
r["props"] = [p.name, p.major, p.minor, p.total_memory, p.multi_processor_count > 0]
torch.cuda.set_device(0)
r["current"] = torch.cuda.current_device()
x = torch.randn(64, 64, device="cuda")
r["randn_gpu"] = x in gpu
y = x @ x
torch.cuda.synchronize()
r["matmul_gpu"] = y in gpu
r["cpu_copy"] = y.cpu() not in gpu and y in gpu
r["dev_obj"] = torch.ones(2, device=torch.device("cuda")) in gpu
r["dev_idx"] = torch.zeros(2, device="cuda:0") in gpu
c = torch.ones(3)
r["dot_cuda"] = c.cuda() in gpu and c not in gpu
r["to_cuda"] = c.to("cuda") in gpu and c.to("cuda", torch.float16).dtype == torch.float16
r["to_back"] = x.to("cpu") not in gpu
m = nn.Sequential(nn.Linear(64, 32), nn.LayerNorm(32)).to("cuda")
r["module_to"] = all(t in gpu for t in m.parameters())
m2 = nn.Linear(4, 4).cuda()
r["module_cuda"] = all(t in gpu for t in m2.parameters())
m3 = nn.Linear(4, 4).to(x)
r["module_to_tensor"] = all(t in gpu for t in m3.parameters())
m3.cpu()
r["module_cpu"] = not any(t in gpu for t in m3.parameters())
ref = m(x)
mh = m.half()
r["half_params_gpu"] = all(t in gpu for t in mh.parameters())
out16 = mh(x.half())
r["fp16_dtype"] = str(out16.dtype)
r["fp16_close"] = float((out16.float() - ref).abs().max())
m.float()
with torch.autocast("cuda", dtype=torch.float16):
    a = m[0](x)
    b = m[1](a)
r["autocast"] = [str(a.dtype), str(b.dtype)]
c16 = torch.empty(64, 64, dtype=torch.float16).cuda()
torch.matmul(x.half(), x.half(), out=c16)
r["out_kept"] = str(c16.dtype)
free, total = torch.cuda.mem_get_info()
r["mem"] = [torch.cuda.memory_allocated() > 0, 0 < free <= total, total]
try:
    torch.zeros(1, device="cuda:1")
except RuntimeError as e:
    r["ordinal"] = str(e).splitlines()[0]
a32, w32 = torch.randn(256, 1024), torch.randn(1024, 1024)
a16, w16 = a32.half().cuda(), w32.half().cuda()
def best(f):
    f(); ts = []
    for _ in range(3):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts)
r["speed"] = [best(lambda: a32 @ w32), best(lambda: a16 @ w16)]
print(json.dumps(r))
"""


def test_healthy_device_behaves_like_orin_cuda(sim: SimDevice) -> None:
    r = _json_line(sim.run(HEALTHY_PROBE))
    assert r["available"] is True and r["count"] == 1
    assert r["name"] == "Orin" and r["cap"] == [8, 7] and r["arch"] == ["sm_87"]
    assert r["cuda"] == "12.6" and r["cudnn"] == 90300 and r["cudnn_ok"] is True
    assert r["props"] == ["Orin", 8, 7, 33554432000, True]
    assert r["current"] == 0
    for key in ("randn_gpu", "matmul_gpu", "cpu_copy", "dev_obj", "dev_idx", "dot_cuda", "to_cuda", "to_back"):
        assert r[key] is True, key
    assert r["module_to"] and r["module_cuda"] and r["half_params_gpu"]
    assert r["module_to_tensor"] and r["module_cpu"]
    assert r["fp16_dtype"] == "torch.float16" and r["fp16_close"] < 0.05
    assert r["autocast"] == ["torch.float16", "torch.float32"]
    assert r["out_kept"] == "torch.float16"
    assert r["mem"] == [True, True, 33554432000]
    assert r["ordinal"] == "CUDA error: invalid device ordinal"
    # fp16 BLAS runs upcast to fp32: about as fast as fp32, where CPU-native fp16 is about 80x slower. The band is
    # wide enough for a loaded machine and still tells the two apart; the encoders' speed is bench_encoder's job.
    fp32_s, fp16_s = r["speed"]
    assert fp16_s < 20 * fp32_s + 0.1, f"fp16 on the simulated GPU took {fp16_s:.3f}s vs fp32 {fp32_s:.3f}s"


def test_gpu_clients_account_busy_time_and_vanish_at_exit(sim: SimDevice) -> None:
    code = """
        import sys, threading, time, torch
        torch.cuda.is_available()
        time.sleep(0.7)
        print("ready", flush=True)
        sys.stdin.readline()
        x = torch.randn(256, 256, device="cuda")
        def work():
            end = time.time() + 1.2
            while time.time() < end:
                x @ x
        t = threading.Thread(target=work); t.start(); t.join()
        print("done", flush=True)
        time.sleep(30)
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=sim.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=sim.root,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert sim.clients() == [], "is_available() alone must not make a GPU client"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        deadline = time.monotonic() + 60  # a hang guard: the client file is rewritten every half second
        while True:
            (path,) = sim.clients()
            record = json.loads(path.read_text())
            if record["busy_ns"] > 0.5e9 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert path.name.startswith(f"{record['host']}-{proc.pid}-") and record["pid"] == proc.pid
        assert record["busy_ns"] > 0.5e9, record
        assert "-c" in record["cmdline"] and abs(record["updated"] - time.time()) < 30, "a live, rewritten record"
        assert record["started"] <= record["updated"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert sim.clients() == [], "docker stop (SIGTERM) must remove the client file"


def test_idle_client_exists_and_normal_exit_removes_it(sim: SimDevice) -> None:
    r = _json_line(
        sim.run(
            """
            import json, os, time, torch
            torch.cuda.get_device_name()
            time.sleep(0.6)
            folder = os.path.join(os.environ["JETSON_SIM_GPU_DIR"], "clients")
            rec = [json.load(open(os.path.join(folder, f))) for f in os.listdir(folder)]
            print(json.dumps(rec))
            """
        )
    )
    assert len(r) == 1 and r[0]["busy_ns"] < 5e7
    assert sim.clients() == []


# ------------------------------------------------------------------------------------------------ faults
# name -> (SimDevice.configure arguments, texts the runbook script plus one use of the GPU must show).
# The texts are the real signatures of facts section 6.
FAULTS: dict[str, tuple[dict, list[str]]] = {
    "cpu_only_torch": (
        {"image": {"TORCH_CUDA": "", "TORCH_VERSION": "2.5.1"}},
        [
            "cuda_available False",
            "torch 2.5.1",
            "cuda_version None",
            "AssertionError: Torch not compiled with CUDA enabled",
        ],
    ),
    "no_nvmap": (
        {"nodes": ("nvhost-gpu",)},
        [
            "NvRmMemInitNvmap failed with No such file or directory",
            "356: Memory Manager Not supported",
            "****NvRmMemMgrInit failed**** error type: 196626",
            "cuda_available False",
            "RuntimeError: No CUDA GPUs are available",
        ],
    ),
    "l4t_major_mismatch": (
        {"image": {"IMAGE_L4T": "35.4.1"}},
        ["cuda_available False", "UserWarning: CUDA initialization: CUDA driver initialization failed"],
    ),
    "l4t_minor_mismatch": (
        {"image": {"IMAGE_L4T": "36.3.0"}},
        ["cuda_available False", "UserWarning: CUDA initialization: CUDA driver initialization failed"],
    ),
    "no_sm_87": (
        {"image": {"TORCH_ARCH_LIST": "sm_50 sm_80 sm_90"}},
        [
            "cuda_available True",
            "with CUDA capability sm_87 is not compatible with the current PyTorch installation",
            "RuntimeError: CUDA error: no kernel image is available for execution on the device",
        ],
    ),
    "old_driver": (
        {"image": {"TORCH_CUDA": "12.8"}, "device": {"driver_cuda": "12.6"}},
        [
            "cuda_available False",
            "cudaGetDeviceCount returned 35",
            "CUDA driver version is insufficient for CUDA runtime version",
        ],
    ),
    "no_cudnn": (
        {"image": {"TORCH_CUDNN": ""}},
        ["ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory"],
    ),
    "no_cudnn_r35": (
        {"image": {"TORCH_CUDNN": "", "IMAGE_L4T": "35.4.1"}},
        ["ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory"],
    ),
    "cublas_alloc_failed": (
        {"device": {"faults": ["cublas_alloc_failed"]}},
        [
            "cuda_available True",
            "device Orin",
            "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        ],
    ),
}

# Runs a script as ``python3 script`` would, then uses the GPU once more, so one interpreter shows both
# what the script prints and the error the first real use raises.
SCRIPT_THEN_USE = """
import runpy, sys, traceback
try:
    runpy.run_path(sys.argv[1], run_name="__main__")
except BaseException:
    traceback.print_exc()
print("--- use", flush=True)
try:
    import torch
    x = torch.ones(4, 4, device="cuda")
    x @ x
    print("use ok")
except BaseException:
    traceback.print_exc()
"""


def _script_then_use(sim: SimDevice, script: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT_THEN_USE, str(script)],
        env=sim.env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=sim.root,
    )


@pytest.fixture
def runbook_script(tmp_path: Path) -> Path:
    script = tmp_path / "check_torch_cuda.py"
    script.write_text(RUNBOOK_CHECK)
    return script


def test_runbook_check_script_passes_on_healthy_device(sim: SimDevice, runbook_script: Path) -> None:
    proc = _script_then_use(sim, runbook_script)
    lines = proc.stdout.splitlines()
    assert "cuda_available True" in lines and "cuda_version 12.6" in lines and "cudnn 90300" in lines, proc.stderr
    assert "device Orin" in lines and "cuda_matmul_ok torch.Size([128, 128])" in lines
    assert "use ok" in lines and "Traceback" not in proc.stderr


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_runbook_check_script_fails_under_fault(sim: SimDevice, runbook_script: Path, fault: str) -> None:
    config, texts = FAULTS[fault]
    sim.configure(**config)
    proc = _script_then_use(sim, runbook_script)
    output = proc.stdout + proc.stderr
    assert "cuda_matmul_ok" not in proc.stdout and "use ok" not in proc.stdout
    for text in texts:
        assert text in output, f"{text!r} missing from:\n{output[-3000:]}"
    assert sim.clients() == [] or fault in ("no_sm_87", "cublas_alloc_failed")


def test_repo_check_script_passes_on_healthy_device(sim: SimDevice) -> None:
    proc = sim.run_file(CHECK_SCRIPT)
    assert "result pass" in proc.stdout.splitlines(), proc.stdout + proc.stderr


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_repo_check_script_fails_under_fault(sim: SimDevice, fault: str) -> None:
    config, texts = FAULTS[fault]
    sim.configure(**config)
    proc = sim.run_file(CHECK_SCRIPT)
    output = proc.stdout + proc.stderr
    assert "result pass" not in proc.stdout.splitlines()
    signature = texts[-1] if not texts[-1].startswith(("cuda_available", "device ")) else texts[0]
    if "RuntimeError: No CUDA GPUs" in signature or "not compiled" in signature:
        signature = texts[0]
    assert signature.split(": ", 1)[-1] in output, output[-3000:]
    if not fault.startswith("no_cudnn"):  # an import error may end the script before its verdict
        assert "result fail" in proc.stdout.splitlines(), output[-3000:]
