"""Runbook Task 4 applied (``--allow-changes``): rebuild the vl_jepa image, recreate, re-run Task 2's probe.

Step 3 of Task 4: ``compose build vl_jepa`` and ``compose up -d --force-recreate vl_jepa embedding_guard
scene policy`` on the device, then ``tools/jetson/check_torch_cuda.py`` in the new container must pass
(CUDA available, matmul, fp16 and cuDNN right) and embeddings must flow again. The images each service
ran are tagged aside before the build and put back afterwards unless ``--keep-changes``. Correcting the
Dockerfile's FROM is the operator's choice (Task 4 step 2; the Task 4 checks name the tag to use).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.jetson, pytest.mark.remediate, pytest.mark.container]


def test_task4_rebuilt_image_passes_the_container_cuda_probe(remedy, profile):
    remedy.rebuild_agent()
    since = remedy.recreate()
    out, probe = remedy.probe()
    assert out.rc == 0 and probe.passed, (
        f"after rebuilding vl_jepa and recreating the agents, check_torch_cuda.py fails in "
        f"{profile.containers.agent} (exit {out.rc}): {'; '.join(probe.failures()) or 'no result line'}. "
        "Fix: align the Dockerfile's FROM with the host's L4T and keep torch out of requirements.txt (Task 4's "
        "checks name what is wrong), then run this again"
    )
    payloads = [m.decode()[0] or {} for m in remedy.embeddings(since, 3)]
    devices = sorted({str(p.get(profile.fields.device)) for p in payloads})
    assert devices == [profile.expect.device], (
        f"the probe passes but the recreated agent publishes embeddings on {', '.join(devices)}, not "
        f"{profile.expect.device}: VL_JEPA_DEVICE in {profile.compose.env_file} (Task 3) is the next step"
    )
