"""tools/jetson/bench_encoder.py: runs here on the CPU (no CUDA), says what it skipped and why, never hangs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "jetson" / "bench_encoder.py"
AGENTS = ROOT / "jetson_hil" / "sim" / "agents"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_encoder", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=timeout)


def test_cpu_run_reports_every_measure_and_every_skip() -> None:
    proc = run("--models", "tiny", "--input-size", "64", "--warmup", "1", "--iters", "3")
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["device"] == "cpu" and lines["result"] == "ok"
    assert lines["agents_dir"] == str(AGENTS.resolve())
    for batch in ("b1", "b8"):
        assert float(lines[f"tiny.fp32.{batch}.eager_ms"]) > 0
        assert lines[f"tiny.fp32.{batch}.graph_skipped"] == "CUDA graphs need CUDA (running on the CPU)"
    assert float(lines["tiny.fp32.agent_ms"]) > 0 and float(lines["tiny.fp32.raw_ms"]) > 0
    assert float(lines["tiny.fp32.agent_over_raw"]) == pytest.approx(
        float(lines["tiny.fp32.agent_ms"]) / float(lines["tiny.fp32.raw_ms"]), rel=0.01)
    assert lines["tiny.fp16.skipped"].startswith("fp16 needs CUDA")


def test_json_output_and_agents_dir(tmp_path: Path) -> None:
    proc = run("--models", "tiny", "--input-size", "32", "--batches", "2", "--dtypes", "fp32", "--warmup", "0",
               "--iters", "1", "--json", "--agents-dir", str(AGENTS))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["result"] == "ok" and data["tiny.fp32.b2.eager_ms"] > 0 and "tiny.fp16.skipped" not in data
    missing = run("--agents-dir", str(tmp_path))
    assert missing.returncode == 1 and "no encoders.py" in missing.stderr
    bad = run("--dtypes", "int8")
    assert bad.returncode == 2


def test_unknown_model_fails_with_its_name() -> None:
    proc = run("--models", "resnet", "--iters", "1", "--warmup", "0")
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert proc.returncode == 1 and "unknown encoder 'resnet'" in lines["resnet.error"]


def test_timeout_ends_it_with_what_it_has() -> None:
    start = time.monotonic()
    proc = run("--models", "dinov2-s14", "--iters", "100000", "--timeout", "3", timeout=240)
    assert time.monotonic() - start < 120  # a hang guard: 100000 iterations take hours; this ends about 3 s in
    assert proc.returncode == 1
    assert "error TimeoutError: benchmark did not finish within 3s" in proc.stdout
    assert proc.stdout.rstrip().endswith("result fail")


def test_pure_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = load_bench()
    assert b.median_ms([0.001, 0.003, 0.002]) == pytest.approx(2.0)
    assert b.round_like_agent(np.array([1.23456789, -0.000123456789], dtype=np.float32)) == [1.23457, -0.000123457]
    (tmp_path / "encoders.py").write_text("")
    assert b.agents_dir(None, (str(tmp_path / "nope"), str(tmp_path))) == str(tmp_path)
    with pytest.raises(SystemExit, match="pass --agents-dir"):
        b.agents_dir(None, (str(tmp_path / "nope"),))
    cuda_torch = SimpleNamespace(cuda=SimpleNamespace(CUDAGraph=object), __version__="2.11.0")
    monkeypatch.delitem(sys.modules, "jetson_sim_cuda", raising=False)  # another test may have loaded the shim
    assert b.graph_skip_reason(cuda_torch, "cuda") is None
    assert "CPU" in b.graph_skip_reason(cuda_torch, "cpu")
    old = SimpleNamespace(cuda=SimpleNamespace(), __version__="1.9.0")
    assert "no torch.cuda.CUDAGraph" in b.graph_skip_reason(old, "cuda")
    sys.modules["jetson_sim_cuda"] = SimpleNamespace()
    try:
        assert "simulated Jetson GPU" in b.graph_skip_reason(cuda_torch, "cuda")
    finally:
        del sys.modules["jetson_sim_cuda"]
