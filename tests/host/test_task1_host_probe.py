"""Runbook Task 1 as the runbook runs it on the host: the project's own diagnostics script.

Task 1 commits ``tools/jetson/gpu_diag.sh`` and ``check_torch_cuda.py`` to the agents' project and step 4 runs
them from there. The suite runs its own copies (tests/host/test_task1_gpu_diag.py, Task 2's probe); this checks
that the project carries the script with the parts the suite's parsers read, so the operator's
``bash tools/jetson/gpu_diag.sh`` gives the same evidence. (The image's copy of ``check_torch_cuda.py`` is Task 2's
``test_image_carries_the_runbooks_probe``.)

Step 4 also runs ``python3 tools/jetson/check_torch_cuda.py`` on the host: the suite's copy of the probe is run
with the host's python3 (`jetson_hil.host_probe` decides): no torch there, or pip's CPU-only wheel, skips (the
pipeline's torch is the container's); a CUDA build of torch that cannot use the GPU fails.
"""

from __future__ import annotations

import pytest

from fixtures.background import PROBE_TIMEOUT_S, TOOLS
from jetson_hil import host_probe
from jetson_hil.probe import parse_probe

pytestmark = [pytest.mark.jetson, pytest.mark.host, pytest.mark.task1]

# the parts of the runbook's gpu_diag.sh (Task 1 step 2) that the suite's gpu_diag checks read
PARTS = ("nv_tegra_release", "CUDA version", "JetPack packages", "tegrastats")


@pytest.mark.proven_by("gpu_diag_missing", says="gpu_diag.sh is missing on the device")
def test_project_carries_gpu_diag(project_gpu_diag, profile):
    path = f"{profile.compose.project_dir}/tools/jetson/gpu_diag.sh"
    assert project_gpu_diag is not None, (
        f"{path} is missing on the device: the runbook's Task 1 step 4 (`bash tools/jetson/gpu_diag.sh`) cannot "
        "run. Fix: commit tools/jetson/gpu_diag.sh and tools/jetson/check_torch_cuda.py in the agents' project "
        "(Task 1 step 5)"
    )
    missing = [part for part in PARTS if part not in project_gpu_diag]
    assert project_gpu_diag.startswith("#!") and "bash" in project_gpu_diag.splitlines()[0] and not missing, (
        f"{path} is not the runbook's gpu_diag.sh: "
        + (f"it lacks the parts {missing}" if missing else "it is not a bash script")
        + ". Fix: replace it with the runbook's Task 1 step 2 version (this suite's tools/jetson/gpu_diag.sh) and "
        "commit it"
    )


HOST_PROBE_TIMEOUT_S = 100.0  # the probe's own watchdog ends it 10 s earlier; a hang guard, not a target


@pytest.fixture(scope="module")
def host_probe_run(device):
    """check_torch_cuda.py run once with the host's python3 (Task 1 step 4), bounded."""
    source = (TOOLS / "check_torch_cuda.py").read_bytes()
    return device.run(host_probe.command(source, HOST_PROBE_TIMEOUT_S - 10), timeout_s=HOST_PROBE_TIMEOUT_S)


def _container_cuda(rig) -> bool | None:
    """Task 2's probe result when this run started it (True: CUDA works in the agent container), else None; it
    runs in the background from the session's start, so waiting for it here is bounded by its own limit."""
    if rig.jobs.get("probe") is None:
        return None
    try:
        run = rig.result("probe", PROBE_TIMEOUT_S + 30)
    except Exception:  # LinkDown (it did not finish) or the probe job's own error: Task 2 reports those
        return None
    return parse_probe(run.stdout).passed if run.ran else None


@pytest.mark.proven_by("host_torch_cuda_too_new", says="cudaGetDeviceCount returned 35")
def test_host_python_runs_the_probe(host_probe_run, rig, attach, diagnose):
    """Runbook Task 1 step 4 on the host: CUDA available and the matmul succeeds, where the host has a CUDA torch."""
    out = host_probe_run
    attach("check_torch_cuda.py on the host", out.stdout + (f"\n--- stderr ---\n{out.stderr}" if out.stderr else ""))
    found = host_probe.verdict(out.rc, out.stdout, out.stderr)
    if found.outcome == host_probe.FAIL:  # Task 2's result tells whether the host's torch or its driver is at fault
        found = host_probe.verdict(out.rc, out.stdout, out.stderr, _container_cuda(rig))
    if found.outcome == host_probe.SKIP:
        pytest.skip(found.message)
    assert found.outcome == host_probe.PASS, diagnose(
        found.message, found.evidence, sources=("message", "check_torch_cuda.py on the host")
    )
