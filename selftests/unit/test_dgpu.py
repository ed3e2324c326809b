"""jetson_hil.dgpu and tools/jetson/gpu_sampler.py: discrete-GPU hosts, on outputs captured on the H200; and the
simulated GPU's step-aside on a host with a real NVIDIA GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jetson_hil.dgpu import (
    DETECT_COMMAND,
    QUERY_COMMAND,
    DgpuHost,
    Platform,
    detect_platform,
    driver_supports,
    driver_versions_agree,
    host_kind,
    parse_detection,
    parse_kernel_module_version,
    parse_process_samples,
    parse_processes,
    parse_query_csv,
    parse_smi_header,
    smi_fix,
)
from jetson_hil.errors import ParseError
from jetson_hil.tegrastats import parse_line

ROOT = Path(__file__).resolve().parents[2]
SAMPLER = ROOT / "tools" / "jetson" / "gpu_sampler.py"
GPU_SHIM = ROOT / "jetson_hil" / "sim" / "gpu"

# Captured on the H200 (fixtures/data/real/h200/host_facts.txt): `nvidia-smi` banner and QUERY_COMMAND's output.
SMI_H200 = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.159.04             Driver Version: 580.159.04     CUDA Version: 13.0     |
+-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA H200                    On  |   00000000:00:06.0 Off |                    0 |
"""
QUERY_H200 = """\
index, name, driver_version, memory.total [MiB], compute_cap, pci.bus_id
0, NVIDIA H200, 580.159.04, 143771 MiB, 9.0, 00000000:00:06.0
"""

# nvidia-smi's answer when the kernel module is not loaded (driver installed, not running).
SMI_NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
    "NVIDIA driver is installed and running.\n"
)
# /proc/driver/nvidia/version: the open kernel module as captured on the H200
# (fixtures/data/real/h200/host_facts.txt), and the proprietary module's NVRM line as the 535 driver prints it.
NVRM_OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \n"
    "GCC version:  gcc version 15.3.0 (GCC) \n"
)
NVRM_PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)

