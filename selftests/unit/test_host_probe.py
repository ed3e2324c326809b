"""jetson_hil.host_probe: Task 1 step 4's verdict on the probe run with the host's python3 (pure logic)."""

from __future__ import annotations

import subprocess

import pytest

from jetson_hil import host_probe
from jetson_hil.host_probe import FAIL, PASS, SKIP, verdict

NO_TORCH = (
    "python 3.10.12\ntorch None\nerror_step import_torch\nerror ImportError: No module named 'torch'\nresult fail\n"
)
CPU_ONLY = (
    "python 3.10.12\ntorch 2.5.1\ncuda_available False\ncuda_version None\ncudnn None\ndevice_count 0\ndevice None\n"
    "capability None\narch_list None\nsm_supported None\nnvidia_visible_devices None\ndev_nvmap True\n"
    "checks_skipped cuda not available\nresult fail\n"
)
HEALTHY = (
    "python 3.10.12\ntorch 2.5.0a0+872d972e41.nv24.08\ncuda_available True\ncuda_version 12.6\ncudnn 90300\n"
    "device_count 1\ndevice Orin\ncapability 8.7\narch_list sm_87\nsm_supported True\n"
    "cuda_matmul_max_err 4.77e-07\ncuda_matmul_ok True\ncuda_fp16_max_err 0.00195\ncuda_fp16_ok True\n"
    "cudnn_conv_max_err 2.38e-07\ncudnn_conv_ok True\nresult pass\n"
)
TOO_NEW = (
    "python 3.10.12\ntorch 2.8.0\ncuda_available False\ncuda_version 12.8\ncudnn 90300\ndevice_count 0\ndevice None\n"
    "capability None\narch_list sm_87\nsm_supported None\nchecks_skipped cuda not available\nresult fail\n"
)
# torch's warning on stderr, as torch prints it when cudaGetDeviceCount fails (its text from anduril/jetpack-nixos #328)
TOO_NEW_STDERR = (
    "/usr/local/lib/python3.10/dist-packages/torch/cuda/__init__.py:129: UserWarning: CUDA initialization: "
    "Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() "
    "that might have already set an error? cudaGetDeviceCount returned 35 -> CUDA driver version is insufficient "
    "for CUDA runtime version (Triggered internally at /opt/pytorch/pytorch/c10/cuda/CUDAFunctions.cpp:109.)\n"
    "  return torch._C._cuda_getDeviceCount() > 0\n"
)


def test_no_torch_on_the_host_skips_saying_so():
    found = verdict(1, NO_TORCH, "")
    assert found.outcome == SKIP
    assert "has no torch" in found.message and "Task 2" in found.message


def test_cpu_only_pip_torch_skips_naming_the_containers_torch():
    found = verdict(1, CPU_ONLY, "")
    assert found.outcome == SKIP
    assert "CPU-only build" in found.message and "agent container" in found.message
    assert "\n" not in found.message


def test_healthy_cuda_torch_passes():
    assert verdict(0, HEALTHY, "").outcome == PASS


def test_cuda_build_without_cuda_fails_quoting_the_init_error():
    found = verdict(1, TOO_NEW, TOO_NEW_STDERR)
    assert found.outcome == FAIL
    assert "cudaGetDeviceCount returned 35" in found.message
    assert "CUDA 12.8 build" in found.message
    assert "Fix:" in found.message and "nvidia-l4t-cuda" in found.message
    assert "cudaGetDeviceCount returned 35" in found.evidence
    assert "Triggered internally" not in found.message


@pytest.mark.parametrize(
    ("container_cuda", "says"),
    [
        (True, "the host's torch does not fit this JetPack"),
        (False, "the host's CUDA driver is broken, which breaks the containers"),
        (None, "Task 2 tells which"),
    ],
)
def test_the_cause_follows_task_2(container_cuda, says):
    assert says in verdict(1, TOO_NEW, TOO_NEW_STDERR, container_cuda).message


def test_matmul_error_fails_naming_it():
    text = HEALTHY.replace("cuda_matmul_max_err 4.77e-07\ncuda_matmul_ok True\n", "").replace(
        "result pass", "result fail"
    )
    text = text.replace(
        "sm_supported True\n",
        "sm_supported True\nerror_step cuda_matmul\nerror RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when "
        "calling `cublasCreate(handle)`\ncuda_matmul_ok False\n",
    )
    found = verdict(1, text, "")
    assert found.outcome == FAIL
    assert "CUBLAS_STATUS_ALLOC_FAILED" in found.message and "matmul" in found.message


def test_wrong_numbers_fail_with_the_error_size():
    text = HEALTHY.replace(
        "cuda_matmul_max_err 4.77e-07\ncuda_matmul_ok True", "cuda_matmul_max_err 3.2\ncuda_matmul_ok False"
    )
    found = verdict(1, text.replace("result pass", "result fail"), "")
    assert found.outcome == FAIL and "max abs error 3.2" in found.message


def test_a_hang_fails():
    text = TOO_NEW.replace("result fail\n", "error_step watchdog\nerror TimeoutError: probe did not finish within 90s\n"
                           "result fail\n").replace("cuda_available False", "cuda_available True")
    found = verdict(1, text, "")
    assert found.outcome == FAIL and "hangs" in found.message


def test_a_crash_names_the_signal():
    text = "python 3.10.12\ntorch 2.5.0a0+nv24.08\ncuda_available True\ncuda_version 12.6\n"
    found = verdict(139, text, "Segmentation fault (core dumped)\n")
    assert found.outcome == FAIL and "SIGSEGV" in found.message


def test_torch_that_cannot_be_imported_fails():
    text = ("python 3.10.12\ntorch None\nerror_step import_torch\nerror ImportError: libcudnn.so.9: cannot open shared "
            "object file: No such file or directory\nresult fail\n")
    found = verdict(1, text, "")
    assert found.outcome == FAIL and "libcudnn.so.9" in found.message


@pytest.mark.parametrize(
    ("rc", "stderr"),
    [(127, "sh: 1: python3: not found\n"), (127, "bash: python3: command not found\n")],
)
def test_no_python3_skips(rc, stderr):
    assert verdict(rc, "", stderr).outcome == SKIP


def test_a_probe_that_never_started_fails_in_one_line():
    found = verdict(2, "", "base64: invalid input\n")
    assert found.outcome == FAIL and "base64: invalid input" in found.message and "\n" not in found.message


def test_the_command_runs_the_script_and_keeps_its_exit_status(tmp_path):
    """The command itself, with /bin/sh and a stand-in python3 on PATH (no torch needed)."""
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\ncat \"$1\"; echo \"args $2 $3\"; exit 3\n")
    fake.chmod(0o755)
    proc = subprocess.run(["/bin/sh", "-c", host_probe.command(b"print('hi')\n", 90)], capture_output=True, text=True,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, timeout=30)
    assert proc.returncode == 3
    assert proc.stdout == "print('hi')\nargs --timeout 90\n"
