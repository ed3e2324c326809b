"""Discrete-GPU hosts: what ``nvidia-smi`` says, whether the host is a dGPU or a Tegra, driver vs container CUDA.

A dGPU Linux host (an x86 server, a workstation) has no ``/etc/nv_tegra_release``, no L4T and no tegrastats; its
facts are the NVIDIA driver's version and the highest CUDA version that driver supports (``nvidia-smi``'s
header), and its telemetry comes from NVML (``tools/jetson/gpu_sampler.py`` prints it as tegrastats lines).
Pure functions over captured outputs:

>>> h = parse_smi_header("| NVIDIA-SMI 580.159.03   Driver Version: 580.159.03   CUDA Version: 13.0 |")
>>> h.driver_version, h.cuda_version
('580.159.03', '13.0')
>>> bool(driver_supports("13.0", "12.8")), bool(driver_supports("12.2", "12.4"))
(True, False)
>>> detect_platform(tegra_release=False, smi_names=["NVIDIA H200"]).kind
'dgpu'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jetson_hil.errors import ParseError
from jetson_hil.l4t import Compatibility

__all__ = [
    "DETECT_COMMAND",
    "KERNEL_MODULE_FILE",
    "QUERY_COMMAND",
    "QUERY_FIELDS",
    "DgpuHost",
    "GpuInfo",
    "GpuProcess",
    "HostKind",
    "Platform",
    "ProcessSample",
    "ProcessSamples",
    "SmiHeader",
    "SmiRun",
    "detect_platform",
    "driver_supports",
    "driver_versions_agree",
    "host_kind",
    "parse_detection",
    "parse_kernel_module_version",
    "parse_process_samples",
    "parse_processes",
    "parse_query_csv",
    "parse_smi_header",
    "smi_fix",
]

QUERY_FIELDS = ("index", "name", "driver_version", "memory.total", "compute_cap", "pci.bus_id")
QUERY_COMMAND = f"nvidia-smi --query-gpu={','.join(QUERY_FIELDS)} --format=csv"
"""What the host checks run; ``parse_query_csv`` reads its output (header line included)."""

_NA = {"", "[N/A]", "N/A", "[Not Supported]", "Not Supported", "[Unknown Error]"}


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.fullmatch(r"\s*(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,6}))?\s*", text or "")
    if m is None:
        raise ParseError("not a version", text or "")
    return tuple(int(g) for g in m.groups() if g is not None)


# --------------------------------------------------------------------------------------------- query csv
@dataclass(frozen=True)
class GpuInfo:
    """One row of ``nvidia-smi --query-gpu=... --format=csv``: the raw fields plus typed accessors."""

    fields: dict[str, str]
    units: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return None if value is None or value in _NA else value

    @property
    def index(self) -> int | None:
        value = self.get("index")
        return int(value) if value and value.isdigit() else None

    @property
    def name(self) -> str | None:
        return self.get("name")

    @property
    def driver_version(self) -> str | None:
        return self.get("driver_version")

    @property
    def memory_total_mib(self) -> int | None:
        value = self.get("memory.total")
        if value is None:
            return None
        m = re.fullmatch(r"(\d+)(?:\s*MiB)?", value)
        return int(m[1]) if m else None

    @property
    def compute_capability(self) -> tuple[int, int] | None:
        value = self.get("compute_cap")
        m = re.fullmatch(r"(\d+)\.(\d+)", value or "")
        return (int(m[1]), int(m[2])) if m else None

    @property
    def is_tegra(self) -> bool:
        """An integrated Jetson GPU as nvidia-smi names it on R36+ ('Orin (nvgpu)'; facts section 1)."""
        return "nvgpu" in (self.name or "").lower()


def _split_csv(line: str) -> list[str]:
    return [part.strip() for part in line.split(",")]


def parse_query_csv(text: str, fields: tuple[str, ...] | list[str] | None = None) -> list[GpuInfo]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv``; with ``noheader`` pass the queried ``fields``.

    Header names lose their unit (``memory.total [MiB]`` -> ``memory.total``, unit kept in ``units``).
    Raises ParseError when a row's field count differs from the header's or no header can be found.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    units: dict[str, str] = {}
    if fields is None:
        if not lines:
            raise ParseError("no nvidia-smi csv header", text)
        names = []
        for raw in _split_csv(lines[0]):
            m = re.fullmatch(r"([A-Za-z0-9_.]+)(?:\s*\[(.+)\])?", raw)
            if m is None:
                raise ParseError("not an nvidia-smi csv header", lines[0])
            names.append(m[1])
            if m[2]:
                units[m[1]] = m[2]
        lines = lines[1:]
    else:
        names = list(fields)
    rows = []
    for number, line in enumerate(lines, start=1):
        values = _split_csv(line)
        if len(values) != len(names):
            raise ParseError(f"{len(values)} fields where the header has {len(names)}", line, line_number=number)
        rows.append(GpuInfo(dict(zip(names, values, strict=True)), units))
    return rows


# ---------------------------------------------------------------------------------------------- header
@dataclass(frozen=True)
class SmiHeader:
    """The versions in ``nvidia-smi``'s banner; ``cuda_version`` is the highest CUDA the driver supports."""

    smi_version: str | None
    driver_version: str | None
    cuda_version: str | None


