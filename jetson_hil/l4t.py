"""L4T releases, the JetPack / compute-stack tables, Jetson modules and container-image compatibility.

Everything here is data from the project's Jetson facts (jetson-facts.md sections 1.3, 2-4); each table
row names its source so a report can show where a verdict came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from jetson_hil.errors import ParseError

__all__ = [
    "COMPUTE_STACKS",
    "JETPACK_RELEASES",
    "MODULES",
    "Compatibility",
    "ComputeStack",
    "ImageRef",
    "JetPackRow",
    "L4TRelease",
    "Module",
    "ParseError",
    "container_compatible",
    "cuda_arch_for_module",
    "jetpack_for",
    "jetpack_row_for",
    "parse_dpkg_core_version",
    "parse_image_ref",
    "parse_release",
    "parse_version",
    "python_for",
    "stack_for",
    "ubuntu_for",
]

JETSON_CONTAINERS = "dusty-nv/jetson-containers jetson_containers/l4t_version.py"


# --------------------------------------------------------------------------------------------------------
# Releases


@dataclass(frozen=True, order=True)
class L4TRelease:
    """An L4T release; ordered and equal on (major, minor, patch) only, so a parsed file and a bare version
    compare as the same release.

    >>> str(parse_version("r36.4"))
    '36.4.0'
    """

    major: int
    minor: int
    patch: int = 0
    board: str | None = field(default=None, compare=False)
    gcid: str | None = field(default=None, compare=False)
    eabi: str | None = field(default=None, compare=False)
    date: str | None = field(default=None, compare=False)
    kernel_variant: str | None = field(default=None, compare=False)
    userspace_lib_dir: str | None = field(default=None, compare=False)
    userspace_lib_dir_path: str | None = field(default=None, compare=False)
    build: str | None = field(default=None, compare=False)
    extra: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def tag(self) -> str:
        """The form container tags use, e.g. 'r36.4.0'."""
        return f"r{self}"


ReleaseLike = L4TRelease | str

_VERSION = re.compile(r"[rR]?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?", re.ASCII)
_HEAD = re.compile(r"#?\s*R(\d{1,4})\s*\(release\)", re.ASCII)
_REVISION = re.compile(r"REVISION:\s*(\d{1,4})(?:\.(\d{1,4}))?", re.ASCII)
_FIELD = re.compile(r"([A-Z_]+):\s*(.*)", re.ASCII)
_KERNEL_VARIANT = re.compile(r"#\s*KERNEL_VARIANT:\s*(\S+)", re.ASCII)
_ASSIGN = re.compile(r"([A-Z_]+)=(\S*)", re.ASCII)
_DPKG = re.compile(
    r"(?:nvidia-l4t-core(?::[a-z0-9]{1,16})?\s+)?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-([0-9A-Za-z.+~]{1,64}))?", re.ASCII
)


def parse_version(text: str) -> L4TRelease:
    """'36.4.3', 'r36.4.3', 'R35.4' -> L4TRelease; a missing patch is 0, as jetson-containers reads it."""
    if not isinstance(text, str):
        raise TypeError(f"parse_version needs a str, got {type(text).__name__}")
    m = _VERSION.fullmatch(text.strip())
    if not m:
        raise ParseError("not an L4T version (expected e.g. '36.4.3' or 'r36.4.3')", text)
    return L4TRelease(int(m[1]), int(m[2]), int(m[3] or 0))


def parse_release(text: str) -> L4TRelease:
    """Read /etc/nv_tegra_release: the header line of R32 ... R39, plus the R36+ lines that follow it.

    Tolerates a missing leading '#' and a missing DATE (both seen in quotes of 38.2.0) and 'REVISION: 5'
    without a dot (R32.5). Lines after the header that are not known keys are kept in ``extra``.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_release needs a str, got {type(text).__name__}")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError("empty /etc/nv_tegra_release", text)
    parts = [part.strip() for part in lines[0].split(",")]
    head = _HEAD.fullmatch(parts[0])
    revision = _REVISION.fullmatch(parts[1]) if len(parts) > 1 else None
    if not head or not revision:
        raise ParseError(
            "not an /etc/nv_tegra_release header (expected '# R36 (release), REVISION: 4.0, ...')", lines[0]
        )
    fields: dict[str, str] = {}
    for part in parts[2:]:
        m = _FIELD.fullmatch(part)
        if not m:
            raise ParseError(f"unreadable field {part!r} in /etc/nv_tegra_release header", lines[0])
        fields[m[1]] = m[2].strip()
    kernel_variant = lib_dir = lib_dir_path = None
    extra: list[str] = []
    for line in lines[1:]:
        if m := _KERNEL_VARIANT.fullmatch(line):
            kernel_variant = m[1]
        elif (m := _ASSIGN.fullmatch(line)) and m[1] == "TARGET_USERSPACE_LIB_DIR":
            lib_dir = m[2]
        elif m and m[1] == "TARGET_USERSPACE_LIB_DIR_PATH":
            lib_dir_path = m[2]
        else:
            extra.append(line)
    return L4TRelease(
        major=int(head[1]),
        minor=int(revision[1]),
        patch=int(revision[2] or 0),
        board=fields.get("BOARD"),
        gcid=fields.get("GCID"),
        eabi=fields.get("EABI"),
        date=fields.get("DATE"),
        kernel_variant=kernel_variant,
        userspace_lib_dir=lib_dir,
        userspace_lib_dir_path=lib_dir_path,
        extra=tuple(extra),
    )


