"""scripts/bootstrap.sh installs the runner only where the target is a real device, and the simulator's packages
only where a simulator is the target: the decision (scripts/install_mode.py) on fake machines, and bootstrap's
branches run against fake apt-get, dpkg-query and pip that only record what they were asked (nothing installed)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("install_mode", ROOT / "scripts" / "install_mode.py")
install_mode = importlib.util.module_from_spec(_spec)
sys.modules["install_mode"] = install_mode
_spec.loader.exec_module(install_mode)

PLAIN = install_mode.Machine(jetson=False, dgpu=False)
JETSON = install_mode.Machine(jetson=True, dgpu=False)
DGPU = install_mode.Machine(jetson=False, dgpu=True)


def _mode(args=(), env=None, machine=PLAIN) -> str:
    return install_mode.decide(list(args), env or {}, machine).mode


def test_the_machine_decides_when_no_target_is_named():
    assert _mode(machine=JETSON) == "runner"
    assert _mode(machine=DGPU) == "runner"
    assert _mode(machine=install_mode.Machine(jetson=True, dgpu=True)) == "runner"
    assert _mode(machine=PLAIN) == "dev"


def test_a_named_real_device_means_the_runner_only(tmp_path):
    real = tmp_path / "orin.toml"
    real.write_text('[device]\nname = "orin"\nhost = "ssh://jetson@orin"\n')
    assert _mode(["--device", str(real)]) == "runner"
    assert _mode([f"--device={real}", "-k", "task1"]) == "runner"
    assert _mode(["--device", "local"]) == "runner"
    assert _mode(["--inventory", "fleet.ini"]) == "runner"
    assert _mode(["--hosts=ssh://jetson@orin"]) == "runner"
    assert _mode(env={"JETSON_HIL_DEVICE": str(real)}) == "runner"
    assert _mode(["--device", str(tmp_path / "missing.toml")]) == "runner"


def test_a_simulator_the_run_starts_means_the_simulator(tmp_path):
    sim_profile = tmp_path / "device-ssh.toml"  # a running simulator's profile: reached like any device
    sim_profile.write_text('[device]\nname = "s-ssh"\nsimulator = "s"\n\n[compose]\ncommand = "docker-compose"\n')
    assert _mode(["--device", "sim"], machine=JETSON) == "dev"
    assert _mode(["--device=sim:h2"], machine=DGPU) == "dev"
    assert _mode(["--device", str(sim_profile)]) == "runner"
    assert _mode(env={"JETSON_HIL_DEVICE": "sim:x"}) == "dev"
    assert _mode(["--device", "local", "--device", "sim:x"]) == "dev"


def test_the_choice_is_explicit_and_overridable():
    assert _mode(env={"JETSON_HIL_INSTALL": "runner"}) == "runner"
    assert _mode(["--device", "sim"], env={"JETSON_HIL_INSTALL": "runner"}) == "runner"
    assert _mode(env={"JETSON_HIL_INSTALL": "dev"}, machine=JETSON) == "dev"
    assert _mode(env={"JETSON_HIL_INSTALL": "sim"}, machine=DGPU) == "sim"
    with pytest.raises(ValueError, match="must be one of runner, sim, dev"):
        _mode(env={"JETSON_HIL_INSTALL": "all"})


def test_a_runner_only_venv_refuses_a_run_that_needs_the_simulator():
    assert install_mode.refusal("runner", [], {}, DGPU).startswith("jetson-hil: this .venv holds the runner only")
    assert install_mode.refusal("runner", ["--device", "sim:x"], {}, JETSON) is not None
    assert install_mode.refusal("runner", [], {}, JETSON) is None
    assert install_mode.refusal("runner", ["--device", "local"], {}, PLAIN) is None
    assert install_mode.refusal("dev", [], {}, DGPU) is None


def _fake_machine(tmp_path: Path, jetson: bool = False, dgpu: bool = False) -> Path:
    root = tmp_path / "machine"
    (root / "etc").mkdir(parents=True)
    if jetson:
        (root / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.3\n")
    if dgpu:
        (root / "proc" / "driver" / "nvidia").mkdir(parents=True)
        (root / "proc" / "driver" / "nvidia" / "version").write_text("NVRM version: 550.54.15\n")
    return root


def _bootstrap(tmp_path: Path, machine: Path, *args: str, **env: str) -> tuple[str, str]:
    """Runs a copy of bootstrap.sh in a scratch checkout whose .venv/bin/python, apt-get and dpkg-query only
    log their arguments; returns (the log, bootstrap's stderr)."""
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    for name in ("bootstrap.sh", "install_mode.py"):
        (work / "scripts" / name).write_bytes((ROOT / "scripts" / name).read_bytes())
    (work / "scripts" / "bootstrap.sh").chmod(0o755)
    (work / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    log = tmp_path / "calls.log"
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for tool, status in (("apt-get", 0), ("dpkg-query", 1)):  # dpkg-query: no package is installed
        (fakes / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit {status}\n')
        (fakes / tool).chmod(0o755)
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / ".venv" / "bin" / "python").write_text(f'#!/bin/sh\necho "venv-python $*" >> {log}\n')
    (work / ".venv" / "bin" / "python").chmod(0o755)
    proc = subprocess.run(
        ["scripts/bootstrap.sh", *args], cwd=work, capture_output=True, text=True, timeout=60,
        env={"PATH": f"{fakes}:/usr/bin:/bin", "PYTHON": sys.executable, "JETSON_HIL_PROBE_ROOT": str(machine), **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return (log.read_text() if log.exists() else ""), proc.stderr


def test_bootstrap_on_a_jetson_touches_nothing_outside_the_venv(tmp_path):
    calls, said = _bootstrap(tmp_path, _fake_machine(tmp_path, jetson=True))
    assert "apt-get" not in calls and "dpkg-query" not in calls, calls
    assert "venv-python -m pip install -q -e ." in calls.splitlines(), calls
    assert "[sim" not in calls and "this machine is a Jetson" in said
    stamp = (tmp_path / "checkout" / ".venv" / ".jetson-hil-deps").read_text().split()
    assert stamp[1] == "runner"


def test_bootstrap_with_a_real_device_profile_on_a_dev_machine_is_runner_only(tmp_path):
    profile = tmp_path / "orin.toml"
    profile.write_text('[device]\nname = "orin"\nhost = "ssh://jetson@orin"\n')
    calls, _ = _bootstrap(tmp_path, _fake_machine(tmp_path), "--device", str(profile), "-x")
    assert "apt-get" not in calls and "[sim" not in calls, calls


def test_bootstrap_for_the_simulator_installs_its_packages(tmp_path):
    calls, _ = _bootstrap(tmp_path, _fake_machine(tmp_path))
    assert "venv-python -m pip install -q -e .[sim,dev]" in calls.splitlines(), calls
    if os.geteuid() == 0:
        assert "apt-get install -y -qq --no-install-recommends docker.io" in calls and "mosquitto" in calls


def test_bootstrap_decide_prints_the_choice_and_installs_nothing(tmp_path):
    calls, _ = _bootstrap(tmp_path, _fake_machine(tmp_path, dgpu=True), "--decide")
    assert calls == ""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap.sh"), "--decide", "--runner-only"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "JETSON_HIL_PROBE_ROOT": str(_fake_machine(tmp_path / "m2"))},
    )  # fmt: skip
    assert proc.stdout.startswith("runner: asked for"), proc.stdout + proc.stderr