_SMI = re.compile(r"NVIDIA-SMI\s+([0-9][0-9.]*)")
_DRIVER = re.compile(r"Driver Version:\s*([0-9][0-9.]*)")
_CUDA = re.compile(r"CUDA Version:\s*([0-9][0-9.]*|N/A)")


def parse_smi_header(text: str) -> SmiHeader:
    """Driver and CUDA versions from plain ``nvidia-smi`` output; ParseError when there is no banner."""
    smi, driver, cuda = _SMI.search(text), _DRIVER.search(text), _CUDA.search(text)
    if driver is None and smi is None:
        raise ParseError("no nvidia-smi banner (NVIDIA-SMI / Driver Version)", text.strip()[:200])
    cuda_version = cuda[1] if cuda and cuda[1] != "N/A" else None
    return SmiHeader(smi[1] if smi else None, driver[1] if driver else None, cuda_version)


# ------------------------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class Platform:
    """What kind of NVIDIA host this is: ``tegra`` (Jetson), ``dgpu`` or ``none``, and why."""

    kind: str
    reason: str

    @property
    def is_dgpu(self) -> bool:
        return self.kind == "dgpu"

    @property
    def is_tegra(self) -> bool:
        return self.kind == "tegra"


def detect_platform(tegra_release: bool, smi_names: list[str] | None, smi_error: str | None = None) -> Platform:
    """The detection rule.

    - ``/etc/nv_tegra_release`` present -> Tegra (every Jetson has it; Thor and R39 Orin answer nvidia-smi too);
    - else nvidia-smi named GPUs: a name with ``nvgpu`` ('Orin (nvgpu)') is still a Tegra iGPU (facts, section 1:
      jetson-containers detects Tegra that way); any other name -> dGPU;
    - else nothing NVIDIA answered -> ``none``, with nvidia-smi's error in the reason.

    ``smi_names`` is None when nvidia-smi could not be run or failed; ``[]`` when it listed no GPU.
    """
    if tegra_release:
        return Platform("tegra", "/etc/nv_tegra_release exists: a Jetson (L4T) host")
    if smi_names:
        tegra = [n for n in smi_names if "nvgpu" in n.lower()]
        if tegra:
            return Platform("tegra", f"no /etc/nv_tegra_release but nvidia-smi names {tegra[0]!r}, a Tegra iGPU")
        listed = ", ".join(repr(n) for n in smi_names)
        return Platform("dgpu", f"no /etc/nv_tegra_release and nvidia-smi answers with {listed}: a discrete-GPU host")
    why = f": {smi_error.strip().splitlines()[-1]}" if smi_error and smi_error.strip() else ""
    if smi_names is None:
        return Platform("none", f"no /etc/nv_tegra_release and nvidia-smi does not answer{why}")
    return Platform("none", f"no /etc/nv_tegra_release and nvidia-smi lists no GPU{why}")


DETECT_COMMAND = (
    "if [ -e /etc/nv_tegra_release ]; then echo 'tegra_release yes'; else echo 'tegra_release no'; fi; "
    "if ! command -v nvidia-smi >/dev/null 2>&1; then echo 'nvidia-smi absent'; exit 0; fi; "
    'timeout -k 2 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>&1; echo "nvidia-smi exit $?"'
)
"""One shell command for the detection rule's facts; `parse_detection` reads its output."""


