"""What a Jetson of a given module and L4T release carries: release file, packages, CUDA files.

Which packages and which series come from the knowledge tables in `jetson_hil.l4t`; the exact versions (build
numbers, Debian revisions, nvidia-l4t-core's build stamp, JetPack's meta-package build) and the package names a
real device lists (JetPack's meta-packages, cuda-nvcc, nvidia-l4t-kernel) come from the real captures in
fixtures/data/real (`jetson_hil.replay`) where they hold them. GCIDs and dates are the real ones where the facts
file quotes a release line, otherwise made up in the same form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jetson_hil import l4t
from jetson_hil.replay import REAL, body, capture_sets

# First lines of /etc/nv_tegra_release as quoted in the facts (section 2).
KNOWN_LINES = {
    "32.7.1": ("29689809", "t186ref", "Wed Feb  2 21:33:23 UTC 2022"),
    "32.7.4": ("33514132", "t210ref", "Fri Jun  9 04:25:08 UTC 2023"),
    "32.7.6": ("38171779", "t210ref", "Tue Nov  5 07:46:14 UTC 2024"),
    "35.1.0": ("31346300", "t186ref", "Thu Aug 25 18:41:45 UTC 2022"),
    "35.2.1": ("32398013", "t186ref", "Sun Jan 22 03:18:23 UTC 2023"),
    "35.3.1": ("32790763", "t186ref", "Wed Mar 15 07:54:12 UTC 2023"),
    "35.4.1": ("33958178", "t186ref", "Tue Aug  1 19:57:35 UTC 2023"),
    "36.3.0": ("36923193", "generic", "Fri Jul 19 23:24:25 UTC 2024"),
    "36.4.0": ("37537400", "generic", "Fri Sep 13 04:36:44 UTC 2024"),
    "36.4.3": ("38968081", "generic", "Wed Jan  8 01:49:37 UTC 2025"),
    "36.4.4": ("41062509", "generic", "Mon Jun 16 16:07:13 UTC 2025"),
    "36.5.0": ("43688277", "generic", "Fri Jan 16 03:50:45 UTC 2026"),
    "38.4.0": ("43443517", "generic", "Wed Dec 31 00:15:19 UTC 2025"),
}

# The l4t-pytorch image a user would pick for each L4T line (facts section 4).
PYTORCH_IMAGES = {
    32: "nvcr.io/nvidia/l4t-pytorch:r32.7.1-pth1.10-py3",
    34: "nvcr.io/nvidia/l4t-pytorch:r34.1.1-pth1.12-py3",
    35: "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3",
    36: "dustynv/l4t-pytorch:r36.4.0",
    38: "dustynv/pytorch:2.8-r36.4.4-cu128-24.04",
}
PYTORCH_IMAGE_R36_EARLY = "dustynv/l4t-pytorch:r36.2.0"
# l4t-base carries no CUDA libraries since r34 (facts section 4): torch in it finds no cuDNN.
L4T_BASE_IMAGES = ("nvcr.io/nvidia/l4t-base:r36.4.0",)


# JetPack's meta-packages as real devices list them (fixtures/data/real/r36.4.7/packages.txt, r32.5's apt show),
# versioned like nvidia-jetpack.
META_PACKAGES = ("nvidia-jetpack-runtime", "nvidia-jetpack-dev", "nvidia-cuda", "nvidia-tensorrt")
# The kernel each L4T line ships, from the captures' uname and package lines (r32.7.4/dpkg_l.txt,
# r36.3.0/apt_list_l4t.txt, r36.4.3/jetson_release.txt, r36.5.0/measured_orin_nano_super.txt,
# r38.4.0/environment_table.txt).
KERNELS = {(32, 7): "4.9.337", (36, 3): "5.15.136", (36, 4): "5.15.148", (36, 5): "5.15.185", (38, 4): "6.8.12"}
# nvidia-l4t-core's build stamp when no capture of that exact release gives one (the simulator's own).
DEFAULT_STAMP = "20240912212859"
# The device tree's model string per module, from real captures (under fixtures/data/real), by the L4T major it was
# captured on: the string changed between JetPack 5 and 6 on some modules ("NVIDIA Orin Nano Developer Kit" on R35,
# "NVIDIA Jetson Orin Nano Developer Kit" on R36).
MODEL_CAPTURES = {
    "orin-agx": ((36, "r36.4.7/device_tree_model.txt"),),
    "orin-nano": ((35, "modules/device_tree_model_orin_nano_r35.txt"),
                  (36, "modules/device_tree_model_orin_nano_r36.txt")),
    "orin-nx": ((36, "modules/device_tree_model_orin_nx.txt"),),
    "xavier-nx": ((35, "modules/device_tree_model_xavier_nx.txt"),),
    "nano": ((32, "modules/device_tree_model_nano.txt"),),
    "thor": ((38, "modules/device_tree_model_thor.txt"),),
}
# CUDA's name of the module's GPU (what torch.cuda.get_device_name() returns; nvidia-smi says 'Orin (nvgpu)'), from
# a real capture and the pattern that finds it there. Modules without one keep the table's name (l4t.MODULES).
CUDA_NAME_CAPTURES = {
    "orin-agx": ("r36.5.0/container_device_name.txt", r"device named `([^`]+)`"),
    "orin-nx": ("r36.5.0/container_device_name.txt", r"device named `([^`]+)`"),
    "orin-nano": ("r36.5.0/container_device_name.txt", r"device named `([^`]+)`"),
    "nano": ("modules/cuda_device_name_nano.txt", r'Device 0: "([^"]+)"'),
}


def _capture(rel: str, root: Path = REAL) -> str | None:
    """A corpus file's captured text (header lines dropped), or None where the corpus is not shipped."""
    path = root / rel
    return body(path) if path.is_file() else None


