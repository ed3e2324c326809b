"""Runbook Task 3 (Plan A success path): GPU embeddings flow, with the right shape, sane values, at rate.

The runbook's `mosquitto_sub -C 1` looks at one message and `tegrastats` for 5 s by eye; here every
message of the session's evidence window is checked, and the GPU load is read from the telemetry
samples that overlap the flow. Runs only when Task 2 put the device on the Plan A success path.
"""

from __future__ import annotations

import math

import pytest

from jetson_hil.evidence import gpu_loads, summarize_embeddings
from jetson_hil.mqtt_recorder import json_objects
from jetson_hil.payloads import MISSING, embedding_vector, get_path

pytestmark = [pytest.mark.jetson, pytest.mark.mqtt, pytest.mark.task3, pytest.mark.plan_a]

RECREATE = "up -d --force-recreate vl_jepa embedding_guard scene policy"  # after the profile's compose command


def _recreate(profile) -> str:
    """The runbook's restart of the four services, with the device's compose command."""
    return f"then recreate the services: `{profile.compose.command} {RECREATE}`"


CONSTANT_FRACTION_MAX = 0.5


@pytest.fixture(scope="module")
def embeddings(mqtt_window, profile):
    """The window's vision/embeddings messages."""
    return mqtt_window.on(profile.topics.embeddings)


@pytest.fixture(scope="module")
def summary(embeddings, profile, mqtt_window):
    return summarize_embeddings(embeddings, profile, window_s=mqtt_window.seconds)


@pytest.fixture(scope="module")
def decoded(embeddings):
    """(message, object) for every message that is a JSON object."""
    return json_objects(embeddings)


def _need_messages(embeddings, profile):
    if not embeddings:
        pytest.skip(
            f"no {profile.topics.embeddings} messages in the window (test_embeddings_arrive_within_the_window "
            "reports it)"
        )


@pytest.mark.proven_by("config_cpu", says="VL_JEPA_DEVICE is 'cpu'")
def test_env_file_asks_for_the_gpu(env_file, profile):
    value = env_file.get("VL_JEPA_DEVICE")
    assert value == profile.expect.device, (
        f"VL_JEPA_DEVICE is {value!r} in {profile.compose.env_file}; Task 3 needs {profile.expect.device!r}. "
        f"Fix: set VL_JEPA_DEVICE={profile.expect.device} in {profile.compose.env_file}, {_recreate(profile)}"
    )


@pytest.mark.proven_by("fp16_off", says="VL_JEPA_FP16 is '0'")
def test_env_file_asks_for_fp16(env_file, profile):
    want = "1" if profile.expect.fp16 else "0"
    value = env_file.get("VL_JEPA_FP16")
    assert value == want, (
        f"VL_JEPA_FP16 is {value!r} in {profile.compose.env_file}; the profile expects {want!r} "
        f"(fp16 {'on' if profile.expect.fp16 else 'off'}). Fix: set VL_JEPA_FP16={want}, {_recreate(profile)}"
    )


@pytest.mark.proven_by("broker_down", says="MQTT broker 127.0.0.1")
@pytest.mark.proven_by("stalled_publisher", says="is not publishing")
def test_embeddings_arrive_within_the_window(embeddings, mqtt_window, profile, measure, agent_container):
    measure(
        "embeddings.count",
        len(embeddings),
        "messages",
        low=1,
        doc=f"messages on {profile.topics.embeddings} in the evidence window",
        fix=f"no embeddings in {mqtt_window.seconds:g} s: " + _not_publishing(profile, agent_container),
    )


def _not_publishing(profile, agent_container) -> str:
    """Who is not publishing, and where its log is: the container, or the host process (``[agents] mode``)."""
    if profile.agents.host_processes:
        return (
            f"vl_jepa (the host process matching {profile.agents.process_pattern!r}) is not publishing; look at "
            f"its service's log (`journalctl -u <its unit>`)"
        )
    return (
        f"vl_jepa ({agent_container.name}, {agent_container.status}) is not publishing; look at "
        f"`docker logs {agent_container.name}`"
    )


@pytest.mark.proven_by("malformed_payload", says="payload is invalid JSON")
def test_payloads_are_json_objects(embeddings, profile):
    _need_messages(embeddings, profile)
    bad = []
    for m in embeddings:
        _, problem = m.decode()
        if problem:
            bad.append(f"message {m.seq}: {problem}")
    assert not bad, (
        f"{len(bad)} of {len(embeddings)} {profile.topics.embeddings} payloads are not JSON objects: "
        + "; ".join(bad[:3])
        + ". Fix: the publisher must send one json.dumps(...) object per message"
    )


