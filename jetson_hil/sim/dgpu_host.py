"""The simulated discrete-GPU host (`jetson-hil sim up --kind dgpu`): an x86 server with one NVIDIA H200.

What differs from the simulated Jetson is only the host surface the suite reads: no /etc/nv_tegra_release, no
nvidia-l4t-* packages and no tegrastats, but the NVIDIA driver's user-space packages (``nvidia-utils-580``
with an ``nvidia-smi`` emulator, ``libnvidia-compute-580``), a CUDA toolkit in /usr/local/cuda and a GPU that
reports the H200's name, compute capability 9.0 and the driver's CUDA version. The figures are the ones
captured on the real H200 (fixtures/data/real/h200/host_facts.txt). The agents are the same real PyTorch agents on
the simulated GPU, built FROM the NGC PyTorch image's tag (``nvcr.io/nvidia/pytorch:24.08-py3``: CUDA 12.6,
arch list up to sm_90), a local stand-in like every simulated image.

The kernel side cannot be simulated in a container: runc refuses any mount inside /proc, so the host has no
/proc/driver/nvidia/version and the driver check compares nvidia-smi's banner with each GPU's version only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .debs import build, install

KIND = "dgpu"
GPU = {
    "name": "NVIDIA H200",
    "capability": [9, 0],
    "total_memory": 143771 * 1024 * 1024,
    "multi_processor_count": 132,
    "pci_bus_id": "00000000:00:06.0",
    "uuid": "GPU-3f6b2a1e-8c2d-4e9a-b1f4-5d0c7e9a2b61",
    "power_limit_w": 700,
    "integrated": 0,
}
DRIVER = {"driver_version": "580.159.04", "driver_cuda": "13.0"}
# A production-branch driver two years older, still installed on many servers: its CUDA is below the
# container's (12.6) and the host toolkit's (12.8).
OLD_DRIVER = {"driver_version": "535.247.01", "driver_cuda": "12.2"}
TOOLKIT = "12.8.93"
NEWER_TOOLKIT = "13.1.80"  # a toolkit beyond the driver's CUDA 13.0 (an `apt install cuda-toolkit` too far)
IMAGE = "nvcr.io/nvidia/pytorch:24.08-py3"
# What torch in that NGC image is built for (its release notes: CUDA 12.6.0, cuDNN 9.3.0, the arch list).
IMAGE_FACTS = {
    "TORCH_VERSION": "2.5.0a0+872d972e41.nv24.08",
    "IMAGE_L4T": "",
    "TORCH_CUDA": "12.6",
    "TORCH_CUDNN": "90300",
    "TORCH_ARCH_LIST": "sm_52 sm_60 sm_61 sm_70 sm_72 sm_75 sm_80 sm_86 sm_87 sm_90",
}

# The dGPU faults (jetson_hil.sim.faults): the driver's state, read by nvidia-smi and by the simulated CUDA.
DRIVER_NOT_LOADED = "dgpu_driver_not_loaded"
DRIVER_MISMATCH = "dgpu_driver_library_mismatch"
DRIVER_TOO_OLD = "dgpu_driver_too_old"
MIG_NO_UTILISATION = "dgpu_mig_no_utilisation"
TOOLKIT_NEWER = "dgpu_toolkit_newer_than_driver"
FAULTS = (DRIVER_NOT_LOADED, DRIVER_MISMATCH, DRIVER_TOO_OLD, MIG_NO_UTILISATION, TOOLKIT_NEWER)


def packages() -> list[tuple[str, str, str, dict[str, str | tuple]]]:
    """(name, version, description, files) of the driver and CUDA packages `dpkg -l` lists on such a host."""
    driver = DRIVER["driver_version"]
    major = driver.split(".")[0]
    short = ".".join(TOOLKIT.split(".")[:2])
    cmaj, cmin = short.split(".")
    return [
        (f"nvidia-driver-{major}-server", f"{driver}-0ubuntu1", "NVIDIA driver metapackage", {}),
        (f"nvidia-utils-{major}-server", f"{driver}-0ubuntu1", "NVIDIA driver support binaries",
         {"usr/bin/nvidia-smi": "@nvidia-smi"}),
        (f"libnvidia-compute-{major}-server", f"{driver}-0ubuntu1", "NVIDIA libcompute package", {}),
        (f"cuda-toolkit-{cmaj}-{cmin}", f"{TOOLKIT}-1", "CUDA Toolkit meta-package",
         {**toolkit_files(TOOLKIT), "usr/local/cuda": (f"cuda-{short}",)}),
        ("nvidia-container-toolkit", "1.17.8-1", "NVIDIA Container toolkit", {}),
    ]


def toolkit_files(version: str) -> dict[str, str]:
    short = ".".join(version.split(".")[:2])
    return {f"usr/local/cuda-{short}/version.json": json.dumps({"cuda": {"name": "CUDA SDK", "version": version}},
                                                               indent=3)}


def device_state(faults: list[str]) -> dict:
    """The simulated GPU's device.json on a dGPU host: the H200 and the driver as the faults leave it."""
    return driver_state({"kind": KIND, **GPU, **DRIVER, "faults": faults}, faults)


