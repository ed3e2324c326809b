"""jetson_hil.sim.host_torch: which torch the simulated host's python3 gets, and the files that install it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from jetson_hil.sim import host_torch
from jetson_hil.sim.faults import FAULTS
from jetson_hil.sim.jetson_release import Release

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
needs_venv_torch = pytest.mark.skipif(host_torch.venv_site(VERSION) is None, reason="no torch in this virtualenv")


def test_the_faults_are_in_the_catalogue_and_win_over_the_option():
    assert {"host_torch_cuda_too_new", "host_pip_torch"} <= set(FAULTS)
    assert host_torch.wanted("jetson", ["host_torch_cuda_too_new"]) == host_torch.CUDA_TOO_NEW
    assert host_torch.wanted("", {"host_pip_torch"}) == host_torch.PIP
    assert host_torch.wanted("jetson", []) == host_torch.JETSON
    assert host_torch.wanted("", []) == host_torch.NONE


def test_build_facts_describe_the_jetson_wheel_a_newer_cuda_and_pip():
    release = Release("36.4.0", "orin-nano")
    jetson = host_torch.build_facts(host_torch.JETSON, release, "12.6")
    assert jetson["TORCH_CUDA"] == "12.6" and jetson["IMAGE_L4T"].startswith("36.4") and jetson["TORCH_CUDNN"]
    too_new = host_torch.build_facts(host_torch.CUDA_TOO_NEW, release, "12.6")
    assert too_new["TORCH_CUDA"] == "12.8" and too_new["TORCH_VERSION"] == host_torch.NEWER_TORCH
    pip = host_torch.build_facts(host_torch.PIP, release, "12.6", "2.9.1")
    assert pip == {"TORCH_VERSION": "2.9.1", "TORCH_CUDA": "", "TORCH_CUDNN": "", "TORCH_ARCH_LIST": "",
                   "IMAGE_L4T": ""}


@needs_venv_torch
def test_the_closure_holds_torch_and_its_requirements_without_extras():
    names = {d.metadata["Name"].lower() for d in host_torch.requirement_closure(host_torch.venv_site(VERSION))}
    assert {"torch", "filelock", "sympy", "mpmath", "jinja2", "markupsafe"} <= names
    assert "pyyaml" not in names  # only an extra of torch


def _cfg(tmp_path: Path) -> SimpleNamespace:
    state = tmp_path / "gpu" / "state"
    state.mkdir(parents=True)
    (state / "device.json").write_text(json.dumps({"driver_cuda": "12.6"}))
    return SimpleNamespace(root=tmp_path, release="36.4.0", module="orin-nano")


@needs_venv_torch
def test_apply_installs_links_the_shim_and_the_build_then_removes_them(tmp_path):
    cfg = _cfg(tmp_path)
    site = tmp_path / "rootfs" / "usr" / "local" / "lib" / f"python{VERSION}" / "dist-packages"
    site.mkdir(parents=True)
    (site / "someone_elses.py").write_text("")
    run = lambda command: f"{VERSION}\n"  # noqa: E731 - the device's python3 version
    assert host_torch.apply(cfg, host_torch.CUDA_TOO_NEW, run, log=lambda _m: None)
    assert (site / "torch").is_symlink() and (site / "torch" / "__init__.py").exists()
    assert (site / "jetson_sim_cuda.py").exists() and (site / host_torch.PTH).read_text().rstrip().endswith(
        f"import {host_torch.HOOK}")
    env = (tmp_path / "rootfs" / host_torch.ENV_FILE).read_text()
    assert "TORCH_CUDA=12.8\n" in env
    assert (tmp_path / "rootfs" / host_torch.DEV_DIR / "nvmap").exists()
    assert not any(p.name.endswith(".pth") and p.name != host_torch.PTH for p in site.iterdir())
    assert not host_torch.apply(cfg, host_torch.CUDA_TOO_NEW, run, log=lambda _m: None)  # idempotent
    assert host_torch.apply(cfg, host_torch.JETSON, run, log=lambda _m: None)  # the build changes in place
    assert "TORCH_CUDA=12.6\n" in (tmp_path / "rootfs" / host_torch.ENV_FILE).read_text()
    assert host_torch.apply(cfg, host_torch.NONE, run, log=lambda _m: None)
    assert sorted(p.name for p in site.iterdir()) == ["someone_elses.py"]
    assert not (tmp_path / "rootfs" / host_torch.ENV_FILE).exists()


def test_a_host_without_python3_cannot_get_torch(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(host_torch.HostTorchError, match="no python3"):
        host_torch.apply(cfg, host_torch.JETSON, lambda command: "", log=lambda _m: None)
    assert not host_torch.apply(cfg, host_torch.NONE, lambda command: "", log=lambda _m: None)
