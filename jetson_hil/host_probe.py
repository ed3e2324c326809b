"""Runbook Task 1 step 4 on the host: ``python3 tools/jetson/check_torch_cuda.py`` read back into a verdict.

The runbook runs the probe with the host's own python3 and expects "CUDA available = True and matmul succeeds".
The pipeline's torch is the agent container's (Task 2), and a Jetson host often has no torch at all, or pip's
CPU-only aarch64 wheel: neither is a fault of the device, so both skip, saying why. A CUDA build of torch on the
host that cannot use the GPU is a finding: either that torch does not fit the host's JetPack, or the host's CUDA
driver is broken, which breaks the containers too (Task 2's result tells which). Pure functions, unit-tested;
the acceptance check (tests/host/test_task1_host_probe.py) runs the command.

>>> no_torch = "python 3.10.12\\ntorch None\\nerror_step import_torch\\nerror ImportError: No module named 'torch'\\n"
>>> verdict(1, no_torch + "result fail\\n", "").outcome
'skip'
>>> cpu = "torch 2.5.1\\ncuda_available False\\ncuda_version None\\nchecks_skipped cuda not available\\nresult fail\\n"
>>> verdict(1, cpu, "").outcome
'skip'
>>> verdict(1, "torch 2.8.0\\ncuda_available False\\ncuda_version 12.8\\nresult fail\\n", "").outcome
'fail'
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from jetson_hil.device import temp_script_command
from jetson_hil.probe import ProbeResult, parse_probe

__all__ = ["FAIL", "PASS", "SKIP", "HostProbeVerdict", "command", "verdict"]

PASS, SKIP, FAIL = "pass", "skip", "fail"
CONTAINER_TORCH = "the pipeline's torch is the agent container's (Task 2 checks it)"
FIT_FIX = (
    "install the torch wheel built for this JetPack on the host (NVIDIA's Jetson wheel for the L4T release in "
    "/etc/nv_tegra_release) or remove the host's torch (`pip3 uninstall torch`: the pipeline does not use it); "
    "if CUDA fails in the agent container too, reinstall the L4T CUDA driver (`sudo apt install --reinstall "
    "nvidia-l4t-cuda`) or reflash JetPack, then reboot"
)
_NO_PYTHON = re.compile(r"python3: (?:not found|command not found)|python3: No such file or directory")
_INIT_WARNING = re.compile(r"CUDA initialization: (.+?)(?: \(Triggered internally at [^)]*\))?\s*$", re.M)


@dataclass(frozen=True)
class HostProbeVerdict:
    """What Task 1 step 4 on the host comes to: pass, skip (with why) or fail (cause and fix in `message`);
    `evidence` is the error text the failure quotes, for the diagnosis catalogue."""

    outcome: str
    message: str
    evidence: str = ""


def command(source: bytes, timeout_s: float) -> str:
    """The shell command that runs the probe (its source) with the host's ``python3`` under its own watchdog,
    from a private temporary directory that it removes; the probe's exit status is kept."""
    return temp_script_command("check_torch_cuda.py", source, f"python3 {{script}} --timeout {timeout_s:g}")