def driver_state(data: dict, faults: list[str]) -> dict:
    """Puts the driver the faults call for into a device.json dict (`DRIVER_TOO_OLD`: the old one)."""
    data.update(OLD_DRIVER if DRIVER_TOO_OLD in faults else DRIVER)
    return data


def device_faults(cfg, active: set[str], log) -> bool:
    """The dGPU host's own faults: `TOOLKIT_NEWER` repoints /usr/local/cuda at a newer toolkit, as an install of
    the next CUDA release does (update-alternatives), or back. True when anything changed."""
    local = cfg.root / "rootfs" / "usr" / "local"
    short = ".".join(NEWER_TOOLKIT.split(".")[:2])
    link, aside, newer = local / "cuda", local / "cuda.installed", local / f"cuda-{short}"
    if TOOLKIT_NEWER in active and not aside.is_symlink() and link.is_symlink():
        log(f"installing a CUDA {short} toolkit as /usr/local/cuda")
        for rel, text in toolkit_files(NEWER_TOOLKIT).items():
            path = cfg.root / "rootfs" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        link.rename(aside)
        link.symlink_to(newer.name)
        return True
    if TOOLKIT_NEWER not in active and aside.is_symlink():
        aside.replace(link)
        shutil.rmtree(newer, ignore_errors=True)
        return True
    return False


def fault_conflict(kind: str, fault: str, fault_kind: str) -> str | None:
    """Why a fault cannot be set on a simulator of this kind, or None: dGPU faults need the dGPU host; the
    Jetson host's own faults (release file, JetPack packages, tegrastats) need a Jetson."""
    if fault in FAULTS and kind != KIND:
        return f"fault {fault!r} needs a discrete-GPU simulator (`jetson-hil sim up --kind dgpu`)"
    jetson_host = fault_kind == "device" and fault not in FAULTS and fault in JETSON_HOST_FAULTS
    if kind == KIND and jetson_host:
        return f"fault {fault!r} changes a Jetson's host (L4T, JetPack, tegrastats); this simulator is a dGPU host"
    return None


JETSON_HOST_FAULTS = frozenset({
    "tegra_release_missing", "l4t_partial_upgrade", "unknown_l4t_release", "cuda_toolkit_mismatch",
    "compute_packages_missing", "mixed_jetpack_packages", "tegrastats_needs_root", "tegrastats_missing",
    "jetpack_package_missing", "custom_carrier_minimal_image", "host_torch_cuda_too_new", "host_pip_torch",
})


def emulator_source(python: Path) -> str:
    """The nvidia-smi emulator's text with its shebang pointing at this machine's Python."""
    from .paths import PACKAGE_DIR

    return (PACKAGE_DIR / "device" / "nvidia-smi").read_text().replace(
        "#!/usr/bin/env python3", f"#!{python}", 1)


def install_packages(cfg, root: Path) -> None:
    """The driver and CUDA packages, built as .deb files and installed with the real dpkg (once per sources)."""
    import hashlib
    import sys

    smi = emulator_source(Path(sys.base_prefix) / "bin" / "python3")
    pkgs = packages()
    stamp = cfg.root / "debs" / ".sources"
    digest = hashlib.sha256((smi + repr(pkgs)).encode()).hexdigest()[:16]
    status = root / "var/lib/dpkg/status"
    if "Package: nvidia-utils-" in status.read_text() and stamp.exists() and stamp.read_text() == digest:
        return
    store = cfg.root / "debs"
    if store.exists():
        shutil.rmtree(store)
    store.mkdir()
    debs = []
    for name, version, description, files in pkgs:
        files = {rel: smi if text == "@nvidia-smi" else text for rel, text in files.items()}
        debs.append(build(store, name, version, description, files, arch="amd64"))
    install(root, *debs)
    stamp.write_text(digest)
