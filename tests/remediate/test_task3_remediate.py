"""Runbook Task 3 applied (``--allow-changes``): ask for the GPU and fp16, recreate the agents, verify.

Step 1 sets ``VL_JEPA_DEVICE=cuda`` and ``VL_JEPA_FP16=1`` in config/jetson.env (every other byte kept),
step 2 runs ``compose up -d --force-recreate vl_jepa embedding_guard scene policy`` on the device, step 3
reads the embeddings that the recreated agent publishes: on the profile's device, in float16, of the
profile's dim, finite (one evidence window of them); step 4 reads the GPU load (GR3D) while they flow, as
Task 3's check does, leaving out the first quarter (the agent's warm-up). The env
file and the services are restored afterwards unless ``--keep-changes``.
"""

from __future__ import annotations

import math

import pytest

pytestmark = [pytest.mark.jetson, pytest.mark.remediate, pytest.mark.mqtt]

MIN_SAMPLES = 15


def test_task3_gpu_fp16_config_applied_and_embeddings_on_the_gpu(remedy, profile, telemetry, measure):
    fields = profile.fields
    remedy.set_env({"VL_JEPA_DEVICE": profile.expect.device, "VL_JEPA_FP16": "1"})
    since = remedy.recreate()
    # one evidence window of flow, as Task 3's own GPU-load check reads; its first quarter is the warm-up
    flow = remedy.embeddings(since, max(MIN_SAMPLES, round(profile.limits.window_s * profile.limits.min_rate_hz)))

    wrong = []
    for m in flow:
        p, problem = m.decode()
        p = p if isinstance(p, dict) else {}
        device, dtype, vector = p.get(fields.device), p.get(fields.dtype), p.get(fields.embedding)
        if problem:
            wrong.append(f"message {m.seq}: {problem}")
        elif device != profile.expect.device or dtype != "float16":
            wrong.append(f"seq {p.get(fields.seq)}: device {device!r}, dtype {dtype!r}")
        elif not isinstance(vector, list) or len(vector) != profile.expect.dim:
            length = len(vector) if isinstance(vector, list) else 0
            wrong.append(f"seq {p.get(fields.seq)}: embedding of length {length}, expected {profile.expect.dim}")
        elif not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vector):
            wrong.append(f"seq {p.get(fields.seq)}: embedding has non-finite values")
    assert not wrong, (
        f"after setting VL_JEPA_DEVICE={profile.expect.device}, VL_JEPA_FP16=1 and recreating the agents, "
        f"{len(wrong)} of {len(flow)} embeddings are not {profile.expect.device}/float16/{profile.expect.dim}-d: "
        + "; ".join(wrong[:3])
        + ". The agent fell back (its log says why; Task 2's probe shows whether CUDA works in the container: "
        "if not, Task 4 is the remedy)\n"
        + remedy.agent_log_tail()[-2000:]
    )

    loads = remedy.gpu_loads_between(flow[len(flow) // 4].received_mono, flow[-1].received_mono)
    if loads is None:
        return  # a discrete-GPU host has no tegrastats; the payloads above are the evidence
    measure(
        "remediate.task3.gr3d_percent",
        sum(loads) / len(loads) if loads else None,
        "%",
        low=profile.limits.gr3d_min_percent,
        doc=f"mean GR3D_FREQ over the {len(loads)} tegrastats samples of the flow after the change (warm-up left out)",
        fix="the payloads say cuda but the GPU did no work while they flowed: see Task 3's GPU-load check and "
        "Task 2's probe",
    )
