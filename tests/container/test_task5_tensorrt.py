"""Runbook Task 5 (Plan B): the TensorRT encoder, its dimensions, and centroids re-collected at that dim.

Active only when ``VL_JEPA_BACKEND=tensorrt`` in the env file (the plan skips it otherwise, saying so).
The engine is inspected inside the agent container by ``tools/jetson/inspect_engine.py``: TensorRT's
name-based I/O API on a Jetson (the binding API on TensorRT < 8.5), onnxruntime where TensorRT is not
installed (the simulator's engine is the same encoder as ONNX).
"""

from __future__ import annotations

import math

import pytest

from jetson_hil.payloads import MISSING, get_path

pytestmark = [pytest.mark.jetson, pytest.mark.container, pytest.mark.task5, pytest.mark.plan_b]

RECOLLECT = (
    "re-collect the centroids at the engine's dim: EMBEDDING_GUARD_MODE=collect_game, then collect_non "
    "(~{n} samples each), then back to run"
)
RECREATE = "up -d --force-recreate vl_jepa embedding_guard scene policy"  # after the profile's compose command


def _recreate(profile) -> str:
    """The runbook's restart of the four services, with the device's compose command."""
    return f"`{profile.compose.command} {RECREATE}`"


def _int(env_file, key, profile):
    __tracebackhide__ = True
    value = env_file.get(key)
    if value is None or not value.strip().isdigit():
        pytest.fail(f"{key} is {value!r} in {profile.compose.env_file}: Task 5 needs a number there", pytrace=False)
    return int(value)


def _loaded(engine_inspection):
    __tracebackhide__ = True
    if not engine_inspection.loaded:
        pytest.skip(f"the engine did not load (test_engine_loads reports it): {'; '.join(engine_inspection.errors)}")


@pytest.mark.proven_by("engine_path_unset", says="VL_JEPA_ENGINE_PATH is None")
def test_engine_path_is_configured(env_file, profile):
    value = env_file.get("VL_JEPA_ENGINE_PATH")
    assert value == profile.plan_b.engine_path, (
        f"VL_JEPA_ENGINE_PATH is {value!r} in {profile.compose.env_file}; the profile's [plan_b] engine_path is "
        f"{profile.plan_b.engine_path!r}. Fix: set it in the env file (or correct the profile), then "
        f"{_recreate(profile)}"
    )


@pytest.mark.proven_by("missing_engine", says="the engine was never built")
def test_engine_file_present_in_the_container(engine_path, container_only, agent_container):
    out = agent_container.exec(["sh", "-c", f"test -s '{engine_path}' && wc -c < '{engine_path}'"], timeout_s=20)
    assert out.ok, (
        f"no engine file at {engine_path} inside {agent_container.name} (exit {out.rc}): the model volume is not "
        f"mounted or the engine was never built. Fix: build it on this device (trtexec --onnx=... --saveEngine="
        f"{engine_path} --fp16) and mount its directory into the container"
    )


@pytest.mark.proven_by("missing_engine", says="rebuild it on this device with trtexec")
def test_engine_loads(engine_inspection, agent_container):
    assert engine_inspection.loaded and engine_inspection.rc == 0, (
        f"the engine {engine_inspection.path} does not load in {agent_container.name} (exit {engine_inspection.rc}): "
        f"{'; '.join(engine_inspection.errors) or 'no error printed'}. Engines are specific to the GPU and the "
        f"TensorRT version: rebuild it on this device with trtexec"
    )


@pytest.mark.proven_by("engine_input_mismatch", says="VL_JEPA_INPUT_SIZE=256")
def test_engine_input_size_matches_the_env(engine_inspection, env_file, profile):
    _loaded(engine_inspection)
    want = _int(env_file, "VL_JEPA_INPUT_SIZE", profile)
    size = engine_inspection.number("input_size")
    assert size == want, (
        f"the engine's input is {engine_inspection.fields.get('input_hw', '?')} "
        f"({'; '.join(engine_inspection.inputs)}) but VL_JEPA_INPUT_SIZE={want}: frames would be resized "
        f"wrongly or rejected. Fix: set "
        f"VL_JEPA_INPUT_SIZE={size} or rebuild the engine for {want}x{want}"
    )