def parse_dpkg_core_version(text: str) -> L4TRelease:
    """`dpkg-query --show nvidia-l4t-core` ('36.4.4-20250616085344', with or without the package name, which
    dpkg-query prints with its architecture on a multi-arch system: 'nvidia-l4t-core:arm64\t36.4.4-...')."""
    if not isinstance(text, str):
        raise TypeError(f"parse_dpkg_core_version needs a str, got {type(text).__name__}")
    m = _DPKG.fullmatch(text.strip())
    if not m:
        raise ParseError(
            "not an nvidia-l4t-core package version (expected e.g. '36.4.4-20250616085344')", text
        )
    return L4TRelease(int(m[1]), int(m[2]), int(m[3]), build=m[4])


def _release(value: ReleaseLike) -> L4TRelease:
    if isinstance(value, L4TRelease):
        return value
    if isinstance(value, str):
        return parse_version(value)
    raise TypeError(f"expected an L4TRelease or a version string, got {type(value).__name__}")


# --------------------------------------------------------------------------------------------------------
# L4T -> JetPack (facts section 3)


@dataclass(frozen=True)
class JetPackRow:
    """One L4T release and the JetPack it belongs to; ``label`` keeps qualifiers such as 'GA' or 'DP'."""

    l4t: L4TRelease
    jetpack: str
    label: str | None
    source: str


def _jp(l4t: str, jetpack: str, label: str | None = None, source: str | None = None) -> JetPackRow:
    source = source or f"{JETSON_CONTAINERS} NVIDIA_JETPACK (2026-05)"
    return JetPackRow(parse_version(l4t), jetpack, label, source)


JETPACK_RELEASES: tuple[JetPackRow, ...] = (
    _jp("39.2.0", "7.2", source='rbonghi/jetson_stats PR #894 ("JetPack 7.2 / L4T R39.2"); NVIDIA\'s '
        "JetPack page links the r39.2 docs; jetson-containers lists 39.1.0 instead"),
    _jp("39.1.0", "7.2", "GA (Orin SBSA)"),
    _jp("39.0.0", "7.2", "EA"),
    _jp("38.4.0", "7.1", "T400 Support"),
    _jp("38.2.2", "7.0", "GA"),
    _jp("38.2.0", "7.0", "GA"),
    _jp("38.1.0", "7.0", "EA"),
    _jp("36.5.0", "6.2.2", source="real captures: nvidia-jetpack 6.2.2+b24 on L4T R36.5.0 devices "
        "(fixtures/data/real/r36.5.0); NVIDIA forum 'JetPack 6.2.2 (L4T R36.5.0)'; jetson-containers' NVIDIA_JETPACK "
        "(2026-05) says 6.2.1, which real devices contradict"),
    _jp("36.4.7", "6.2.1"),
    _jp("36.4.4", "6.2.1"),
    _jp("36.4.3", "6.2"),
    _jp("36.4.2", "6.1.1"),
    _jp("36.4.0", "6.1", "GA"),
    _jp("36.3.0", "6.0", "GA"),
    _jp("36.2.0", "6.0", "DP"),
    _jp("36.0.0", "6.0", "EA"),
    _jp("35.6.4", "5.1.6"),
    _jp("35.6.2", "5.1.5"),
    _jp("35.6.1", "5.1.5"),
    _jp("35.6.0", "5.1.4"),
    _jp("35.5.0", "5.1.3"),
    _jp("35.4.1", "5.1.2"),
    _jp("35.3.1", "5.1.1"),
    _jp("35.3.0", "5.1.1", "PRE"),
    _jp("35.2.1", "5.1"),
    _jp("35.1.0", "5.0.2", "GA"),
    _jp("34.1.1", "5.0.1", "DP"),
    _jp("34.1.0", "5.0", "DP"),
    _jp("32.7.6", "4.6.6"),
    _jp("32.7.5", "4.6.5"),
    _jp("32.7.4", "4.6.4"),
    _jp("32.7.3", "4.6.3"),
    _jp("32.7.2", "4.6.2"),
    _jp("32.7.1", "4.6.1"),
    _jp("32.6.1", "4.6"),
    _jp("32.5.2", "4.5.1"),
    _jp("32.5.1", "4.5.1"),
    _jp("32.5.0", "4.5"),
    _jp("32.4.4", "4.4.1"),
    _jp("32.4.3", "4.4"),
)
_JETPACK_BY_L4T = {row.l4t.version: row for row in JETPACK_RELEASES}