def parse_detection(text: str) -> Platform:
    """`detect_platform` on `DETECT_COMMAND`'s output. ParseError when the output is not that command's."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] not in ("tegra_release yes", "tegra_release no"):
        raise ParseError("not the output of the dGPU detection command (no 'tegra_release' line)", text[:200])
    tegra = lines[0].endswith("yes")
    rest = lines[1:]
    if rest == ["nvidia-smi absent"]:
        return detect_platform(tegra, None, "nvidia-smi: command not found")
    if not rest or not rest[-1].startswith("nvidia-smi exit "):
        raise ParseError("the detection command's output has no 'nvidia-smi exit N' line", text[:200])
    status, body = rest[-1].rsplit(" ", 1)[-1], rest[:-1]
    if status != "0":
        return detect_platform(tegra, None, "\n".join(body) or f"nvidia-smi exited {status}")
    return detect_platform(tegra, [line.strip() for line in body])


@dataclass(frozen=True)
class HostKind:
    """Which Task 1 checks apply: ``jetson`` (L4T, JetPack, tegrastats) or ``dgpu`` (driver, CUDA, NVML)."""

    kind: str
    reason: str

    @property
    def is_dgpu(self) -> bool:
        return self.kind == "dgpu"


def host_kind(profile_kind: str, platform: Platform | None, detect_error: str = "") -> HostKind:
    """The rule: the profile's ``kind = "dgpu"`` wins; a ``jetson`` profile on a host that detects as a dGPU (no
    /etc/nv_tegra_release, nvidia-smi names a discrete GPU) is a dGPU; anything else stays a Jetson, so the L4T
    checks run and say what is missing (a Jetson whose release file is gone must fail them, not skip them).

    >>> host_kind("jetson", Platform("dgpu", "no /etc/nv_tegra_release and nvidia-smi answers")).kind
    'dgpu'
    """
    if profile_kind == "dgpu":
        return HostKind("dgpu", 'the device profile says kind = "dgpu"')
    if platform is not None and platform.is_dgpu:
        return HostKind("dgpu", f'the profile says kind = "{profile_kind}" but the host is a dGPU: {platform.reason}')
    if platform is None:
        why = f" (detection failed: {detect_error})" if detect_error else ""
        return HostKind("jetson", f'the device profile says kind = "{profile_kind}"{why}')
    return HostKind("jetson", f'the device profile says kind = "{profile_kind}" and {platform.reason}')


# ------------------------------------------------------------------------------------- kernel module
KERNEL_MODULE_FILE = "/proc/driver/nvidia/version"
_NVRM = re.compile(r"NVRM version:.*?Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)")


def parse_kernel_module_version(text: str) -> str | None:
    """The loaded kernel module's version from /proc/driver/nvidia/version (proprietary or open module), or
    None when the text has no ``NVRM version`` line.

    >>> parse_kernel_module_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 2023")
    '535.104.05'
    """
    m = _NVRM.search(text or "")
    return m[1] if m else None


def driver_versions_agree(
    banner: str | None, per_gpu: list[str | None], kernel_module: str | None
) -> tuple[bool, list[str]]:
    """Do nvidia-smi's banner, each GPU's ``driver_version`` and the loaded kernel module name one driver?

    Returns (ok, problems); a reading that is None is not compared (``kernel_module`` is None when the host
    does not expose /proc/driver/nvidia/version). A kernel module other than the user-space library is the
    classic half-finished driver upgrade (NVML: 'Driver/library version mismatch').
    """
    problems = []
    versions = {v for v in per_gpu if v}
    if banner and versions - {banner}:
        problems.append(f"nvidia-smi's banner says driver {banner} but the GPUs report {', '.join(sorted(versions))}")
    if len(versions) > 1:
        problems.append(f"the GPUs report different drivers: {', '.join(sorted(versions))}")
    user_space = banner or next(iter(sorted(versions)), None)
    if kernel_module and user_space and kernel_module != user_space:
        problems.append(
            f"the loaded kernel module is {kernel_module} but the user-space driver (nvidia-smi, NVML) is "
            f"{user_space}: a driver upgrade without a reboot or module reload"
        )
    return not problems, problems


# ------------------------------------------------------------------------------------- compatibility
FORWARD_COMPAT_NOTE = (
    "a newer CUDA runtime runs on an older driver only through CUDA forward compatibility (the cuda-compat "
    "package's libcuda in the container, data-centre GPUs only) or, within one major version, through minor "
    "version compatibility (no PTX JIT, newer APIs may fail); otherwise upgrade the driver or use an image "
    "built for the driver's CUDA"
)


def driver_supports(driver_cuda: str, container_cuda: str, what: str = "the container's CUDA") -> Compatibility:
    """Does a driver whose banner says ``CUDA Version: driver_cuda`` run a container built for ``container_cuda``?

    The rule: the driver's highest CUDA (major.minor) >= the container's CUDA (major.minor). A refusal carries
    the forward-compatibility note. ``what`` names the other side in the reason ("the host toolkit's CUDA").
    ParseError for a value that is not a version.
    """
    d, c = _version_tuple(driver_cuda)[:2], _version_tuple(container_cuda)[:2]
    d = d + (0,) * (2 - len(d))
    c = c + (0,) * (2 - len(c))
    dtext, ctext = f"{d[0]}.{d[1]}", f"{c[0]}.{c[1]}"
    if d >= c:
        return Compatibility(True, f"the driver supports CUDA up to {dtext}, at or above {what} {ctext}")
    return Compatibility(
        False,
        f"the driver supports CUDA up to {dtext}, below {what} {ctext} "
        f"(torch then reports 'CUDA driver version is insufficient for CUDA runtime version'); {FORWARD_COMPAT_NOTE}",
    )


# -------------------------------------------------------------------------------------------- the host
@dataclass(frozen=True)
class SmiRun:
    """One nvidia-smi run on the host: whether it exists, its status and output."""

    found: bool
    rc: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.found and self.rc == 0

    def why(self) -> str:
        """Why it failed, in one line (nvidia-smi prints its reasons on stdout)."""
        if not self.found:
            return "nvidia-smi is not on the host's PATH"
        if self.rc in (124, 137):
            return "nvidia-smi timed out (a wedged driver)"
        lines = [line.strip() for line in (self.stdout + "\n" + self.stderr).splitlines() if line.strip()]
        return f"nvidia-smi exited {self.rc}: " + (" | ".join(lines[:2]).rstrip(".")[:300] if lines else "no output")


SMI_FIXES = (
    (
        "couldn't communicate with the NVIDIA driver",
        "the NVIDIA kernel module is not loaded: `sudo modprobe nvidia`; if that fails, reinstall the driver for the "
        "running kernel (its DKMS module) and reboot",
    ),
    (
        "Driver/library version mismatch",
        "the loaded kernel module is not the installed driver's (an upgrade without a reboot): reboot, or unload and "
        "reload the nvidia kernel modules",
    ),
    (
        "No devices were found",
        "the driver sees no GPU: check `lspci -d 10de:`, the card's seating and power, or the VM's GPU passthrough",
    ),
)
"""nvidia-smi's own failure texts -> the fix they call for."""


