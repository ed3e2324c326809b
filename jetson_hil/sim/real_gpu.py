"""The host's real NVIDIA GPU, for a simulator whose agents compute on it instead of on the simulated one.

On a host with an NVIDIA GPU (driver loaded: ``/dev/nvidiactl`` and ``libcuda.so.1``) ``sim up --gpu auto`` (the
default) gives the agents that GPU: the simulator's container runtime injects its device nodes and driver
libraries (as the NVIDIA Container Toolkit does), the simulated CUDA steps aside (its ``sitecustomize`` sees
``/dev/nvidiactl``), and torch is the host's own (a CUDA build, or the agents fall back as a real one would).
Only the Jetson surface stays simulated (release files, dpkg, tegrastats' format); GPU load and the GPU's users
come from NVML through :mod:`jetson_hil.sim.nvml_clients`. Faults that simulate the GPU driver need the
simulated GPU and are refused on a real one.

The injection spec lives in ``<sim root>/gpu/real.json``; its absence means the simulated GPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

MODES = ("auto", "real", "simulated")
NODE = re.compile(r"^nvidia(ctl|\d+|-uvm|-uvm-tools|-modeset)$")
LIBCUDA = "libcuda.so.1"
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64",
            "/usr/local/nvidia/lib")
SPEC = "real.json"


@dataclass(frozen=True)
class Node:
    path: str
    major: int
    minor: int
    mode: int = 0o666


@dataclass
class RealGpu:
    """What the runtime injects: the GPU's device nodes and where the driver's libraries are."""

    nodes: list[Node]
    lib_dirs: list[str]
    name: str = ""
    driver: str = ""

    def describe(self) -> str:
        what = self.name or "an NVIDIA GPU"
        return f"{what}, driver {self.driver}" if self.driver else what


def device_nodes(dev: str = "/dev") -> list[Node]:
    """The NVIDIA character devices under ``dev`` (nvidiactl, nvidia0.., nvidia-uvm, ...), sorted by name."""
    nodes = []
    try:
        names = sorted(os.listdir(dev))
    except OSError:
        return []
    for name in names:
        if not NODE.match(name):
            continue
        path = os.path.join(dev, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode):
            nodes.append(Node(path, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode) or 0o666))
    return nodes


def parse_ldconfig(text: str, soname: str = LIBCUDA) -> list[str]:
    """Directories of ``soname`` in ``ldconfig -p`` output (``\\tlibcuda.so.1 (libc6,x86-64) => /path``).

    >>> parse_ldconfig("\\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\\n")
    ['/usr/lib/x86_64-linux-gnu']
    """
    dirs = []
    for line in text.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ", 1)[0] == soname and path:
            d = os.path.dirname(path.strip())
            if d not in dirs:
                dirs.append(d)
    return dirs


def driver_lib_dirs(env: dict[str, str] | None = None) -> list[str]:
    """Where ``libcuda.so.1`` is: ``LD_LIBRARY_PATH`` first (e.g. /usr/local/nvidia/lib64 in CUDA images), then
    the linker cache, then the usual directories. Empty when the driver's user-space library is absent."""
    env = os.environ if env is None else env
    candidates = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    candidates += parse_ldconfig(out) + list(LIB_DIRS)
    found: list[str] = []
    for d in candidates:
        if d not in found and os.path.exists(os.path.join(d, LIBCUDA)):
            found.append(d)
    return found


def _smi_identity() -> tuple[str, str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "", ""
    try:
        out = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader", "-i", "0"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return "", ""
    name, _, driver = out.stdout.strip().partition(",")
    return (name.strip(), driver.strip()) if out.returncode == 0 else ("", "")


def find(dev: str = "/dev", env: dict[str, str] | None = None) -> RealGpu | None:
    """The host's NVIDIA GPU, or None: it needs the control node, a GPU node and the driver's libcuda."""
    nodes = device_nodes(dev)
    names = {os.path.basename(n.path) for n in nodes}
    if "nvidiactl" not in names or not any(re.fullmatch(r"nvidia\d+", n) for n in names):
        return None
    libs = driver_lib_dirs(env)
    if not libs:
        return None
    name, driver = _smi_identity()
    return RealGpu(nodes, libs, name, driver)


def choose(mode: str, found: RealGpu | None, kind: str) -> RealGpu | None:
    """The GPU the agents get: the host's for ``real`` (an error without one), for ``auto`` when there is one on a
    Jetson-kind simulator; the simulated one otherwise. The dGPU simulator's driver is itself simulated (its
    faults are driver states), so it keeps the simulated GPU unless ``real`` is asked for, which it refuses."""
    if mode not in MODES:
        raise ValueError(f"--gpu {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "simulated":
        return None
    if kind != "jetson":
        if mode == "real":
            raise ValueError(f"--gpu real: the {kind} simulator's driver and nvidia-smi are simulated; "
                             "use --gpu simulated (or a Jetson-kind simulator)")
        return None
    if mode == "real" and found is None:
        raise ValueError("--gpu real: this host has no usable NVIDIA GPU (needs /dev/nvidiactl, /dev/nvidia0 and "
                         "the driver's libcuda.so.1); use --gpu auto or simulated")
    return found


def write_spec(gpu_dir: Path, gpu: RealGpu | None) -> None:
    """Tell the runtime what to inject (or, with None, to keep the simulated GPU)."""
    path = gpu_dir / SPEC
    if gpu is None:
        path.unlink(missing_ok=True)
        return
    gpu_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(gpu), indent=2))


def read_spec(gpu_dir: Path) -> RealGpu | None:
    try:
        data = json.loads((gpu_dir / SPEC).read_text())
        return RealGpu([Node(**n) for n in data["nodes"]], list(data["lib_dirs"]), data.get("name", ""),
                       data.get("driver", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