@pytest.mark.proven_by("guard_dim_stale", says="the guard rejects or misclassifies every embedding")
def test_engine_output_dim_matches_the_guard(engine_inspection, env_file, profile):
    _loaded(engine_inspection)
    guard_dim = _int(env_file, "EMBEDDING_GUARD_DIM", profile)
    dim = engine_inspection.number("output_dim")
    assert dim == guard_dim, (
        f"the engine outputs {dim}-d embeddings ({'; '.join(engine_inspection.outputs)}) but EMBEDDING_GUARD_DIM="
        f"{guard_dim}: the guard rejects or misclassifies every embedding. Fix: EMBEDDING_GUARD_DIM={dim} in "
        f"{profile.compose.env_file}, then {_recreate(profile)}"
    )


@pytest.mark.proven_by("engine_input_mismatch", says="vl_jepa is not publishing")
def test_engine_output_dim_matches_live_embeddings(engine_inspection, mqtt_window, profile):
    _loaded(engine_inspection)
    dim = engine_inspection.number("output_dim")
    lengths: dict[int, int] = {}
    for m in mqtt_window.on(profile.topics.embeddings):
        obj, _ = m.decode()
        vector = get_path(obj, profile.fields.embedding) if obj is not None else MISSING
        if isinstance(vector, list):
            lengths[len(vector)] = lengths.get(len(vector), 0) + 1
    assert lengths, f"no embeddings on {profile.topics.embeddings} in the window: vl_jepa is not publishing"
    assert set(lengths) == {dim}, (
        f"live embeddings have lengths {dict(sorted(lengths.items()))} (length: count) but the engine outputs {dim}: "
        f"vl_jepa does not run this engine (still on the PyTorch encoder?). Fix: VL_JEPA_BACKEND=tensorrt and "
        f"VL_JEPA_ENGINE_PATH in {profile.compose.env_file}, then {_recreate(profile)}"
    )


@pytest.mark.proven_by("stale_centroids", says="they were collected with the old encoder")
def test_centroids_exist_at_the_engine_dim(centroids, engine_inspection, profile):
    _loaded(engine_inspection)
    dim = engine_inspection.number("output_dim")
    fix = RECOLLECT.format(n=profile.plan_b.min_centroid_samples)
    assert centroids.classes, f"the centroid file {centroids.path} holds no classes. Fix: {fix}"
    lengths = {name: len(c.get("centroid") or c.get("vector") or []) for name, c in centroids.classes.items()}
    wrong = {name: n for name, n in lengths.items() if n != dim}
    assert centroids.dim in (None, dim) and not wrong, (
        f"the centroids in {centroids.path} are {centroids.dim or sorted(set(lengths.values()))}-d "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(lengths.items()))}) but the engine outputs {dim}-d: they were "
        f"collected with the old encoder. Fix: {fix}"
    )


@pytest.mark.proven_by("few_centroid_samples", says="collect_game, then collect_non")
def test_centroids_have_enough_samples(centroids, profile, measure):
    if not centroids.classes:
        pytest.skip("no centroid classes (test_centroids_exist_at_the_engine_dim reports it)")
    fewest = min(int(c.get("samples") or c.get("count") or 0) for c in centroids.classes.values())
    measure(
        "centroids.min_samples_per_class",
        fewest,
        "samples",
        low=profile.plan_b.min_centroid_samples,
        doc="samples behind the least-sampled centroid class",
        fix=RECOLLECT.format(n=profile.plan_b.min_centroid_samples),
    )


@pytest.mark.proven_by("identical_centroids", says="two classes have the same centroid")
def test_centroids_are_distinct(centroids, profile, measure):
    vectors = {name: c.get("centroid") or c.get("vector") or [] for name, c in centroids.classes.items()}
    vectors = {k: v for k, v in vectors.items() if v}
    if len(vectors) < 2:
        pytest.skip("fewer than two centroid classes (test_centroids_exist_at_the_engine_dim reports it)")
    names = sorted(vectors)
    closest = math.inf
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            va, vb = vectors[a], vectors[b]
            if len(va) != len(vb):
                continue
            dot = sum(x * y for x, y in zip(va, vb, strict=True))
            na, nb = math.hypot(*va), math.hypot(*vb)
            cosine = dot / (na * nb) if na and nb else 1.0
            closest = min(closest, 1.0 - cosine)
    measure(
        "centroids.min_cosine_distance",
        closest,
        "",
        low=1e-3,
        doc="smallest cosine distance between two class centroids",
        fix="two classes have the same centroid: both were collected from the same frames. "
        + RECOLLECT.format(n=profile.plan_b.min_centroid_samples),
    )