def smi_fix(text: str) -> str | None:
    """The fix for a known nvidia-smi failure text, or None.

    >>> smi_fix("Failed to initialize NVML: Driver/library version mismatch")[:30]
    'the loaded kernel module is no'
    """
    for needle, fix in SMI_FIXES:
        if needle.lower() in (text or "").lower():
            return fix
    return None


class DgpuHost:
    """A dGPU host's driver facts read through ``run(command, timeout_s=...)`` (``DeviceFacts.run``): every
    property runs its command again, so nothing goes stale.

    >>> host = DgpuHost(device.run)                    # doctest: +SKIP
    >>> host.header.driver_version, host.gpus[0].name  # doctest: +SKIP
    ('580.159.04', 'NVIDIA H200')
    """

    def __init__(self, run, timeout_s: float = 30.0) -> None:
        self._run = run
        self.timeout_s = timeout_s

    def smi(self, args: str = "") -> SmiRun:
        out = self._run(f"command -v nvidia-smi >/dev/null 2>&1 || exit 127; nvidia-smi {args}",
                        timeout_s=self.timeout_s)  # fmt: skip
        if out.rc == 127 and not out.stdout.strip():
            return SmiRun(False, None, "", out.stderr)
        return SmiRun(True, out.rc, out.stdout, out.stderr)

    @property
    def banner(self) -> SmiRun:
        return self.smi()

    @property
    def header(self) -> SmiHeader:
        """The banner's versions; ParseError when nvidia-smi fails or prints no banner."""
        run = self.banner
        if not run.ok:
            raise ParseError(run.why(), run.stdout[-300:])
        return parse_smi_header(run.stdout)

    @property
    def query(self) -> SmiRun:
        return self.smi(QUERY_COMMAND.split(" ", 1)[1])

    @property
    def gpus(self) -> list[GpuInfo]:
        run = self.query
        if not run.ok:
            raise ParseError(run.why(), run.stdout[-300:])
        return parse_query_csv(run.stdout)

    @property
    def kernel_module_text(self) -> str | None:
        out = self._run(f"cat {KERNEL_MODULE_FILE}", timeout_s=self.timeout_s)
        return out.stdout if out.rc == 0 and out.stdout.strip() else None

    @property
    def kernel_module_version(self) -> str | None:
        return parse_kernel_module_version(self.kernel_module_text or "")