def load_sampler():
    spec = importlib.util.spec_from_file_location("gpu_sampler", SAMPLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smi_header_and_query() -> None:
    header = parse_smi_header(SMI_H200)
    assert (header.smi_version, header.driver_version, header.cuda_version) == ("580.159.04", "580.159.04", "13.0")
    (gpu,) = parse_query_csv(QUERY_H200)
    assert (gpu.index, gpu.name, gpu.driver_version) == (0, "NVIDIA H200", "580.159.04")
    assert gpu.memory_total_mib == 143771 and gpu.compute_capability == (9, 0) and not gpu.is_tegra
    assert gpu.units["memory.total"] == "MiB" and QUERY_COMMAND.startswith("nvidia-smi --query-gpu=index,name,")
    (orin,) = parse_query_csv("Orin (nvgpu), [N/A]\n", fields=["name", "memory.total"])
    assert orin.is_tegra and orin.memory_total_mib is None
    assert parse_smi_header("| NVIDIA-SMI 470.57 Driver Version: 470.57 CUDA Version: N/A |").cuda_version is None


@pytest.mark.parametrize("text", ["", "name, memory.total\nA, 1, 2\n", "na-me!\n"])
def test_query_csv_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_query_csv(text)


def test_smi_without_banner_raises() -> None:
    with pytest.raises(ParseError):
        parse_smi_header("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_detection_rule() -> None:
    assert detect_platform(True, ["NVIDIA Thor"]).kind == "tegra"
    orin = detect_platform(False, ["Orin (nvgpu)"])
    assert orin.is_tegra and "Tegra iGPU" in orin.reason
    h200 = detect_platform(False, ["NVIDIA H200"])
    assert h200.is_dgpu and "'NVIDIA H200'" in h200.reason
    gone = detect_platform(False, None, "bash: nvidia-smi: command not found\n")
    assert gone.kind == "none" and "command not found" in gone.reason
    assert "lists no GPU" in detect_platform(False, []).reason


def test_detection_command_output() -> None:
    h200 = parse_detection("tegra_release no\nNVIDIA H200\nnvidia-smi exit 0\n")
    assert h200.is_dgpu and "'NVIDIA H200'" in h200.reason
    two = parse_detection("tegra_release no\nNVIDIA H200\nNVIDIA H200\nnvidia-smi exit 0\n")
    assert two.is_dgpu and two.reason.count("H200") == 2
    assert parse_detection("tegra_release yes\nnvidia-smi absent\n").is_tegra
    assert parse_detection("tegra_release no\nOrin (nvgpu)\nnvidia-smi exit 0\n").is_tegra
    absent = parse_detection("tegra_release no\nnvidia-smi absent\n")
    assert absent.kind == "none" and "command not found" in absent.reason
    broken = parse_detection("tegra_release no\n" + SMI_NO_DRIVER + "nvidia-smi exit 9\n")
    assert broken.kind == "none" and "couldn't communicate with the NVIDIA driver" in broken.reason
    for bad in ("", "sh: syntax error\n", "tegra_release no\nNVIDIA H200\n"):
        with pytest.raises(ParseError):
            parse_detection(bad)
    assert DETECT_COMMAND.startswith("if [ -e /etc/nv_tegra_release ]")


def test_detection_command_runs_here(tmp_path: Path) -> None:
    """The real shell command, with a stand-in nvidia-smi first on PATH (and without one)."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H200'\n")
    smi.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:/usr/bin:/bin")
    out = subprocess.run(["sh", "-c", DETECT_COMMAND], env=env, capture_output=True, text=True, timeout=30)
    got = parse_detection(out.stdout)
    if not Path("/etc/nv_tegra_release").exists():
        assert got.is_dgpu, out.stdout
    smi.unlink()
    out = subprocess.run(["sh", "-c", DETECT_COMMAND], env=env, capture_output=True, text=True, timeout=30)
    assert parse_detection(out.stdout).kind in ("none", "tegra")


def test_host_kind_rule() -> None:
    dgpu_host = Platform("dgpu", "no /etc/nv_tegra_release and nvidia-smi answers with 'NVIDIA H200'")
    assert host_kind("dgpu", None).is_dgpu and "profile says" in host_kind("dgpu", None).reason
    assert host_kind("dgpu", Platform("tegra", "a Jetson")).is_dgpu
    switched = host_kind("jetson", dgpu_host)
    assert switched.is_dgpu and "NVIDIA H200" in switched.reason
    assert not host_kind("jetson", Platform("tegra", "/etc/nv_tegra_release exists")).is_dgpu
    gone = host_kind("jetson", Platform("none", "no /etc/nv_tegra_release and nvidia-smi does not answer"))
    assert not gone.is_dgpu and "does not answer" in gone.reason
    failed = host_kind("jetson", None, "device unreachable")
    assert not failed.is_dgpu and "detection failed: device unreachable" in failed.reason


def test_kernel_module_version() -> None:
    assert parse_kernel_module_version(NVRM_PROPRIETARY) == "535.104.05"
    assert parse_kernel_module_version(NVRM_OPEN) == "580.159.04"
    assert parse_kernel_module_version("") is None
    assert parse_kernel_module_version("GCC version: 12\n") is None


def test_driver_versions_agree() -> None:
    assert driver_versions_agree("580.159.04", ["580.159.04"], "580.159.04") == (True, [])
    assert driver_versions_agree("580.159.04", ["580.159.04", None], None) == (True, [])
    ok, problems = driver_versions_agree("580.159.04", ["580.159.04"], "570.86.15")
    assert not ok and "kernel module is 570.86.15" in problems[0] and "without a reboot" in problems[0]
    ok, problems = driver_versions_agree("580.159.04", ["580.159.04", "575.51.03"], None)
    assert not ok and len(problems) == 2 and "different drivers" in problems[1]
    assert not driver_versions_agree(None, ["575.51.03"], "580.159.04")[0]


class _Out:
    def __init__(self, rc: int, stdout: str = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


def _host(answers: dict[str, _Out]) -> DgpuHost:
    def run(command: str, timeout_s: float) -> _Out:
        for key, out in answers.items():
            if key in command:
                return out
        return _Out(1, "", "unexpected command")

    return DgpuHost(run)


def test_dgpu_host_reads_through_the_transport() -> None:
    host = _host({"--query-gpu": _Out(0, QUERY_H200), "nvidia-smi ": _Out(0, SMI_H200), "cat ": _Out(0, NVRM_OPEN)})
    assert host.header.cuda_version == "13.0" and host.gpus[0].name == "NVIDIA H200"
    assert host.kernel_module_version == "580.159.04" and host.banner.ok
    absent = _host({"nvidia-smi": _Out(127, "", "")})
    assert not absent.banner.found and absent.banner.why() == "nvidia-smi is not on the host's PATH"
    with pytest.raises(ParseError, match="not on the host's PATH"):
        _ = absent.header
    no_driver = _host({"nvidia-smi": _Out(9, SMI_NO_DRIVER), "cat ": _Out(1, "", "No such file")})
    assert no_driver.banner.why().startswith("nvidia-smi exited 9: NVIDIA-SMI has failed")
    assert no_driver.banner.why().endswith("installed and running")
    mismatch = _host({"nvidia-smi": _Out(18, "Failed to initialize NVML: Driver/library version mismatch\n"
                                             "NVML library version: 580.159\n")})
    assert mismatch.banner.why() == (
        "nvidia-smi exited 18: Failed to initialize NVML: Driver/library version mismatch | "
        "NVML library version: 580.159"
    )
    assert no_driver.kernel_module_version is None
    with pytest.raises(ParseError):
        _ = no_driver.gpus
    wedged = _host({"nvidia-smi": _Out(124, "")})
    assert wedged.query.why() == "nvidia-smi timed out (a wedged driver)"


def test_driver_vs_container_cuda() -> None:
    assert driver_supports("13.0", "12.8") and driver_supports("12.6", "12.6.3") and driver_supports("13", "13.0")
    old = driver_supports("12.2", "12.4")
    assert not old and "below the container's CUDA 12.4" in old.reason and "forward compatibility" in old.reason
    with pytest.raises(ParseError):
        driver_supports("N/A", "12.4")
    toolkit = driver_supports("13.0", "13.9.0", "the host toolkit's CUDA")
    assert not toolkit and "below the host toolkit's CUDA 13.9" in toolkit.reason


def test_processes_from_sampler_and_nvidia_smi() -> None:
    sampler = "755, /opt/torch/.venv/bin/python3, 816, /opt/torch/.venv/bin/python3 /w/agents/vl_jepa.py, x\n"
    (p,) = parse_processes(sampler)
    assert (p.pid, p.name, p.used_mib, p.cmdline) == (755, "/opt/torch/.venv/bin/python3", 816,
                                                      "/opt/torch/.venv/bin/python3 /w/agents/vl_jepa.py, x")
    smi = "pid, process_name, used_gpu_memory [MiB]\n1234, python3, 512 MiB\n99, Xorg, [N/A]\n"
    assert [(p.pid, p.used_mib) for p in parse_processes(smi)] == [(1234, 512), (99, None)]
    assert parse_processes("No running processes found\n") == []
    with pytest.raises(ParseError):
        parse_processes("python3, 1234, 512\n")


def test_process_samples() -> None:
    got = parse_process_samples("755, 1795993895155867, 1, 0\n942, 1795993911164102, 34, 5\n# period_us 598341\n")
    assert got.period_us == 598341 and got.pids == {755, 942} and got.samples[1].sm_percent == 34
    assert parse_process_samples("# error nvmlDeviceGetProcessUtilization: Not Supported\n").error.endswith(
        "Not Supported"
    )
    with pytest.raises(ParseError):
        parse_process_samples("755, soon, 1, 0\n")


# ------------------------------------------------------------------------------------------- the sampler
def test_sampler_lines_parse_as_tegrastats() -> None:
    s = load_sampler()
    line = s.format_line(0.0, (1392, 128887), [(4, None), (92, 1980)], 1, 1980, 33, 122891, 88348)
    sample = parse_line(line, strict=True)
    assert sample.gpu_load_percent == 1 and sample.gpu_freq_mhz == 1980 and sample.gpu_temperature == 33.0
    assert sample.rails["VDD_GPU"].current_mw == 122891 and sample.rails["VDD_GPU"].average_mw == 88348
    assert sample.ram_used_mb == 1392 and [c.load_percent for c in sample.cpus] == [4, 92]
    assert sample.timestamp is not None
    bare = parse_line(s.format_line(0.0, None, [], None, 1410, None, None, None), strict=True)
    assert bare.gpu_load_percent is None and bare.gpu_freq_mhz == 1410 and not bare.rails


def test_sampler_line_captured_on_the_h200_parses() -> None:
    line = ("11-29-2026 23:11:51 RAM 1898/128887MB CPU [6%,2%,0%,0%,0%,0%,0%,0%,0%,0%,0%,0%,0%,0%,0%,100%] "
            "GR3D_FREQ 99%@[1530] gpu@54C VDD_GPU 558581mW/111268mW")  # fmt: skip
    sample = parse_line(line, strict=True)
    assert sample.gpu_load_percent == 99 and sample.rails["VDD_GPU"].current_mw == 558581


def test_sampler_host_readings() -> None:
    s = load_sampler()
    assert s.read_meminfo("MemTotal: 2048000 kB\nMemFree: 1 kB\nMemAvailable: 1024000 kB\n") == (1000, 2000)
    assert s.read_meminfo("nothing\n") is None
    before = s.read_cpu_times("cpu  9 9 9 9\ncpu0 10 0 10 80 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n")
    after = s.read_cpu_times("cpu  9 9 9 9\ncpu0 40 0 20 120 0 0 0 0\ncpu1 0 0 0 200 0 0 0 0\n")
    assert s.cpu_loads(before, after) == [50, 0]
    assert s.parse_smi_query("45, 1980, 34, 120.53\n") == (45.0, 1980.0, 34.0, 120530.0)
    assert s.parse_smi_query("45, 1980, 34, [N/A]\n")[3] is None
    assert s.parse_smi_query("no\n") is None


def test_sampler_pmon_parsing() -> None:
    s = load_sampler()
    text = textwrap.dedent("""\
        # gpu         pid   type     sm    mem    enc    dec    jpg    ofa    command
        # Idx           #    C/G      %      %      %      %      %      %    name
            0       1234     C      3      1      -      -      -      -    python3
            0       4321     C      -      -      -      -      -      -    Xorg
            0       1234     C      5      2      -      -      -      -    python3
            0          -     -      -      -      -      -      -      -    -
        """)
    assert s.parse_pmon(text, 10) == [(1234, 10, 3, 1), (4321, 10, 0, 0), (1234, 1_000_010, 5, 2)]


def test_sampler_without_nvml_or_nvidia_smi_says_so(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path), PYTHONPATH=str(tmp_path))
    for args in (["--count", "1"], ["--processes"], ["--backend", "nvml"]):
        proc = subprocess.run([sys.executable, str(SAMPLER), *args], env=env, capture_output=True, text=True,
                              timeout=30)  # fmt: skip
        assert proc.returncode == 1 and "gpu_sampler:" in proc.stderr, proc.stderr
    stop = subprocess.run([sys.executable, str(SAMPLER), "--stop", "--pidfile", str(tmp_path / "none.pid")],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert stop.returncode == 1 and "no sampler running" in stop.stderr


def test_sampler_with_nvml_writes_a_log_and_stops(tmp_path: Path) -> None:
    """A stand-in pynvml (no GPU here) drives the NVML path end to end: logfile, pid file, --stop."""
    (tmp_path / "pynvml.py").write_text(textwrap.dedent("""\
        NVML_CLOCK_SM = 1
        NVML_TEMPERATURE_GPU = 0
        class NVMLError(Exception): pass
        class R:
            def __init__(self, **kw): self.__dict__.update(kw)
        def nvmlInit(): pass
        def nvmlDeviceGetHandleByIndex(i): return i
        def nvmlDeviceGetUtilizationRates(h): return R(gpu=7)
        def nvmlDeviceGetClockInfo(h, k): return 1980
        def nvmlDeviceGetTemperature(h, k): return 41
        def nvmlDeviceGetPowerUsage(h): return 150000
        def nvmlDeviceGetTotalEnergyConsumption(h): raise NVMLError("Not Supported")
        def nvmlDeviceGetComputeRunningProcesses(h): return [R(pid=1, usedGpuMemory=3 * 2**20)]
        def nvmlSystemGetProcessName(pid): return b"init"
        def nvmlDeviceGetProcessUtilization(h, last): raise NVMLError("Not Found")
        """))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    log, pidfile = tmp_path / "t.log", tmp_path / "s.pid"
    proc = subprocess.Popen([sys.executable, str(SAMPLER), "--interval", "50", "--logfile", str(log),
                             "--pidfile", str(pidfile)], env=env)  # fmt: skip
    try:
        for _ in range(200):
            if log.exists() and log.read_text().count("\n") >= 2:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        stop = subprocess.run([sys.executable, str(SAMPLER), "--stop", "--pidfile", str(pidfile)], env=env,
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    sample = parse_line(log.read_text().splitlines()[0], strict=True)
    assert (sample.gpu_load_percent, sample.gpu_freq_mhz, sample.gpu_temperature) == (7, 1980, 41.0)
    assert sample.rails["VDD_GPU"].average_mw == 150000 and not pidfile.exists()
    out = subprocess.run([sys.executable, str(SAMPLER), "--processes"], env=env, capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    (p,) = parse_processes(out.stdout)
    assert (p.pid, p.name, p.used_mib) == (1, "init", 3)
    out = subprocess.run([sys.executable, str(SAMPLER), "--process-samples", "0.1"], env=env, capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert out.returncode == 0 and parse_process_samples(out.stdout).samples == []


# ------------------------------------------------------------------------- simulator on a real-GPU host
def _shim_state(tmp_path: Path, **env: str) -> dict:
    image = tmp_path / "image.env"
    image.write_text("IMAGE_L4T=36.4.0\nTORCH_CUDA=12.6\nTORCH_CUDNN=90300\nTORCH_ARCH_LIST=sm_87\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("JETSON_SIM_")}
    base.update(PYTHONPATH=str(GPU_SHIM), JETSON_SIM_IMAGE_ENV=str(image), JETSON_SIM_DEV_DIR=str(tmp_path),
                JETSON_SIM_NVIDIA_PATHS=str(tmp_path / "nvidiactl"), **env)  # fmt: skip
    code = ("import json, sys; print(json.dumps({'hooks': [type(f).__name__ for f in sys.meta_path "
            "if 'Torch' in type(f).__name__]}))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_simulated_gpu_steps_aside_on_a_real_nvidia_gpu(tmp_path: Path) -> None:
    assert _shim_state(tmp_path)["hooks"] == ["_TorchImportHook"]
    (tmp_path / "nvidiactl").touch()  # what the NVIDIA driver creates on a dGPU host
    assert _shim_state(tmp_path)["hooks"] == []
    assert _shim_state(tmp_path, JETSON_SIM_REAL_GPU="0")["hooks"] == ["_TorchImportHook"]
    (tmp_path / "nvidiactl").unlink()
    assert _shim_state(tmp_path, JETSON_SIM_REAL_GPU="1")["hooks"] == []


def test_example_dgpu_profile_loads() -> None:
    from jetson_hil.profile import load_profile

    p = load_profile(ROOT / "devices" / "example-dgpu-local.toml")
    assert (p.device.kind, p.device.host, p.device.sudo) == ("dgpu", "local://", False)


def test_known_nvidia_smi_failures_name_their_fix() -> None:
    assert smi_fix(SMI_NO_DRIVER).startswith("the NVIDIA kernel module is not loaded: `sudo modprobe nvidia`")
    assert "reboot" in smi_fix("Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580")
    assert "lspci" in smi_fix("No devices were found\n")
    assert smi_fix("something else") is None and smi_fix("") is None


def test_task1_platform_gate_marks() -> None:
    """Task 1's gate skips by marker: the dGPU checks are marked dgpu_only, the L4T/JetPack/tegrastats ones
    l4t_only, and only the Docker and gpu_diag.sh checks run on both kinds of host."""
    spec = importlib.util.spec_from_file_location("task1", ROOT / "tests" / "host" / "test_task1_gpu_diag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marks = {
        name: {m.name for m in getattr(getattr(module, name), "pytestmark", [])}
        for name in dir(module)
        if name.startswith("test_")
    }
    dgpu_only = {n for n, m in marks.items() if "dgpu_only" in m}
    l4t_only = {n for n, m in marks.items() if "l4t_only" in m}
    assert dgpu_only == {n for n in marks if n.startswith("test_dgpu_")} and len(dgpu_only) == 6
    assert not dgpu_only & l4t_only and len(l4t_only) == 10
    assert set(marks) - dgpu_only - l4t_only == {
        "test_docker_knows_the_nvidia_runtime",
        "test_nvidia_runtime_is_default_or_used_by_the_agent",
        "test_gpu_diag_script_runs",
    }