def device_tree_model(module: str, major: int) -> str | None:
    """/proc/device-tree/model's exact bytes on a real `module` at L4T `major` (a NUL-terminated string, no
    newline), from the capture of the nearest L4T major; None when no capture names the module."""
    captures = sorted(MODEL_CAPTURES.get(module, ()), key=lambda c: (abs(c[0] - major), -c[0]))
    for _major, rel in captures:
        text = _capture(rel)
        if text and text.strip():
            return text.strip() + "\0"
    return None


def cuda_device_name(module: str) -> str:
    """CUDA's name of the module's GPU as a real device reports it (the table's name where no capture has it)."""
    if found := CUDA_NAME_CAPTURES.get(module):
        text = _capture(found[0])
        if text and (m := re.search(found[1], text)):
            return m.group(1)
    return l4t.MODULES[module].gpu_name


@cache
def real_packages() -> tuple[tuple[str, str, str], ...]:
    """(package, version, L4T release) of every installed package the real captures list, with their set's L4T."""
    out = []
    for captures in capture_sets():
        release = captures.observed().l4t
        for p in captures.packages:
            if p.installed and p.version and release:
                out.append((p.name, p.version, release))
        core = captures.read("l4t_core")
        if core and release:
            out.append(("nvidia-l4t-core", core.split("nvidia-l4t-core")[-1].strip(), release))
        jetpack = captures.read("jetpack")
        if jetpack and release and any(c in jetpack for c in "+-"):
            out.append(("nvidia-jetpack", jetpack, release))
    return tuple(out)


