"""The encoder's own speed inside the running agent container: ``tools/jetson/bench_encoder.py``.

The script is copied into the agent container (like Task 2's ``check_torch_cuda.py``) and run there with
the container's torch and the agent's own encoder code; its median eager forward latency after warm-up, at
batch 1 and 8, fp32 and fp16, becomes one measurement each (lower is better; compared with the baseline).
fp16 on a CPU-only container is reported by the script as skipped and shows here as a skip note.

It loads the device's GPU for tens of seconds, so a plain ``pytest -m jetson`` (the acceptance run, which
must finish within the evidence window + 15 s) skips it; it runs when the selection names perf
(``-m perf``, ``-m "jetson and perf"``) or with ``JETSON_HIL_ENCODER_BENCH=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.jetson, pytest.mark.perf, pytest.mark.timeout(240)]

BENCH = Path(__file__).resolve().parents[2] / "tools" / "jetson" / "bench_encoder.py"
KNOWN_MODELS = ("dinov2-s14", "siglip2-b16", "tiny")
BENCH_TIMEOUT_S = 150
DTYPES = ("fp32", "fp16")
BATCHES = (1, 8)
WARMUP, ITERS = 3, 10


@pytest.fixture(scope="module")
def agent_model(mqtt_window, profile):
    """The encoder the agent publishes with (payload `model`), when bench_encoder.py knows it."""
    for m in mqtt_window.on(profile.topics.embeddings):
        obj, _ = m.decode()
        model = obj.get("model") if isinstance(obj, dict) else None
        if isinstance(model, str):
            return next((k for k in KNOWN_MODELS if k in model.lower()), None)
    return None


@pytest.fixture(scope="module")
def bench(request, agent_container, agent_model, profile, env_file, evidence):
    """bench_encoder.py's JSON result from inside the agent container, at the agent's input size
    (VL_JEPA_INPUT_SIZE, else the profile's plan_b input size); few iterations: the median is what counts."""
    if "perf" not in (request.config.option.markexpr or "") and os.environ.get("JETSON_HIL_ENCODER_BENCH") != "1":
        pytest.skip("the encoder benchmark runs with -m perf or JETSON_HIL_ENCODER_BENCH=1 (tens of seconds of GPU)")
    agent_container.require_running()
    if agent_model is None:
        pytest.skip(f"the agent's payloads name no encoder bench_encoder.py knows ({', '.join(KNOWN_MODELS)})")
    probe_dir = profile.containers.probe_dir
    input_size = env_file.get("VL_JEPA_INPUT_SIZE") or profile.plan_b.input_size
    agent_container.put_file(probe_dir, "bench_encoder.py", BENCH.read_bytes())
    out = agent_container.exec(
        [
            "python3",
            f"{probe_dir}/bench_encoder.py",
            "--json",
            "--models",
            agent_model,
            "--dtypes",
            ",".join(DTYPES),
            "--batches",
            ",".join(map(str, BATCHES)),
            "--input-size",
            str(input_size),
            "--warmup",
            str(WARMUP),
            "--iters",
            str(ITERS),
            "--timeout",
            str(BENCH_TIMEOUT_S - 15),
        ],
        timeout_s=BENCH_TIMEOUT_S,
    )
    text = out.stdout + (f"\n--- stderr ---\n{out.stderr}" if out.stderr.strip() else "")
    evidence.attach("bench_encoder.py output", text)
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail(
            f"bench_encoder.py printed no JSON in {agent_container.name} (exit {out.rc}): {out.stderr.strip()[-300:]}",
            pytrace=False,
        )
    return agent_model, result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_encoder_median_latency(bench, batch, dtype, perf_measure):
    model, result = bench
    skipped = result.get(f"{model}.{dtype}.skipped")
    if skipped:
        pytest.skip(f"bench_encoder.py skipped {model} {dtype}: {skipped}")
    key = f"{model}.{dtype}.b{batch}.eager_ms"
    perf_measure(
        f"perf.encoder_{dtype}_b{batch}_ms",
        result.get(key),
        "ms",
        low=0,
        doc=f"median eager forward of {model} at batch {batch}, {dtype}, after warm-up, inside the agent container",
        fix=f"bench_encoder.py measured nothing for {key}: {result.get('error') or 'see its output (attached)'}",
    )
