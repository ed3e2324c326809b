"""Runbook Task 5 applied (``--allow-changes``): switch to the TensorRT engine and re-collect the centroids.

Step 1 sets ``VL_JEPA_BACKEND=tensorrt``, ``VL_JEPA_ENGINE_PATH`` and ``VL_JEPA_INPUT_SIZE`` (the profile's
[plan_b]); step 2 reads the engine's output dim inside the agent container (inspect_engine.py) and sets
``EMBEDDING_GUARD_DIM`` to it; step 3 collects ``[plan_b] min_centroid_samples`` samples with
``EMBEDDING_GUARD_MODE=collect_game``, then as many with ``collect_non`` (into a fresh centroid file), then
returns to ``run``; step 4 recreates the four services; step 5 verifies: embeddings from the engine at
its dim, and the guard judging them with the new centroids. The env file, the centroid file and the
services are restored afterwards unless ``--keep-changes``.

On the simulator the live stream mixes game and non-game screens, so the two centroids are collected
from whatever the screen shows (a person switches the screen on a real device); the test checks that
they were collected at the engine's dim, with enough samples, and that the guard uses them.
"""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.jetson, pytest.mark.remediate, pytest.mark.container]


def _collected(mode: str, samples: int):
    def predicate(message) -> bool:
        obj, _ = message.decode()
        return isinstance(obj, dict) and obj.get("mode") == mode and (obj.get("samples") or 0) >= samples

    predicate.__name__ = f"{mode}_reached_{samples}_samples"
    return predicate


def test_task5_tensorrt_engine_and_recollected_centroids(remedy, profile):
    plan_b, topics, fields = profile.plan_b, profile.topics, profile.fields
    engine = remedy.inspect_engine(plan_b.engine_path)
    dim = engine.number("output_dim")
    assert engine.loaded and dim, (
        f"the engine {plan_b.engine_path} does not load in {profile.containers.agent} (exit {engine.rc}): "
        f"{'; '.join(engine.errors) or engine.output[-500:]}. Fix: build it on this device (trtexec --onnx=... "
        f"--saveEngine={plan_b.engine_path} --fp16); nothing was changed"
    )
    centroids = remedy.centroids_path()
    remedy.fix.backup(centroids)
    remedy.set_env({
        "VL_JEPA_BACKEND": "tensorrt",
        "VL_JEPA_ENGINE_PATH": plan_b.engine_path,
        "VL_JEPA_INPUT_SIZE": str(plan_b.input_size),
        "EMBEDDING_GUARD_DIM": str(dim),
        "EMBEDDING_GUARD_MODE": "collect_game",
    })
    remedy.remove(centroids)
    n = plan_b.min_centroid_samples
    since = remedy.recreate()
    remedy.messages(topics.guard, since, 1, _collected("collect_game", n), what="collecting game centroids")

    remedy.set_env({"EMBEDDING_GUARD_MODE": "collect_non"})
    since = remedy.recreate_guard()
    remedy.messages(topics.guard, since, 1, _collected("collect_non", n), what="collecting non-game centroids")

    remedy.set_env({"EMBEDDING_GUARD_MODE": "run"})
    since = remedy.recreate()
    payloads = [m.decode()[0] or {} for m in remedy.embeddings(since, 5)]
    wrong = [
        f"seq {p.get(fields.seq)}: backend {p.get(fields.backend)!r}, dim {p.get(fields.dim)!r}"
        for p in payloads
        if p.get(fields.backend) != "tensorrt" or len(p.get(fields.embedding) or []) != dim
    ]
    assert not wrong, (
        f"after the switch, {len(wrong)} of {len(payloads)} embeddings are not the engine's {dim}-d output: "
        + "; ".join(wrong[:3])
        + "\n"
        + remedy.agent_log_tail()[-2000:]
    )

    verdicts = remedy.messages(topics.guard, since, 5, what="guard verdicts with the new centroids")
    decoded = [m.decode()[0] or {} for m in verdicts]
    bad = [f"{v.get('state')}: {v.get('error') or v.get('mode')}" for v in decoded
           if v.get("state") != "ok" or v.get("mode") != "run" or v.get("verdict") is None]
    assert not bad, (
        f"the guard does not judge the {dim}-d embeddings with the re-collected centroids: {'; '.join(bad[:3])}. "
        f"Fix: EMBEDDING_GUARD_DIM={dim} and centroids collected at that dim"
    )
    stored = json.loads(remedy.fix.device.read_bytes(centroids) or b"{}")
    counts = {name: c.get("samples") for name, c in (stored.get("classes") or {}).items()}
    assert stored.get("dim") == dim and set(counts) == {"game", "non_game"} and min(counts.values()) >= n, (
        f"{centroids} holds dim {stored.get('dim')} with samples {counts}; expected dim {dim}, game and non_game "
        f"with at least {n} samples each"
    )