def jetpack_row_for(release: ReleaseLike) -> JetPackRow | None:
    """The table row for exactly this release (no guessing between rows), or None."""
    return _JETPACK_BY_L4T.get(_release(release).version)


def jetpack_for(release: ReleaseLike) -> str | None:
    """JetPack version ('6.2.1') for an L4T release, or None when the table does not list it."""
    row = jetpack_row_for(release)
    return row.jetpack if row else None


# --------------------------------------------------------------------------------------------------------
# JetPack -> CUDA / cuDNN / TensorRT (facts section 3)


@dataclass(frozen=True)
class ComputeStack:
    """The CUDA, cuDNN and TensorRT versions a JetPack ships; a component nobody published is None."""

    jetpack: str
    cuda: str | None
    cudnn: str | None
    tensorrt: str | None
    source: str
    l4t: tuple[str, ...] = ()

    def covers(self, release: L4TRelease) -> bool:
        """True when this row is for ``release``; 'N.x' matches the whole major line."""
        for pattern in self.l4t:
            if pattern.endswith(".x"):
                if release.major == int(pattern[:-2]):
                    return True
            elif parse_version(pattern).version == release.version:
                return True
        return False


_TIRYOH = "gist Tiryoh (from NVIDIA TF-Jetson release notes)"
_JP51X = "numbers for JetPack 5.1.3 not found"