def verdict(rc: int | None, stdout: str, stderr: str, container_cuda: bool | None = None) -> HostProbeVerdict:
    """The verdict on one run of the probe with the host's python3 (`rc`, its output); `container_cuda` is
    Task 2's result when known (True: CUDA works in the agent container), for the failure's cause."""
    probe = parse_probe(stdout)
    python = probe.fields.get("python", "")
    if "torch" not in probe.fields:
        return _not_started(rc, stdout, stderr)
    if probe.torch_version is None:
        return _no_import(probe, python)
    torch = f"torch {probe.torch_version}"
    if probe.cuda_version is None and probe.cuda_available is not True:
        return HostProbeVerdict(
            SKIP,
            f"the host's python3 has {torch}, a CPU-only build (torch.version.cuda is None, as pip's aarch64 "
            f"wheels are): Task 1 step 4's CUDA check is for a CUDA build; {CONTAINER_TORCH}",
        )
    build = f"{torch} (a CUDA {probe.cuda_version} build)"
    cause = _cause(container_cuda)
    if rc in (124, 137) or any(e.step == "watchdog" for e in probe.step_errors):
        return HostProbeVerdict(
            FAIL, f"check_torch_cuda.py with the host's python3 and {build} did not finish: a CUDA call hangs on the "
            f"host; {cause}. Fix: reboot the device; if it persists, {FIT_FIX}", stderr)
    if probe.result is None:
        how = f"killed by {_signal(rc)}" if _signal(rc) else f"ended (exit {rc})"
        return HostProbeVerdict(
            FAIL, f"check_torch_cuda.py with the host's python3 and {build} was {how} before its result: a crash in "
            f"torch or the CUDA driver; {cause}. Fix: {FIT_FIX}", stderr)
    if probe.cuda_available is not True:
        error = _init_error(probe, stderr)
        return HostProbeVerdict(
            FAIL, f"torch.cuda.is_available() is {probe.cuda_available} on the host with {build}"
            f"{': ' + error if error else ''}; the runbook's Task 1 step 4 expects True. {cause[:1].upper()}"
            f"{cause[1:]}. Fix: {FIT_FIX}", error or stderr)
    if probe.checks.get("cuda_matmul_ok") is not True:
        errors = [f"{e.type}: {e.message}" for e in probe.step_errors if e.step == "cuda_matmul"]
        err = probe.max_errors.get("cuda_matmul")
        what = f"raised {errors[0]}" if errors else (
            f"computed wrong numbers (max abs error {err:.3g} vs the CPU)" if err is not None else "did not run")
        return HostProbeVerdict(
            FAIL, f"the matmul on the host's GPU with {build} {what}; the runbook's Task 1 step 4 expects it to "
            f"succeed. {cause[:1].upper()}{cause[1:]}. Fix: {FIT_FIX}", errors[0] if errors else stderr)
    return HostProbeVerdict(PASS, f"{build} on the host: CUDA available, matmul succeeds")


def _not_started(rc: int | None, stdout: str, stderr: str) -> HostProbeVerdict:
    text = f"{stdout}\n{stderr}"
    if rc == 127 or _NO_PYTHON.search(text):
        return HostProbeVerdict(
            SKIP, f"the host has no python3, so Task 1 step 4 cannot run there; {CONTAINER_TORCH}")
    if rc in (124, 137):
        return HostProbeVerdict(FAIL, "check_torch_cuda.py with the host's python3 printed nothing before the "
                                "time limit: python3 hangs at start on the host. Fix: run `python3 -c pass` on the "
                                "device and repair its python3", stderr)
    tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:] if line.strip())[:300]
    return HostProbeVerdict(
        FAIL, f"check_torch_cuda.py did not start with the host's python3 (exit {rc}): {tail or 'no output'}. "
        "Fix: check that python3 runs on the device and /tmp is writable", stderr)


def _no_import(probe: ProbeResult, python: str) -> HostProbeVerdict:
    errors = [e for e in probe.step_errors if e.step == "import_torch"]
    text = "; ".join(f"{e.type}: {e.message}" for e in errors) or "no error reported"
    if any(re.search(r"No module named '?torch'?", e.message) for e in errors):
        return HostProbeVerdict(
            SKIP, f"the host's python3 {python} has no torch (Jetson hosts often have none), so Task 1 step 4 "
            f"has nothing to check there; {CONTAINER_TORCH}")
    return HostProbeVerdict(
        FAIL, f"torch is installed for the host's python3 {python} but cannot be imported: {text}. Fix: {FIT_FIX}",
        text)


def _init_error(probe: ProbeResult, stderr: str) -> str:
    """Why CUDA is not available: torch's 'CUDA initialization:' warning, else the probe's first error."""
    found = _INIT_WARNING.findall(stderr)
    if found:
        return found[-1].strip()
    return probe.errors[0] if probe.errors else ""


def _cause(container_cuda: bool | None) -> str:
    if container_cuda is True:
        return ("CUDA works in the agent container (Task 2), so the GPU and its driver are fine: the host's torch "
                "does not fit this JetPack")
    if container_cuda is False:
        return ("CUDA fails in the agent container too (Task 2): the host's CUDA driver is broken, which breaks "
                "the containers")
    return ("either the host's torch does not fit this JetPack, or the host's CUDA driver is broken, which breaks "
            "the containers too (Task 2 tells which)")


def _signal(rc: int | None) -> str | None:
    number = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and 128 < rc < 160 else None)
    if number in (None, 9):
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return None