@pytest.mark.proven_by("nan_embeddings", says="not finite numbers")
def test_embedding_is_a_list_of_finite_numbers_of_the_expected_dim(decoded, embeddings, profile):
    _need_messages(embeddings, profile)
    path, dim = profile.fields.embedding, profile.expect.dim
    bad = []
    for m, obj in decoded:
        value = get_path(obj, path)
        if value is MISSING or not isinstance(value, list):
            bad.append(f"message {m.seq}: {path} is {'missing' if value is MISSING else type(value).__name__}")
        elif embedding_vector(obj, profile.fields) is None:
            bad.append(f"message {m.seq}: {path} holds values that are not finite numbers (NaN, inf or not numbers)")
        elif len(value) != dim:
            bad.append(f"message {m.seq}: {path} has length {len(value)}, expected {dim}")
    assert not bad, (
        f"{len(bad)} of {len(decoded)} embeddings are malformed: "
        + "; ".join(bad[:3])
        + ". Fix: NaN/inf usually come from fp16 overflow (run once with fp16 off, VL_JEPA_FP16 set to 0, to "
        f"confirm); a wrong length means the encoder differs from the profile's [expect] dim = {dim}"
    )


NORM_FIX = (
    "an embedding's L2 norm is out of the profile's [limits] norm_min..norm_max: a norm near zero is a blank "
    "input or unloaded weights; a huge one is an encoder whose activations blew up (an fp16 overflow, or a missing "
    "final norm layer). Fix: compare with a run with fp16 off (VL_JEPA_FP16 set to 0), and check the weights and "
    "the encoder's output layer"
)


@pytest.mark.proven_by("exploding_embeddings", says="activations blew up")
def test_embedding_values_are_sane(decoded, embeddings, profile, measure):
    _need_messages(embeddings, profile)
    limits = profile.limits
    norms, zero = [], 0
    for _, obj in decoded:
        vector = embedding_vector(obj, profile.fields)
        if vector is None:
            continue
        if not any(vector):
            zero += 1
        norms.append(math.hypot(*vector))
    if not norms:
        pytest.skip("no embedding is a list of finite numbers (the shape check reports it)")
    measure(
        "embeddings.all_zero",
        zero,
        "messages",
        high=0,
        fix="the encoder outputs all zeros: its weights did not load or its input is blank",
    )
    measure(
        "embeddings.norm_min",
        min(norms),
        "",
        low=limits.norm_min,
        high=limits.norm_max,
        fix=NORM_FIX,
    )
    measure(
        "embeddings.norm_max",
        max(norms),
        "",
        low=limits.norm_min,
        high=limits.norm_max,
        fix=NORM_FIX,
    )


@pytest.mark.proven_by("constant_embeddings", says="the encoder returns the same vector")
def test_embeddings_change_between_frames(summary, embeddings, profile, measure):
    _need_messages(embeddings, profile)
    measure(
        "embeddings.constant_fraction",
        summary.constant_fraction,
        "",
        high=CONSTANT_FRACTION_MAX,
        doc="fraction of frames whose embedding equals the previous frame's",
        fix="the encoder returns the same vector for different frames: a stuck camera or frame source, or a "
        "model returning a constant (check the frames reach vl_jepa and the model weights)",
    )


@pytest.mark.proven_by("slow_rate", says="the encoder is too slow")
@pytest.mark.proven_by("stalled_publisher", says="embeddings.rate_hz = 0.00 Hz")
def test_embeddings_rate(summary, embeddings, mqtt_window, profile, measure):
    measure(
        "embeddings.rate_hz",
        summary.rate_hz,
        "Hz",
        low=profile.limits.min_rate_hz,
        doc=f"messages on {profile.topics.embeddings} per second over the window",
        fix=f"{len(embeddings)} messages in {mqtt_window.seconds:g} s: the encoder is too slow (on the CPU?) or "
        f"stalls; compare infer_ms in the payloads and the GPU load",
    )