COMPUTE_STACKS: tuple[ComputeStack, ...] = (
    ComputeStack("4.4.1 / 4.5 / 4.5.1", "10.2", "8.0", "7.1.3", _TIRYOH,
                 ("32.4.4", "32.5.0", "32.5.1", "32.5.2")),
    ComputeStack("4.6", "10.2", "8.2.1", "8.0.1", _TIRYOH, ("32.6.1",)),
    ComputeStack("4.6.1 / 4.6.2", "10.2", "8.2.1", "8.2.1",
                 f'{_TIRYOH}; developer.nvidia.com/jetpack-sdk-461 ("TensorRT 8.2, DLA 1.3.7, VPI 1.2")',
                 ("32.7.1", "32.7.2")),
    # The sources disagree between 8.2 and 8.2.1, so only the part both agree on is claimed.
    ComputeStack("4.6.3 / 4.6.4", "10.2", "8.2", "8.2",
                 "UWARG wiki (4.6.3); JP/L4T table code-index id 27243860172 (4.6.4); both say 8.2(.1)",
                 ("32.7.3", "32.7.4")),
    ComputeStack("5.0 DP / 5.0.1 DP", "11.4", None, None, "developer.nvidia.com/jetpack-sdk-50dp",
                 ("34.1.0", "34.1.1")),
    ComputeStack("5.0.2", "11.4", "8.4.1", "8.4.1", "developer.nvidia.com/embedded/jetpack-sdk-502",
                 ("35.1.0",)),
    ComputeStack("5.1", "11.4", "8.6.0", "8.5.2", "developer.nvidia.com/embedded/jetpack-sdk-51 (VPI 2.2)",
                 ("35.2.1",)),
    ComputeStack("5.1.1", "11.4", "8.6.0", "8.5.2", "developer.nvidia.com/embedded/jetpack-sdk-511",
                 ("35.3.1",)),
    ComputeStack("5.1.2", "11.4", "8.6.0", "8.5.2",
                 'developer.nvidia.com/embedded/jetpack-sdk-512 ("same compute stack as 5.1.1"); '
                 "CUDA 11.4.19 per edgehook/Jetson-AI-task table", ("35.4.1",)),
    ComputeStack("5.1.3", None, None, None, _JP51X, ("35.5.0",)),
    ComputeStack("5.1.4", "11.4", "8.6.0", "8.5.2",
                 "real capture: jetson_release on an Orin Nano at L4T 35.6.0 (CUDA 11.4.315, cuDNN 8.6.0.166, TensorRT "
                 "8.5.2.2; fixtures/data/real/r35.6.0); developer.nvidia.com/embedded/jetpack-sdk-514 (\"same compute "
                 'stack as JetPack 5.1.3")', ("35.6.0",)),
    ComputeStack("6.0", "12.2", "8.9", "8.6", "secondary table only (code-index id 27243860172)",
                 ("36.3.0",)),
    ComputeStack("6.1", "12.6", "9.3", "10.3", 'pytorch.org/TensorRT getting_started/jetpack ("DLFW 24.09")',
                 ("36.4.0",)),
    ComputeStack("6.2", "12.6", "9.3", "10.3",
                 "pytorch.org/TensorRT getting_started/jetpack (JP6.2 version); pytorch/TensorRT PR #3453",
                 ("36.4.3",)),
    ComputeStack("6.2.1 / 6.2.2", "12.6.10", "9.3.0", "10.3.0",
                 "code-index id 52340033935 (secondary); real captures at 36.4.7 (tensorrt 10.3.0.30, "
                 "/usr/local/cuda-12.6: fixtures/data/real/r36.4.7)",
                 ("36.4.4", "36.4.7", "36.5.0")),
    ComputeStack("7.0", "13.0", "9.12", "10.13",
                 "CUDA: jetson-containers + autowarefoundation/spconv_cpp PR #7 (release 13.0, V13.0.48); "
                 "cuDNN/TensorRT: jetson-containers defaults only", ("38.2.0", "38.2.2")),
    ComputeStack("7.1", "13.0", None, None,
                 "jetson-containers get_cuda_version default for L4T >= 38; no published JetPack 7.1 stack",
                 ("38.4.0",)),
    ComputeStack("7.2", "13.2", None, None, "jetson-containers get_cuda_version default for L4T >= 39",
                 ("39.x",)),
)


def stack_for(release: ReleaseLike) -> ComputeStack | None:
    """The compute stack of the JetPack this release belongs to, or None when no source gives one."""
    rel = _release(release)
    row = next((row for row in COMPUTE_STACKS if row.covers(rel)), None)
    if row is None:
        return None
    return replace(row, jetpack=jetpack_for(rel) or row.jetpack)


def ubuntu_for(release: ReleaseLike) -> str | None:
    """Ubuntu release of the L4T root filesystem (jetson-containers get_lsb_release)."""
    major = _release(release).major
    return {32: "18.04", 34: "20.04", 35: "20.04", 36: "22.04", 38: "24.04", 39: "24.04"}.get(major)


def python_for(release: ReleaseLike) -> str | None:
    """Default Python of that Ubuntu (jetson-containers DEFAULT_PYTHON_VERSIONS)."""
    ubuntu = ubuntu_for(release)
    return {"18.04": "3.6", "20.04": "3.8", "22.04": "3.10", "24.04": "3.12"}.get(ubuntu or "")


# --------------------------------------------------------------------------------------------------------
# Modules (facts 1.1, 1.3, 2, 3); the simulator builds its device from these.


@dataclass(frozen=True)
class Module:
    """What the suite and the simulator need to know about one Jetson module."""

    key: str
    name: str
    gpu_name: str
    cuda_capability: tuple[int, int]
    cpu_cores: int
    ram_mb: int
    gpc_count: int
    rails: tuple[str, ...]
    total_rail: str | None
    nv_tegra_release: str
    notes: str = ""

    @property
    def default_l4t(self) -> L4TRelease:
        return parse_release(self.nv_tegra_release)

    @property
    def cuda_arch(self) -> str:
        major, minor = self.cuda_capability
        return f"sm_{major}{minor}"


