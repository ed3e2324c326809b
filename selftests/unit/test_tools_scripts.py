"""tools/jetson/gpu_diag.sh and tools/jetson/check_torch_cuda.py (runbook Task 1 and Task 2) run here, without a
Jetson: they must finish (never hang), say what is missing, and print what jetson_hil.probe reads."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch  # the [sim] extra, installed with the selftests

from jetson_hil.probe import parse_probe

ROOT = Path(__file__).resolve().parents[2]
GPU_DIAG = ROOT / "tools" / "jetson" / "gpu_diag.sh"
PROBE = ROOT / "tools" / "jetson" / "check_torch_cuda.py"
BASH = shutil.which("bash") or "/bin/bash"
HEADERS = [
    "--- host ---",
    "--- /etc/nv_tegra_release ---",
    "--- device model ---",
    "--- CUDA version ---",
    "--- nvcc --version ---",
    "--- JetPack packages ---",
    "--- tegrastats (3s) ---",
    "--- docker runtimes ---",
]


def _path_without(*commands: str) -> str:
    """PATH minus the directories that hold any of these commands."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    return os.pathsep.join(d for d in dirs if not any((Path(d) / c).exists() for c in commands))


def run_diag(
    env_extra: dict[str, str] | None = None, timeout: float = 120
) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PATH": _path_without("tegrastats"), **(env_extra or {})}
    start = time.monotonic()
    done = subprocess.run([BASH, str(GPU_DIAG)], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    return done, time.monotonic() - start


def sections(stdout: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("--- ") and line.endswith(" ---"):
            current = line
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def test_gpu_diag_here_exits_0_quickly_with_every_header():
    done, elapsed = run_diag()
    assert done.returncode == 0, done.stderr
    assert elapsed < 60  # a hang guard: about 1 s here
    assert [line for line in done.stdout.splitlines() if line.startswith("--- ")] == HEADERS
    parts = sections(done.stdout)
    assert parts["--- tegrastats (3s) ---"] == ["tegrastats not found"]
    assert parts["--- host ---"][0].startswith("HOST: ")
    assert parts["--- host ---"][1].startswith("DATE: ")
    if not Path("/etc/nv_tegra_release").exists():
        assert parts["--- /etc/nv_tegra_release ---"] == ["not found: /etc/nv_tegra_release (not an L4T host?)"]
    for header in HEADERS:
        assert parts[header], f"{header} printed nothing"


def test_gpu_diag_reports_jetpack_packages_from_dpkg():
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg here")
    done, _ = run_diag()
    lines = sections(done.stdout)["--- JetPack packages ---"]
    real = subprocess.run("dpkg -l | grep -E 'nvidia-jetpack|nvidia-l4t-core|cuda|cudnn|tensorrt'", shell=True,
                          capture_output=True, text=True, timeout=60).stdout.splitlines()  # fmt: skip
    assert lines == (
        real or ["not found: no nvidia-jetpack, nvidia-l4t-core, cuda, cudnn or tensorrt package in dpkg -l"]
    )


def _fake_bin(tmp_path: Path, scripts: dict[str, str]) -> str:
    """A directory of stand-in commands, put first on PATH so they shadow the real ones."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return str(bin_dir)


# A tegrastats that never stops by itself and honours --interval, like the simulator's emulator.
FAKE_TEGRASTATS = """iv=1000
while [ $# -gt 0 ]; do case "$1" in --interval) iv=$2; shift;; esac; shift; done
while true; do
  echo "RAM 1923/3964MB (lfb 2x2MB) CPU [5%@1224,4%@1224,3%@1224,6%@1224] GR3D_FREQ 0%@76 interval=$iv"
  sleep 1
done
"""


def test_gpu_diag_samples_tegrastats_and_never_hangs(tmp_path):
    fake = _fake_bin(tmp_path, {
        "tegrastats": FAKE_TEGRASTATS,
        "docker": "sleep 300\n",  # a wedged daemon
    })  # fmt: skip
    done, elapsed = run_diag({"PATH": fake + os.pathsep + _path_without("tegrastats"),
                              "GPU_DIAG_TIMEOUT": "2", "GPU_DIAG_TEGRASTATS_SECONDS": "2"})  # fmt: skip
    assert done.returncode == 0
    assert elapsed < 60  # a hang guard far below the wedged docker's 300 s: about 4 s with its 2 s limits
    parts = sections(done.stdout)
    samples = parts["--- tegrastats (2s) ---"]
    assert samples and all(s.startswith("RAM 1923/3964MB") and s.endswith("interval=1000") for s in samples)
    assert parts["--- docker runtimes ---"][-1] == "timed out after 2s: docker info"


def test_gpu_diag_without_root_never_prompts(tmp_path):
    fake = _fake_bin(tmp_path, {
        "id": 'case "$1" in -u) echo 1000;; -un) echo jetson;; *) echo "uid=1000(jetson)";; esac\n',
        "sudo": 'echo "sudo: a password is required" >&2\nexit 1\n',
        "tegrastats": FAKE_TEGRASTATS,
        "docker": 'echo "permission denied while trying to connect to the Docker daemon socket" >&2\nexit 1\n',
    })  # fmt: skip
    done, _ = run_diag({"PATH": fake + os.pathsep + _path_without("tegrastats"),
                        "GPU_DIAG_TEGRASTATS_SECONDS": "1"})  # fmt: skip
    assert done.returncode == 0
    parts = sections(done.stdout)
    tegra = parts["--- tegrastats (1s) ---"]
    assert tegra[0] == "needs root: sudo -n failed; running tegrastats without root (fewer fields)"
    assert tegra[1].startswith("RAM ")
    docker = parts["--- docker runtimes ---"]
    assert docker[0] == "needs root: sudo -n failed (and docker info as jetson failed)"
    assert "permission denied while trying to connect to the Docker daemon socket" in docker[-1]


def test_gpu_diag_is_valid_bash():
    assert subprocess.run([BASH, "-n", str(GPU_DIAG)], capture_output=True, timeout=30).returncode == 0


# ------------------------------------------------------------------------------------------------------
# check_torch_cuda.py


def run_probe(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, *args, str(PROBE)] if args[:1] == ("-S",) else [python, str(PROBE), *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def test_probe_with_cpu_torch_fails_cleanly():
    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA GPU")
    done = run_probe()
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "cuda_available False" in lines
    assert lines[-1] == "result fail"
    assert f"torch {torch.__version__}" in lines
    r = parse_probe(done.stdout)
    assert (r.cuda_available, r.result, r.passed, r.other_lines) == (False, "fail", False, [])
    assert r.cuda_version == torch.version.cuda


def test_probe_json_matches_the_lines():
    lines = parse_probe(run_probe().stdout)
    done = run_probe("--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["result"] == "fail" and data["cuda_available"] is False
    assert parse_probe(done.stdout).fields["cuda_available"] == lines.fields["cuda_available"]


def test_probe_without_torch_reports_import_error():
    done = run_probe("-S")  # no site-packages: torch cannot be imported
    assert done.returncode == 1
    assert done.stdout.splitlines()[-3:] == [
        "error_step import_torch",
        "error ImportError: No module named 'torch'",
        "result fail",
    ]
    assert "Traceback" in done.stderr


def test_probe_watchdog_ends_a_stuck_run():
    done = run_probe("--timeout", "0.01")
    assert done.returncode == 1
    r = parse_probe(done.stdout)
    assert r.step_errors[0].step == "watchdog"
    assert r.result == "fail"


def test_probe_source_runs_on_python_3_6():
    # JetPack 4 containers ship Python 3.6: no syntax newer than that in the probe.
    ast.parse(PROBE.read_text(), feature_version=(3, 6))
    assert "from __future__ import annotations" not in PROBE.read_text()