@dataclass(frozen=True)
class Release:
    version: str
    module: str

    @property
    def parsed(self):
        return l4t.parse_version(self.version)

    @property
    def stack(self):
        return l4t.stack_for(self.parsed)

    @property
    def jetpack(self) -> str:
        return l4t.jetpack_for(self.parsed) or "unknown"

    def release_file(self) -> str:
        v = self.parsed
        gcid, board, date = KNOWN_LINES.get(self.version, ("40000000", "generic" if v.major >= 36 else "t186ref",
                                                          "Mon Jan  1 00:00:00 UTC 2024"))
        line = (f"# R{v.major} (release), REVISION: {v.minor}.{v.patch}, GCID: {gcid}, BOARD: {board}, "
                f"EABI: aarch64, DATE: {date}\n")
        if v.major >= 36:
            line += ("# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
                     "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n")
        return line

    def device_tree_model(self) -> str | None:
        return device_tree_model(self.module, self.parsed.major)

    def pytorch_image(self) -> str:
        v = self.parsed
        if v.major == 36 and v.minor < 4:
            return PYTORCH_IMAGE_R36_EARLY
        return PYTORCH_IMAGES.get(v.major, PYTORCH_IMAGES[36])

    def cuda_version_files(self) -> dict[str, str]:
        """Paths under /usr/local/cuda-X.Y -> content: version.txt before JetPack 5, version.json after."""
        cuda = self.stack.cuda if self.stack and self.stack.cuda else "10.2"
        short = ".".join(cuda.split(".")[:2])
        full = cuda if cuda.count(".") >= 2 else f"{short}.{'300' if short == '10.2' else '68'}"
        base = f"usr/local/cuda-{short}"
        if self.parsed.major < 34:
            return {f"{base}/version.txt": f"CUDA Version {full}\n"}
        # the real files' layout (3-space indent, `"key" : value`; e.g. a CUDA 11.5 x86 file quoted in code index id
        # 36014572929); only the SDK entry, since no real Jetson file was found to copy the others from
        text = json.dumps({"cuda": {"name": "CUDA SDK", "version": full}}, indent=3, separators=(",", " : "))
        return {f"{base}/version.json": text}

    def _real(self, name: str, series: str | None = None, same_release: bool = False) -> str | None:
        """A real device's version of `name`: from a capture of this very release when `same_release`, else from
        any capture whose version is of `series` (the table's component version); None when no capture has one."""
        for pkg, version, release in real_packages():
            if pkg != name:
                continue
            if same_release and release == self.version:
                return version
            if not same_release and series and version.split(":")[-1].startswith(series + "."):
                return version
        return None

    def packages(self) -> list[tuple[str, str, str]]:
        """(name, version, description) of the JetPack packages `dpkg -l` lists on such a device."""
        v, stack = self.parsed, self.stack
        core = self._real("nvidia-l4t-core", same_release=True) or f"{v.major}.{v.minor}.{v.patch}-{DEFAULT_STAMP}"
        jetpack = self._real("nvidia-jetpack", same_release=True) or f"{self.jetpack}+b123"
        cuda = stack.cuda if stack and stack.cuda else "10.2"
        cmaj, cmin = cuda.split(".")[:2]
        nvcc = self._real(f"cuda-nvcc-{cmaj}-{cmin}", f"{cmaj}.{cmin}") or f"{cuda}-1"
        pkgs = [
            ("nvidia-l4t-core", core, "NVIDIA Core Package"),
            ("nvidia-l4t-tools", core, "NVIDIA Public Test Tools Package"),
            ("nvidia-l4t-cuda", core, "NVIDIA CUDA Package"),
            ("nvidia-jetpack", jetpack, "NVIDIA Jetpack Meta Package"),
            *((name, jetpack, "NVIDIA Jetpack Meta Package") for name in META_PACKAGES),
            (f"cuda-toolkit-{cmaj}-{cmin}", self._real(f"cuda-toolkit-{cmaj}-{cmin}", f"{cmaj}.{cmin}") or f"{cuda}-1",
             f"CUDA Toolkit {cmaj}.{cmin} meta-package"),
            (f"cuda-runtime-{cmaj}-{cmin}", f"{cuda}-1", "CUDA Runtime native Meta-package"),
            (f"cuda-nvcc-{cmaj}-{cmin}", nvcc, "CUDA nvcc"),
            ("nvidia-container-toolkit", "1.16.2-1", "NVIDIA Container toolkit"),
        ]
        if kernel := KERNELS.get((v.major, v.minor)):
            pkgs.append(("nvidia-l4t-kernel", f"{kernel}-tegra-{core}", "NVIDIA Kernel Package"))
        if stack and stack.cudnn:
            cudnn_major = stack.cudnn.split(".")[0]
            name = f"libcudnn{cudnn_major}-cuda-{cmaj}" if int(cudnn_major) >= 9 else f"libcudnn{cudnn_major}"
            version = self._real(name, stack.cudnn) or f"{stack.cudnn}.0-1+cuda{cmaj}.{cmin}"
            pkgs.append((name, version, "cuDNN runtime libraries"))
        if stack and stack.tensorrt:
            trt = stack.tensorrt
            runtime = f"libnvinfer{trt.split('.')[0]}"
            pkgs.append(("tensorrt", self._real("tensorrt", trt) or f"{trt}.0-1+cuda{cmaj}.{cmin}",
                         "Meta package of TensorRT"))
            pkgs.append((runtime, self._real(runtime, trt) or f"{trt}.0-1+cuda{cmaj}.{cmin}",
                         "TensorRT runtime libraries"))
        return pkgs