_NV_R36_4_0 = (
    "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Sep 13 04:36:44 UTC 2024\n"
    "# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\n"
    "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
)
_NV_R35_4_1 = (
    "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
    "DATE: Tue Aug  1 19:57:35 UTC 2023\n"
)
_NV_R32_7_4 = (
    "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, "
    "DATE: Fri Jun  9 04:25:08 UTC 2023\n"
)
_NV_R38_4_0 = (
    "# R38 (release), REVISION: 4.0, GCID: 43443517, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Dec 31 00:15:19 UTC 2025\n"
    "# KERNEL_VARIANT: oot\n"
)
_ORIN_SMALL_RAILS = ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")

# RAM totals are the tegrastats totals of the real captures in facts 1.1 (Orin NX: an assumption, ~15.3 GB per
# whisper.cpp #2809). GPU names: 'Orin (nvgpu)' is what nvidia-smi shows on R36.4 (facts 1.3); the others are
# assumptions (the names CUDA's deviceQuery is commonly quoted with), not verified captures.
MODULES: dict[str, Module] = {
    m.key: m
    for m in (
        Module("orin-agx", "Jetson AGX Orin 64GB", "Orin (nvgpu)", (8, 7), 12, 62841, 2,
               ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"), None, _NV_R36_4_0,
               "no total-board rail: VIN_SYS_5V0 is one module rail, so total power is the sum"),
        Module("orin-nx", "Jetson Orin NX 16GB", "Orin (nvgpu)", (8, 7), 8, 15656, 1,
               _ORIN_SMALL_RAILS, "VDD_IN", _NV_R36_4_0, "RAM total and one GPC are assumptions"),
        Module("orin-nano", "Jetson Orin Nano 8GB", "Orin (nvgpu)", (8, 7), 6, 7620, 1,
               _ORIN_SMALL_RAILS, "VDD_IN", _NV_R36_4_0),
        Module("xavier-nx", "Jetson Xavier NX", "Xavier", (7, 2), 6, 6851, 1,
               _ORIN_SMALL_RAILS, "VDD_IN", _NV_R35_4_1, "GPU name is an assumption"),
        Module("nano", "Jetson Nano 4GB", "NVIDIA Tegra X1", (5, 3), 4, 3964, 1,
               ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"), "POM_5V_IN", _NV_R32_7_4,
               "GPU name is an assumption"),
        Module("thor", "Jetson AGX Thor Developer Kit", "NVIDIA Thor", (11, 0), 14, 125773, 3,
               ("VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"), None, _NV_R38_4_0,
               "GPU name is an assumption; the facts name VIN as Thor's total-board rail but the real "
               "R38.4.0 line carries no VIN, so total power is the sum"),
    )
}


def cuda_arch_for_module(module: str | Module) -> str:
    """'orin-agx' -> 'sm_87': the SM a CUDA build must contain to run on that module."""
    if isinstance(module, Module):
        return module.cuda_arch
    try:
        return MODULES[module].cuda_arch
    except KeyError:
        raise KeyError(f"unknown Jetson module {module!r}; known: {', '.join(MODULES)}") from None


# --------------------------------------------------------------------------------------------------------
# Container images (facts section 4)


@dataclass(frozen=True)
class ImageRef:
    """A container image reference and what its tag says about the L4T, PyTorch and CUDA it targets."""

    registry: str | None
    repository: str
    tag: str | None
    digest: str | None
    l4t: L4TRelease | None
    torch: str | None
    cuda: str | None
    ubuntu: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


# Docker's reference grammar (distribution/reference), ASCII only.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::\d{{1,5}})?"
_IMAGE = re.compile(
    rf"(?:(?P<registry>{_DOMAIN})/)?(?P<repo>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII,
)
_TAG_L4T = re.compile(r"[rR](\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?", re.ASCII)
_TAG_PTH = re.compile(r"pth(\d{1,3}\.\d{1,3}(?:\.\d{1,3})?)", re.ASCII)
_TAG_PKGVER = re.compile(r"\d{1,3}\.\d{1,3}(?:\.\d{1,3})?", re.ASCII)
_TAG_CUDA = re.compile(r"cu(\d{2,4})", re.ASCII)
_TAG_UBUNTU = re.compile(r"\d{2}\.(?:04|10)", re.ASCII)


def _cuda_from_digits(digits: str) -> str:
    """'124' -> '12.4', '102' -> '10.2', '92' -> '9.2': CUDA majors from 10 on take two digits."""
    major_len = 1 if len(digits) == 2 else 2
    return f"{int(digits[:major_len])}.{int(digits[major_len:])}"