# ------------------------------------------------------------------------------------------- processes
@dataclass(frozen=True)
class GpuProcess:
    """A compute process on the GPU: pid (host namespace), name, used memory (MiB, None when not reported)."""

    pid: int
    name: str
    used_mib: int | None = None
    cmdline: str = ""


def parse_processes(text: str) -> list[GpuProcess]:
    """``gpu_sampler.py --processes`` output, or ``nvidia-smi --query-compute-apps=pid,process_name,used_memory
    --format=csv[,noheader][,nounits]``: ``pid, name, MiB[, cmdline]`` lines. Comment and header lines are
    skipped; '[N/A]' memory is None. ParseError for a line that is neither.
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.lower().startswith("pid"):
            continue
        if stripped.startswith("No running processes"):
            continue
        parts = stripped.split(", ", 3)
        if len(parts) < 3 or not parts[0].isdigit():
            raise ParseError("not a 'pid, name, used memory' line", line, line_number=number)
        mem = re.fullmatch(r"(\d+)(?:\s*MiB)?", parts[2].strip())
        if mem is None and parts[2].strip() not in _NA:
            raise ParseError("used memory is not a number of MiB", line, line_number=number)
        cmdline = parts[3] if len(parts) > 3 else ""
        out.append(GpuProcess(int(parts[0]), parts[1].strip(), int(mem[1]) if mem else None, cmdline))
    return out


@dataclass(frozen=True)
class ProcessSample:
    """One NVML per-process utilisation sample: the share of the driver's sample period the process's kernels
    kept the SMs busy (``sm_percent``), at ``timestamp_us`` (CPU clock, microseconds)."""

    pid: int
    timestamp_us: int
    sm_percent: int
    mem_percent: int = 0


@dataclass(frozen=True)
class ProcessSamples:
    """Samples collected over a window, and the driver's sample period when the collector saw it."""

    samples: list[ProcessSample]
    period_us: int | None = None
    error: str | None = None

    @property
    def pids(self) -> set[int]:
        return {s.pid for s in self.samples}


def parse_process_samples(text: str) -> ProcessSamples:
    """``gpu_sampler.py --process-samples S`` output: ``pid, timestamp_us, sm, mem`` lines, then
    ``# period_us N`` (or ``# error ...`` when NVML refused the query). ParseError for any other line."""
    samples, period, error = [], None, None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, _, value = stripped[1:].strip().partition(" ")
            if key == "period_us" and value.strip().isdigit():
                period = int(value)
            elif key == "error":
                error = value.strip()
            continue
        parts = [p.strip() for p in stripped.split(",")]
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise ParseError("not a 'pid, timestamp_us, sm, mem' line", line, line_number=number)
        pid, ts, sm, mem = (int(p) for p in parts)
        samples.append(ProcessSample(pid, ts, sm, mem))
    return ProcessSamples(samples, period, error)
