"""Runbook Task 1 as the runbook runs it on the host: the project's own diagnostics script.

Task 1 commits ``tools/jetson/gpu_diag.sh`` and ``check_torch_cuda.py`` to the agents' project and step 4 runs
them from there. The suite runs its own copies (tests/host/test_task1_gpu_diag.py, Task 2's probe); this checks
that the project carries the script with the parts the suite's parsers read, so the operator's
``bash tools/jetson/gpu_diag.sh`` gives the same evidence. (The image's copy of ``check_torch_cuda.py`` is Task 2's
``test_image_carries_the_runbooks_probe``.)
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.jetson, pytest.mark.host, pytest.mark.task1]

# the parts of the runbook's gpu_diag.sh (Task 1 step 2) that the suite's gpu_diag checks read
PARTS = ("nv_tegra_release", "CUDA version", "JetPack packages", "tegrastats")


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