def parse_image_ref(ref: str) -> ImageRef:
    """Split an image reference and read its tag the way jetson-containers does.

    The L4T release is the first '-'/'_'-separated tag token of the form r<major>.<minor>[.<patch>]
    (jetson-containers l4t_version_from_tag; unlike it, a bare 'r2' is not taken as an L4T release).

    >>> str(parse_image_ref("dustynv/pytorch:2.1-r36.2.0").l4t)
    '36.2.0'
    """
    if not isinstance(ref, str):
        raise TypeError(f"parse_image_ref needs a str, got {type(ref).__name__}")
    m = _IMAGE.fullmatch(ref.strip())
    if not m:
        raise ParseError(
            "not a container image reference (expected e.g. 'nvcr.io/nvidia/l4t-base:r36.2.0')", ref
        )
    registry, repo, tag = m["registry"], m["repo"], m["tag"]
    if registry is not None and not ("." in registry or ":" in registry or registry == "localhost"):
        # Docker reads a first component without '.', ':' or 'localhost' as part of the repository.
        if not re.fullmatch(_COMPONENT, registry, re.ASCII):
            raise ParseError("not a container image reference (upper case in the repository name)", ref)
        repo, registry = f"{registry}/{repo}", None
    l4t = torch = cuda = ubuntu = None
    tokens = re.split(r"[-_]", tag) if tag else []
    for token in tokens:
        if l4t is None and (t := _TAG_L4T.fullmatch(token)):
            l4t = L4TRelease(int(t[1]), int(t[2]), int(t[3] or 0))
        elif torch is None and (t := _TAG_PTH.fullmatch(token)):
            torch = t[1]
        elif cuda is None and (t := _TAG_CUDA.fullmatch(token)):
            cuda = _cuda_from_digits(t[1])
        elif ubuntu is None and _TAG_UBUNTU.fullmatch(token):
            ubuntu = token
    if torch is None and repo.rsplit("/", 1)[-1] in ("pytorch", "l4t-pytorch") and tokens \
            and _TAG_PKGVER.fullmatch(tokens[0]):
        torch = tokens[0]
    return ImageRef(registry, repo, tag, m["digest"], l4t, torch, cuda, ubuntu)


# --------------------------------------------------------------------------------------------------------
# Host / container compatibility (jetson-containers l4t_version_compatible, facts section 4)


@dataclass(frozen=True)
class Compatibility:
    """A verdict and the one-line reason a report prints."""

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


_RULE = "(jetson-containers l4t_version_compatible)"


def container_compatible(host: ReleaseLike, container: ReleaseLike | ImageRef) -> Compatibility:
    """Can a host on ``host`` run a container built for ``container``?

    Mirrors jetson-containers' rule, with one deliberate narrowing: an R32.7+ host accepts only R32.7+
    containers of R32 (jetson-containers would also accept R34/R35 images, which cannot work on a JetPack 4
    host whose CUDA is mounted from the host).
    """
    h = _release(host)
    if isinstance(container, ImageRef):
        if container.l4t is None:
            return Compatibility(False, f"image {container} names no L4T release in its tag, so it cannot be "
                                        f"matched to the host's L4T {h} {_RULE}")
        c = container.l4t
    else:
        c = _release(container)

    def verdict(ok: bool, rule: str) -> Compatibility:
        joint = "and" if ok else "but"
        return Compatibility(ok, f"container targets L4T {c} {joint} the host runs {h}: {rule} {_RULE}")

    if h.major in (38, 39):
        return verdict(True, f"an R{h.major} host accepts any container")
    if h.major == 36:
        if c.major != 36:
            return verdict(False, "an R36 host needs an R36 container")
        same_side = (c.minor >= 4) == (h.minor >= 4)
        return verdict(same_side, "an R36 host needs an R36 container on the same side of 36.4 "
                                  "(both before 36.4 or both 36.4 and later)")
    if h.major in (34, 35):
        return verdict(c.major == h.major, f"an R{h.major} host needs an R{h.major} container")
    if h.major == 32 and h.minor >= 7:
        ok = c.major == 32 and c.minor >= 7
        return verdict(ok, "an R32.7+ host needs an R32 container at 32.7 or later")
    return verdict(c.version == h.version, "this host needs a container for exactly its L4T release")