@pytest.mark.proven_by("seq_gaps", says="frames are dropped")
def test_seq_increases_without_gaps(summary, embeddings, profile):
    _need_messages(embeddings, profile)
    assert not summary.seq_resets, (
        f"{profile.fields.seq} went backwards {len(summary.seq_resets)} time(s) in the window, e.g. "
        f"{summary.seq_resets[0]}: vl_jepa restarted while publishing. Fix: look at `docker logs` and the "
        f"container's restart count (Task 2)"
    )
    gaps = [(a, b) for a, b in summary.seq_gaps if b > a]
    assert not gaps, (
        f"{len(gaps)} gap(s) of more than {profile.limits.max_seq_gap} missing {profile.fields.seq} numbers, e.g. "
        f"{gaps[0]}: frames are dropped (encoder slower than the frame source, or messages lost on the broker)"
    )


@pytest.mark.proven_by("config_cpu", says="device='cpu', expected 'cuda'")
@pytest.mark.proven_by("fp16_off", says="dtype='float32', expected float16")
def test_metadata_says_cuda_and_fp16(decoded, embeddings, profile):
    _need_messages(embeddings, profile)
    f, expect = profile.fields, profile.expect
    wrong = []
    for m, obj in decoded:
        device = get_path(obj, f.device)
        if device is not MISSING and str(device).split(":")[0] != expect.device.split(":")[0]:
            wrong.append(f"message {m.seq}: {f.device}={device!r}, expected {expect.device!r}")
        dtype = get_path(obj, f.dtype)
        if dtype is not MISSING and expect.fp16 and dtype not in ("float16", "torch.float16", "fp16", "half"):
            wrong.append(f"message {m.seq}: {f.dtype}={dtype!r}, expected float16")
        backend = get_path(obj, f.backend)
        if backend is not MISSING and backend != expect.backend:
            wrong.append(f"message {m.seq}: {f.backend}={backend!r}, expected {expect.backend!r}")
    assert not wrong, (
        f"{len(wrong)} payload field(s) contradict the GPU path: "
        + "; ".join(wrong[:3])
        + f". Fix: vl_jepa fell back (CUDA unusable in the container, see Task 2) or runs with other settings "
        f"than {profile.compose.env_file} says; {_recreate(profile)}"
    )


@pytest.mark.proven_by("config_cpu", says="they run on the CPU")
@pytest.mark.proven_by("dgpu_mig_no_utilisation", says="gr3d_percent_during_embeddings has no value")
@pytest.mark.proven_by("tegrastats_missing", "custom_carrier_minimal_image", says="tegrastats not found on the device")
@pytest.mark.proven_by("tegrastats_needs_root", says="sudo: a password is required")
@pytest.mark.may_fail_under("slow_rate", why="GPU load at a quarter of the rate sits near the 1 % limit")
def test_gpu_load_while_embeddings_flow(telemetry, telemetry_between, embeddings, profile, measure):
    _need_messages(embeddings, profile)
    start, end = embeddings[0].received_mono, embeddings[-1].received_mono
    samples = telemetry_between(start, end)
    loads = gpu_loads(samples)
    if not samples:
        pytest.fail(
            f"no tegrastats sample overlaps the embedding flow ({end - start:.1f} s): "
            f"{telemetry.error or 'tegrastats is not recording'} (see Task 1)",
            pytrace=False,
        )
    mean = sum(loads) / len(loads) if loads else None
    measure(
        "gpu.gr3d_percent_during_embeddings",
        mean,
        "%",
        low=profile.limits.gr3d_min_percent,
        doc=f"mean GR3D_FREQ over the {len(loads)} tegrastats samples that overlap the embedding flow",
        fix=f"the GPU is idle while {len(embeddings)} embeddings were computed: they run on the CPU. Fix: "
        f"VL_JEPA_DEVICE=cuda in {profile.compose.env_file} and CUDA working in the container (Task 2)",
    )


@pytest.mark.proven_by("config_cpu", says="CUDA working in the container")
def test_agent_process_computes_on_the_gpu(gpu_use_evidence, embeddings, summary, profile, attach):
    """The agent's own processes are among the GPU's users and spent GPU time: holds however fast the GPU."""
    _need_messages(embeddings, profile)
    claimed = summary.devices.most_common(1)[0][0] if summary.devices else None
    use = gpu_use_evidence(embeddings[0].received_mono, embeddings[-1].received_mono, claimed)
    attach("gpu-use", use.reason)
    assert use.agent_on_gpu, (
        f"{use.reason}. Fix: VL_JEPA_DEVICE=cuda in {profile.compose.env_file} and CUDA working in the container "
        "(Task 2); a GPU load from another process does not count"
    )
