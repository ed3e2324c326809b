"""The simulated device's surfaces that come from the real captures: device-tree model, CUDA's GPU name, and
tegrastats without root. Pure logic and the emulator's own line builder; the live device is
selftests/sim/test_sim_device.py's."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from jetson_hil import l4t, tegrastats
from jetson_hil.device import module_from_model, module_from_tegrastats, parse_cuda_version
from jetson_hil.replay import REAL, body
from jetson_hil.sim import jetson_release

REPO = Path(__file__).resolve().parents[2]
EMULATOR = REPO / "jetson_hil" / "sim" / "device" / "tegrastats"


def _emulator():
    loader = importlib.machinery.SourceFileLoader("sim_tegrastats", str(EMULATOR))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("module", sorted(l4t.MODULES))
@pytest.mark.parametrize("major", [32, 35, 36, 38])
def test_device_tree_model_is_real_and_identifies_the_module(module: str, major: int) -> None:
    model = jetson_release.device_tree_model(module, major)
    assert model is not None and model.endswith("\0") and "\n" not in model
    assert module_from_model(model.rstrip("\0")) is l4t.MODULES[module]
    captured = {body(REAL / rel).strip() for _m, rel in jetson_release.MODEL_CAPTURES[module]}
    assert model.rstrip("\0") in captured


def test_device_tree_model_follows_the_release_line() -> None:
    assert jetson_release.device_tree_model("orin-nano", 35) == "NVIDIA Orin Nano Developer Kit\0"
    assert jetson_release.device_tree_model("orin-nano", 36) == "NVIDIA Jetson Orin Nano Developer Kit\0"
    assert jetson_release.Release("36.4.7", "orin-agx").device_tree_model() == "NVIDIA Jetson AGX Orin Developer Kit\0"


def test_cuda_device_name_is_cudas_not_nvidia_smis() -> None:
    assert {jetson_release.cuda_device_name(m) for m in ("orin-agx", "orin-nx", "orin-nano")} == {"Orin"}
    assert jetson_release.cuda_device_name("nano") == "NVIDIA Tegra X1"
    for module in l4t.MODULES:
        assert "nvgpu" not in jetson_release.cuda_device_name(module)


@pytest.mark.parametrize("module,l4t_release", [("orin-nano", "36.4.0"), ("orin-agx", "36.4.7"),
                                                ("nano", "32.7.4"), ("xavier-nx", "35.4.1")])
def test_nonroot_line_is_the_real_shorter_line(module: str, l4t_release: str) -> None:
    emu = _emulator().Emulator({"family": module, "l4t": l4t_release}, 1.0, root=False)
    line = emu.line(0.3, 0.1)
    sample = tegrastats.parse_line(line, strict=True)
    assert sample.gpu_load_percent == 30 and not sample.gpc_freqs_mhz
    assert "IRAM" not in line and "APE" not in line
    if l4t_release.startswith("36"):
        assert "EMC_FREQ" not in line  # as fixtures/data/real/r36.4.7/tegrastats_nonroot.txt
    else:
        assert sample.emc_load_percent is not None and sample.emc_freq_mhz is None  # R32/R35: `EMC_FREQ 9%`
    found = module_from_tegrastats(len(sample.cpus), sample.ram_total_mb, set(sample.rails))
    assert found is None or found is l4t.MODULES[module]


def test_needs_root_only_while_the_fault_flag_exists(tmp_path: Path) -> None:
    emu = _emulator()
    flag = tmp_path / "jetson-hil.removed"
    module = {"family": "orin-nano", "l4t": "36.4.0", "needs_root_while": str(flag)}
    assert not emu.needs_root(module)
    flag.touch()
    assert emu.needs_root(module)
    assert emu.needs_root({"needs_root": True}) and not emu.needs_root({})


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root, setpriv and a system python3 to run the emulator as nobody")
def test_nonroot_emulator_runs_and_prints_lines() -> None:
    """As a real one does for any user: no pid file under a root-only /run stops it."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        (base / "module.json").write_text('{"family": "orin-agx", "l4t": "36.4.7"}')
        (base / "module.json").chmod(0o644)
        locked = base / "run"
        locked.mkdir(mode=0o700)
        env = {"JETSON_SIM_MODULE_FILE": str(base / "module.json"), "JETSON_SIM_GPU_DIR": str(base / "gpu"),
               "JETSON_SIM_TEGRASTATS_PIDS": str(locked / "tegrastats.pids"), "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "timeout", "-s", "INT",
                               "3", "/usr/bin/python3", str(EMULATOR), "--interval", "500"],
                              capture_output=True, text=True, env=env, timeout=60)
    lines = proc.stdout.splitlines()
    assert lines and "Traceback" not in proc.stderr, proc.stderr
    sample = tegrastats.parse_line(lines[0], strict=True)
    assert sample.gpu_load_percent is not None and not sample.gpc_freqs_mhz and "EMC_FREQ" not in lines[0]


def test_cuda_version_json_has_the_real_layout() -> None:
    (text,) = jetson_release.Release("36.4.0", "orin-nano").cuda_version_files().values()
    assert text.splitlines()[:3] == ["{", '   "cuda" : {', '      "name" : "CUDA SDK",']
    assert parse_cuda_version(text) == "12.6.68"
