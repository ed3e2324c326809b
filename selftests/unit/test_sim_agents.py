"""The simulated agents (``jetson_hil/sim/agents``): encoders, game frames, and the live MQTT pipeline.

The pipeline tests run the real agents as subprocesses against a real mosquitto on a loopback port:
``vl_jepa`` (tiny encoder, on the simulated GPU in fp16) -> ``embedding_guard`` -> ``scene`` -> ``policy``,
record every topic, validate the payloads against the JSON Schemas of ``docs/payloads.md`` and toggle
the live faults through the faults file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import torch
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
AGENTS = REPO / "jetson_hil" / "sim" / "agents"
GPU = REPO / "jetson_hil" / "sim" / "gpu"
DOC = REPO / "docs" / "payloads.md"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
sys.path.insert(0, str(AGENTS))

import embedding_guard  # noqa: E402
import encoders  # noqa: E402
import frames  # noqa: E402
import live_faults  # noqa: E402
import mqttio  # noqa: E402
import vl_jepa  # noqa: E402

SEED = 3
RATE = 10.0
TOPICS = ("vision/embeddings", "vision/guard", "progress/understanding", "act/result")


# ---------------------------------------------------------------------------------------------- encoders


def test_encoder_architectures_have_the_real_widths() -> None:
    dino = encoders.build_encoder("dinov2-s14", input_size=56)
    assert (dino.spec.dim, dino.spec.depth, dino.spec.heads, dino.spec.patch) == (384, 12, 6, 14)
    assert dino.pos_embed.shape == (1, 1 + 256, 384), "224 input -> class token + 256 patch tokens"
    assert dino.head is None and dino.cls_token is not None
    siglip = encoders.build_encoder("siglip2-b16", input_size=64)
    assert (siglip.spec.dim, siglip.spec.depth, siglip.spec.heads, siglip.spec.patch) == (768, 12, 12, 16)
    assert siglip.head is not None and siglip.cls_token is None
    with torch.no_grad():
        assert dino(torch.zeros(2, 3, 56, 56)).shape == (2, 384)
        assert siglip(torch.zeros(1, 3, 64, 64)).shape == (1, 768)
    with pytest.raises(ValueError, match="unknown encoder"):
        encoders.spec_for("resnet50")


def test_encoders_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    image = [frames.Game(seed=SEED).frame(0).image]
    outs = []
    for _ in range(2):
        model = encoders.build_encoder("tiny")
        with torch.no_grad():
            outs.append(model(encoders.preprocess(image, model.spec, 224)))
    assert outs[0].shape == (1, 64) and torch.equal(outs[0], outs[1])
    monkeypatch.setenv("VL_JEPA_TINY_DIM", "96")
    model = encoders.build_encoder("tiny")
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 96)


def test_engine_export_matches_pytorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = tmp_path / "tiny_224_fp16.engine"
    assert vl_jepa.export_engine(str(engine), "tiny", 224, None) == 64
    monkeypatch.setenv("VL_JEPA_BACKEND", "tensorrt")
    monkeypatch.setenv("VL_JEPA_ENGINE_PATH", str(engine))
    monkeypatch.setenv("VL_JEPA_ENCODER", "tiny")
    monkeypatch.setenv("VL_JEPA_DEVICE", "cpu")
    settings = vl_jepa.Settings()
    trt = vl_jepa.make_embedder(settings)
    assert (trt.dim, trt.model_name, trt.dtype_name, trt.device, trt.backend) == (
        64,
        "tiny",
        "float16",
        "cuda",
        "tensorrt",
    )
    monkeypatch.setenv("VL_JEPA_BACKEND", "pytorch")
    ref = vl_jepa.make_embedder(vl_jepa.Settings())
    images = [f.image for f in frames.Game(seed=SEED).samples("game", 2)]
    np.testing.assert_allclose(trt.embed(images), ref.embed(images), rtol=1e-3, atol=1e-3)
    monkeypatch.setenv("VL_JEPA_BACKEND", "tensorrt")
    monkeypatch.setenv("VL_JEPA_ENGINE_PATH", str(tmp_path / "missing.engine"))
    with pytest.raises(vl_jepa.EngineError, match=re.escape(f"engine not found: {tmp_path / 'missing.engine'}")):
        vl_jepa.make_embedder(vl_jepa.Settings())
    monkeypatch.setenv("VL_JEPA_ENGINE_PATH", str(engine))
    monkeypatch.setenv("VL_JEPA_INPUT_SIZE", "256")
    with pytest.raises(vl_jepa.EngineError, match="does not match VL_JEPA_INPUT_SIZE=256"):
        vl_jepa.make_embedder(vl_jepa.Settings())


# ------------------------------------------------------------------------------------------------ frames


def test_frames_are_deterministic_with_distinct_locations() -> None:
    a, b = frames.Game(seed=SEED), frames.Game(seed=SEED)
    for i in (0, 57, 311):
        fa, fb = a.frame(i), b.frame(i)
        assert np.array_equal(fa.image, fb.image) and (fa.location, fa.is_game) == (fb.location, fb.is_game)
    film = [a.frame(i) for i in range(600)]
    assert {f.location for f in film if f.is_game} == set(frames.LOCATIONS)
    non_game = [f for f in film if not f.is_game]
    assert non_game and all(f.location is None and f.scene in frames.NON_GAME for f in non_game)
    visits = [a.segment(i) for i in range(600)]
    assert all(s.length >= 20 for s in visits if s.is_game), "several seconds per location at 5 Hz"
    assert not np.array_equal(a.frame(1).image, a.frame(2).image), "the player moves"
    play = {loc: a.render(loc, 0)[40:240, 16:240].astype(int) for loc in frames.LOCATIONS}  # inside the HUD
    for x in frames.LOCATIONS:
        for y in frames.LOCATIONS:
            if x < y:
                assert np.abs(play[x] - play[y]).mean() > 20, (x, y)
    picks = a.samples("non_game", 10)
    assert len(picks) == 10 and not any(f.is_game for f in picks)


# ---------------------------------------------------------------------------------------- agent helpers


def test_faults_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "faults"
    faults = mqttio.Faults(str(path), interval=0.0)
    assert faults.active() == frozenset()
    path.write_text("nan_embeddings\n# comment\n\nslow_rate\n")
    assert faults.active() == {"nan_embeddings", "slow_rate"}
    path.write_text("no_actuation\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert "no_actuation" in faults and "slow_rate" not in faults
    path.unlink()
    assert faults.active() == frozenset()


def test_each_live_fault_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "faults"
    live = live_faults.LiveFaults(mqttio.Faults(str(path), interval=0.0))
    values = [0.5, -0.25, 1.0, 0.0, 2.0, 3.0]
    healthy = (live.publisher_stalled(), live.period(0.2), live.embedding(values, 7), live.next_seq(9),
               live.payload(b"{}xx", 3), live.flapped_location(["a", "b"]), live.actuation_error("wait"))
    assert healthy == (False, 0.2, values, 10, b"{}xx", None, None)
    assert live.guard_publishes() and live.scene_publishes() and live.actuates() and live.scene_takes_embeddings(True)

    path.write_text("constant_embeddings\nseq_gaps\nactuation_failures\n")
    assert live.embedding(values, 1) == values and live.embedding([9.0] * 6, 2) == values  # the first, again
    assert live.next_seq(9) == 15 and live.next_seq(10) == 11
    assert "actuator timeout: wait" in live.actuation_error("wait")
    assert live.period(0.2) == 0.2 and live.payload(b"{}xx", 3) == b"{}xx"

    path.write_text("nan_embeddings\nexploding_embeddings\nmalformed_payload\nslow_rate\nflapping_locations\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    out = live.embedding(values, 2)
    assert [i for i, v in enumerate(out) if math.isnan(v)] == [2] and out[1] == -0.25 * live_faults.EXPLODE_BY
    assert live.payload(b"{}xx", 3) == b"{}" and live.payload(b"{}xx", 4) == b"{}xx"
    assert live.period(0.2) == 0.2 * live_faults.SLOW_FACTOR
    assert live.flapped_location(["a", "b"]) != live.flapped_location(["a", "b"])

    path.write_text("stalled_publisher\nguard_silent\nscene_silent\nscene_stale_embeddings\nno_actuation\n")
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert live.publisher_stalled() and not live.guard_publishes() and not live.scene_publishes()
    assert not live.actuates() and not live.scene_takes_embeddings(True) and live.scene_takes_embeddings(False)


class OversleepingClock:
    """``time`` for mqttio on a busy machine: every sleep ends `late` seconds after it was due."""

    def __init__(self, late: float):
        self.now = 1000.0
        self.late = late

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late


def test_ticker_is_drift_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tick n is due at start + n * period: a late wake-up delays one tick and is not carried into the next."""
    clock = OversleepingClock(late=0.003)
    monkeypatch.setattr(mqttio, "time", clock)
    ticker = mqttio.Ticker(50.0)
    ticks = []
    for _ in range(10):
        ticker.wait()
        ticks.append(round(clock.now - 1000.0, 6))
    assert ticks == [0.0] + [round(n * 0.02 + 0.003, 6) for n in range(1, 10)]
    clock.now += 0.05  # one tick's work overran by two and a half periods
    ticker.wait()
    assert round(clock.now - 1000.0, 6) == 0.233, "the late tick runs at once"
    ticker.wait()
    assert round(clock.now - 1000.0, 6) == 0.243, "then back on the grid: the missed ticks are skipped, not bunched"


def test_ticker_never_runs_faster_than_its_rate() -> None:
    ticker = mqttio.Ticker(50.0)
    start = time.monotonic()
    for _ in range(10):
        ticker.wait()
    assert 0.17 <= time.monotonic() - start < 30  # nine periods at least; the upper bound is a hang guard


def _embedding(seq: int, vector: list[float], **extra: object) -> bytes:
    return mqttio.dumps({"seq": seq, "frame_id": seq, "model": "m", "embedding": vector, **extra})


def test_guard_collects_then_classifies(tmp_path: Path) -> None:
    path = tmp_path / "centroids.json"
    game, non_game = [1.0, 0.1, 0.0], [0.0, 0.2, 1.0]
    collector = embedding_guard.Guard("collect_game", 3, str(path))
    for i in range(3):
        out = collector.handle(_embedding(i + 1, game))
        assert out["state"] == "collecting" and out["samples"] == i + 1
    out = embedding_guard.Guard("collect_non", 3, str(path)).handle(_embedding(9, non_game))
    stored = json.loads(path.read_text())
    assert stored["dim"] == 3 and stored["classes"]["game"]["samples"] == 3
    assert stored["classes"]["non_game"]["samples"] == 1
    guard = embedding_guard.Guard("run", 3, str(path))
    assert guard.handle(_embedding(10, [0.9, 0.0, 0.1]))["verdict"] == "game"
    verdict = guard.handle(_embedding(11, [0.1, 0.1, 0.9]))
    assert verdict["verdict"] == "non_game" and verdict["state"] == "ok" and verdict["embedding_seq"] == 11
    assert guard.handle(b'{"seq": 12, "embed') is None
    assert guard.handle(_embedding(13, [math.nan, 0.0, 1.0]))["state"] == "error"
    wrong = embedding_guard.Guard("run", 768, str(path)).handle(_embedding(14, [0.0] * 384))
    assert wrong["state"] == "error" and wrong["error"] == "embedding dim 384 != EMBEDDING_GUARD_DIM 768"
    stale = embedding_guard.Guard("run", 4, str(path)).handle(_embedding(15, [0.0, 1.0, 0.0, 1.0]))
    assert stale["error"].startswith("centroid dim 3 != EMBEDDING_GUARD_DIM 4")


# --------------------------------------------------------------------------------------- payload schemas


def _doc_blocks(kind: str) -> list[tuple[str, object]]:
    text = DOC.read_text()
    found = re.findall(rf"<!-- {kind}: (\S+) -->\s*```json\n(.*?)```", text, flags=re.S)
    return [(name, json.loads(body)) for name, body in found]


def validate(payloads: dict[str, list]) -> list[str]:
    """The first 20 problems jsonschema's Draft 2020-12 validator finds, against the schemas of docs/payloads.md."""
    schemas = dict(_doc_blocks("schema"))
    problems = []
    for name, items in payloads.items():
        validator = Draft202012Validator(schemas[name])
        for i, payload in enumerate(items):
            for error in validator.iter_errors(payload):
                problems.append(f"{name}[{i}] {list(error.absolute_path)}: {error.message}")
    return problems[:20]


def test_doc_examples_validate_against_their_schemas() -> None:
    schemas = dict(_doc_blocks("schema"))
    assert set(TOPICS) | {"centroids.json", "locations.json"} <= set(schemas)
    for schema in schemas.values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    examples: dict[str, list] = {}
    for name, example in _doc_blocks("example"):
        examples.setdefault(name, []).append(example)
    assert set(examples) == set(schemas)
    assert validate(examples) == []
    broken = {"vision/embeddings": [{"seq": 0, "device": "gpu"}], "act/result": [{"ok": False}]}
    assert len(validate(broken)) >= 3


# -------------------------------------------------------------------------------------- live pipeline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not os.path.exists(MOSQUITTO):
        pytest.skip(f"mosquitto not installed at {MOSQUITTO}")
    folder = tmp_path_factory.mktemp("mosquitto")
    port = _free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60  # a hang guard: mosquitto listens within milliseconds
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Recorder:
    """Every message on every topic, with its arrival time."""

    def __init__(self, port: int):
        self.lock = threading.Lock()
        self.messages: list[tuple[float, str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"recorder-{os.getpid()}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("#")
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((time.time(), message.topic, bytes(message.payload)))

    def timed(self, start: float, topic: str) -> list[tuple[float, bytes]]:
        """(arrival time, raw payload) of the messages on `topic` that arrived at or after `start`."""
        with self.lock:
            return [(t, p) for t, top, p in self.messages if top == topic and t >= start]

    def since(self, start: float, topic: str, raw: bool = False) -> list:
        picked = self.timed(start, topic)
        if raw:
            return [p for _, p in picked]
        out = []
        for _, payload in picked:
            with contextlib.suppress(ValueError):
                out.append(json.loads(payload))
        return out

    def first(self, start: float, topic: str, what: Callable[[dict], bool]) -> float | None:
        """Arrival time of the first decodable message on `topic` since `start` for which `what` holds."""
        for t, payload in self.timed(start, topic):
            with contextlib.suppress(ValueError):
                if what(json.loads(payload)):
                    return t
        return None

    def wait_for(self, what: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return True
            time.sleep(0.05)
        return what()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Pipeline:
    def __init__(self, root: Path, port: int):
        self.root = root
        self.port = port
        self.faults = root / "faults"
        self.data = root / "data"
        self.gpu = root / "gpu"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.faults.write_text("")
        self.data.mkdir()
        (root / "dev").mkdir()
        for node in ("nvmap", "nvhost-gpu"):
            (root / "dev" / node).touch()
        self.gpu.mkdir()
        (self.gpu / "device.json").write_text(
            json.dumps(
                {
                    "name": "Orin",
                    "capability": [8, 7],
                    "driver_cuda": "12.6",
                    "total_memory": 33554432000,
                    "faults": [],
                }
            )
        )
        (root / "image.env").write_text("IMAGE_L4T=36.4.0\nTORCH_CUDA=12.6\nTORCH_CUDNN=90300\nTORCH_ARCH_LIST=sm_87\n")
        (root / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic\n")

    def env(self, sim_gpu: bool = False, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JETSON_SIM_", "VL_JEPA_", "EMBEDDING_"))}
        env.pop("PYTHONPATH", None)
        env.update(
            MQTT_HOST="127.0.0.1",
            MQTT_PORT=str(self.port),
            JETSON_SIM_FAULTS_FILE=str(self.faults),
            VL_JEPA_ENCODER="tiny",
            VL_JEPA_SEED=str(SEED),
            PYTHONUNBUFFERED="1",
        )
        if sim_gpu:
            env.update(
                PYTHONPATH=str(GPU),
                JETSON_SIM_IMAGE_ENV=str(self.root / "image.env"),
                JETSON_SIM_GPU_DIR=str(self.gpu),
                JETSON_SIM_DEV_DIR=str(self.root / "dev"),
                JETSON_SIM_RELEASE_FILE=str(self.root / "nv_tegra_release"),
            )
        env.update(extra)
        return env

    def start(self, name: str, script: str, env: dict[str, str], *args: str) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        self.logs[name] = log
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                [sys.executable, str(AGENTS / script), *args], env=env, stdout=fh, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return self.logs[name].read_text()

    def wait_log(self, name: str, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return True
            time.sleep(0.05)
        return False

    def set_faults(self, *names: str) -> float:
        """Write the faults file; returns the time it was written (the agents re-read it at most once a second)."""
        self.faults.write_text("".join(f"{n}\n" for n in names))
        return time.time()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def pipeline(broker: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Recorder]]:
    pipe = Pipeline(tmp_path_factory.mktemp("pipeline"), broker)
    recorder = Recorder(broker)
    try:
        collect = subprocess.run(
            [sys.executable, str(AGENTS / "vl_jepa.py"), "--collect-centroids", str(pipe.data / "centroids.json")],
            env=pipe.env(VL_JEPA_DEVICE="cpu"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert collect.returncode == 0, collect.stdout + collect.stderr
        guard_env = {
            "EMBEDDING_GUARD_DIM": "64",
            "EMBEDDING_GUARD_CENTROIDS": str(pipe.data / "centroids.json"),
        }
        pipe.start("guard", "embedding_guard.py", pipe.env(EMBEDDING_GUARD_MODE="run", **guard_env))
        wrong = dict(guard_env, EMBEDDING_GUARD_DIM="768", EMBEDDING_GUARD_TOPIC="test/guard_wrong_dim")
        pipe.start("guard_wrong_dim", "embedding_guard.py", pipe.env(**wrong))
        collecting = dict(
            guard_env,
            EMBEDDING_GUARD_MODE="collect_game",
            EMBEDDING_GUARD_CENTROIDS=str(pipe.root / "collected.json"),
            EMBEDDING_GUARD_TOPIC="test/guard_collect",
        )
        pipe.start("guard_collect", "embedding_guard.py", pipe.env(**collecting))
        pipe.start("scene", "scene.py", pipe.env(SCENE_LOCATIONS=str(pipe.data / "locations.json"), SCENE_RATE="4"))
        pipe.start("policy", "policy.py", pipe.env())
        vl_env = pipe.env(sim_gpu=True, VL_JEPA_DEVICE="cuda", VL_JEPA_FP16="1", VL_JEPA_RATE=str(RATE))
        pipe.start("vl_jepa", "vl_jepa.py", vl_env)
        started = time.time()
        acting = lambda: any(r["action"].startswith("move_to:") for r in recorder.since(started, "act/result"))  # noqa: E731
        assert recorder.wait_for(acting, 180), {  # a hang guard: about 10 s here, torch imports included
            n: pipe.log(n)[-2000:] for n in pipe.logs
        }
        yield pipe, recorder
    finally:
        pipe.stop()
        recorder.close()


# A window of the healthy pipeline ends when it holds this many messages a topic (about 5 s at RATE).
HEALTHY_COUNTS = {"vision/embeddings": 50, "vision/guard": 20, "progress/understanding": 20, "act/result": 10}


@pytest.fixture(scope="module")
def healthy(pipeline: tuple[Pipeline, Recorder]) -> dict[str, list]:
    """A window of the healthy pipeline with `HEALTHY_COUNTS` messages, all topics decoded."""
    pipe, recorder = pipeline
    start = time.time()

    def counts() -> dict[str, int]:
        return {topic: len(recorder.since(start, topic)) for topic in TOPICS}

    full = lambda: all(n >= HEALTHY_COUNTS[topic] for topic, n in counts().items())  # noqa: E731
    assert recorder.wait_for(full, 120), counts()  # a hang guard: about 5 s
    window = {topic: recorder.since(start, topic) for topic in TOPICS}
    window["clients"] = [json.loads(p.read_text()) for p in (pipe.gpu / "clients").glob("*.json")]
    return window


def test_pipeline_payloads_match_the_documented_schemas(healthy: dict[str, list]) -> None:
    for topic in TOPICS:
        assert len(healthy[topic]) >= 5, f"too few messages on {topic}: {len(healthy[topic])}"
    assert validate({topic: healthy[topic] for topic in TOPICS}) == []


def test_vl_jepa_publishes_fp16_cuda_embeddings_at_the_rate(
    healthy: dict[str, list], pipeline: tuple[Pipeline, Recorder]
) -> None:
    pipe, _ = pipeline
    embeddings = healthy["vision/embeddings"]
    assert {(e["model"], e["backend"], e["device"], e["dtype"], e["dim"]) for e in embeddings} == {
        ("tiny", "pytorch", "cuda", "float16", 64)
    }
    assert all(len(e["embedding"]) == 64 and all(math.isfinite(v) for v in e["embedding"]) for e in embeddings)
    seqs = [e["seq"] for e in embeddings]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq +1 per message"
    span = embeddings[-1]["ts"] - embeddings[0]["ts"]
    rate = (len(embeddings) - 1) / span
    # A plausible band, not a precision figure: a loaded machine makes the ticker skip late ticks. How close the
    # published rate comes to the configured one is measured by bench/perf_fidelity.py (docs/performance.md).
    assert 0.5 * RATE <= rate <= 1.5 * RATE, rate
    assert "using CUDA device 'Orin' (float16)" in pipe.log("vl_jepa")
    (client,) = [c for c in healthy["clients"] if c["pid"] == pipe.procs["vl_jepa"].pid]
    assert client["busy_ns"] > 0 and "vl_jepa.py" in " ".join(client["cmdline"])


def test_guard_verdicts_match_the_game(healthy: dict[str, list]) -> None:
    game = frames.Game(seed=SEED)
    verdicts = [g for g in healthy["vision/guard"] if g["state"] == "ok"]
    assert len(verdicts) == len(healthy["vision/guard"]) >= 20
    truth = ["game" if game.frame(g["frame_id"]).is_game else "non_game" for g in verdicts]
    right = sum(g["verdict"] == t for g, t in zip(verdicts, truth, strict=True))
    assert right / len(verdicts) >= 0.9, Counter(zip(truth, (g["verdict"] for g in verdicts), strict=True))


def test_scene_locations_are_stable_and_right(healthy: dict[str, list]) -> None:
    game = frames.Game(seed=SEED)
    by_seq = {e["seq"]: e["frame_id"] for e in healthy["vision/embeddings"]}
    understanding = [u for u in healthy["progress/understanding"] if u["embeddings"]["last_seq"] in by_seq]
    assert len(understanding) >= 10
    assert all(u["embeddings"]["dim"] == 64 and u["embeddings"]["guard"] in ("game", "non_game") for u in understanding)
    assert all(0.5 * RATE <= u["embeddings"]["rate_hz"] <= 1.5 * RATE for u in understanding[-5:])  # plausible
    truth = []
    for u in understanding:
        frame_id = by_seq[u["embeddings"]["last_seq"]]
        while frame_id > 0 and not game.frame(frame_id).is_game:
            frame_id -= 1
        truth.append(game.frame(frame_id).location)
    current = [u["locations"]["current"] for u in understanding]
    agree = sum(c == t for c, t in zip(current, truth, strict=True)) / len(current)
    assert agree >= 0.7, list(zip(current, truth, strict=True))
    changes = sum(a != b for a, b in zip(current, current[1:], strict=False))
    true_changes = sum(a != b for a, b in zip(truth, truth[1:], strict=False))
    assert changes <= true_changes + 1, (current, truth)


def test_policy_acts_on_every_understanding(healthy: dict[str, list]) -> None:
    results = healthy["act/result"]
    assert all(r["ok"] is True and r["action"].startswith("move_to:") for r in results)
    assert all(0 <= r["latency_ms"] < 10_000 for r in results)  # a real, positive delay; the bound is a sanity one
    acted = {r["understanding_seq"] for r in results}
    seen = {u["seq"] for u in healthy["progress/understanding"]}
    assert len(acted & seen) >= len(seen) - 2


def test_guard_with_wrong_dim_reports_the_mismatch(
    healthy: dict[str, list], pipeline: tuple[Pipeline, Recorder]
) -> None:
    pipe, recorder = pipeline
    wrong = recorder.since(0, "test/guard_wrong_dim")
    assert wrong and all(w["state"] == "error" and w["dim"] == 768 for w in wrong)
    assert {w["error"] for w in wrong} == {"embedding dim 64 != EMBEDDING_GUARD_DIM 768"}
    assert pipe.log("guard_wrong_dim").count("embedding dim 64 != EMBEDDING_GUARD_DIM 768") == 1


def test_guard_collect_mode_accumulates_centroids(
    healthy: dict[str, list], pipeline: tuple[Pipeline, Recorder]
) -> None:
    pipe, recorder = pipeline
    collected = json.loads((pipe.root / "collected.json").read_text())
    assert collected["dim"] == 64 and collected["classes"]["game"]["samples"] >= 40
    states = recorder.since(0, "test/guard_collect")
    assert states[-1]["state"] == "collecting" and states[-1]["samples"] >= states[0]["samples"] + 30


FAULT_WAIT_S = 60  # a hang guard for each wait of the live faults: they take a second or two
REREAD_S = 1.2  # a message stamped this long after the faults file was written was made under the new faults


def _flapping_since(rec: Recorder, start: float) -> float | None:
    """Arrival of the first understanding that changed location right after a change: only flapping does that
    (a real change needs several votes), so from there on every message flaps."""
    current = []
    for t, payload in rec.timed(start, "progress/understanding"):
        with contextlib.suppress(ValueError):
            current.append((t, json.loads(payload)["locations"]["current"]))
    for (_, a), (_, b), (t, c) in zip(current, current[1:], current[2:], strict=False):
        if a != b != c:
            return t
    return None


def test_live_faults(healthy: dict[str, list], pipeline: tuple[Pipeline, Recorder]) -> None:
    """Each phase starts where every agent's messages show its fault (the agents re-read the faults file at
    most once a second); every wait is on a condition, bounded by a hang guard."""
    pipe, rec = pipeline

    written = pipe.set_faults("nan_embeddings", "flapping_locations", "actuation_failures")

    def faulty_from() -> float | None:
        marks = [
            rec.first(written, "vision/embeddings", lambda e: any(math.isnan(v) for v in e["embedding"])),
            rec.first(written, "vision/guard", lambda g: g["state"] == "error"),
            rec.first(written, "act/result", lambda r: r["ok"] is False),
            _flapping_since(rec, written),
        ]
        return None if None in marks else max(marks)

    def enough() -> bool:
        start = faulty_from()
        return start is not None and len(rec.since(start, "progress/understanding")) >= 8

    assert rec.wait_for(enough, FAULT_WAIT_S), {n: pipe.log(n)[-1000:] for n in pipe.logs}
    start = faulty_from()
    embeddings = rec.since(start, "vision/embeddings")
    assert embeddings and all(any(math.isnan(v) for v in e["embedding"]) for e in embeddings)
    assert all(g["state"] == "error" for g in rec.since(start, "vision/guard"))
    current = [u["locations"]["current"] for u in rec.since(start, "progress/understanding")]
    assert sum(a != b for a, b in zip(current, current[1:], strict=False)) >= len(current) - 2
    results = rec.since(start, "act/result")
    assert results and all(r["ok"] is False and r["error"].startswith("actuator timeout") for r in results)
    assert validate({"vision/embeddings": embeddings, "act/result": results}) == []

    written = pipe.set_faults("constant_embeddings", "malformed_payload", "no_actuation")

    def malformed_from() -> float | None:
        for t, payload in rec.timed(written, "vision/embeddings"):
            try:
                json.loads(payload)
            except ValueError:
                return t
        return None

    def fresh_understanding() -> list[dict]:
        """Understandings the policy handled after it re-read the faults (it reads them on receipt)."""
        return [u for u in rec.since(written, "progress/understanding") if u["ts"] >= written + REREAD_S]

    def enough_constant() -> bool:
        start = malformed_from()
        return start is not None and len(rec.since(start, "vision/embeddings", raw=True)) >= 10

    assert rec.wait_for(lambda: enough_constant() and len(fresh_understanding()) >= 4, FAULT_WAIT_S)
    start = malformed_from()
    raw = rec.since(start, "vision/embeddings", raw=True)
    decoded = rec.since(start, "vision/embeddings")
    assert len(raw) >= 10 and 0 < len(raw) - len(decoded) <= len(raw) // 2
    assert len({json.dumps(e["embedding"]) for e in decoded}) == 1
    assert len({e["frame_id"] for e in decoded}) == len(decoded)
    acted_on = {r["understanding_seq"] for r in rec.since(written, "act/result")}
    assert acted_on.isdisjoint(u["seq"] for u in fresh_understanding())
    assert pipe.wait_log("guard", "invalid JSON on vision/embeddings", FAULT_WAIT_S)

    written = pipe.set_faults("slow_rate")
    # The publisher reads the faults before each tick: every embedding after one stamped REREAD_S after the
    # write is slow; the first slow wait still ends on the fast schedule, so two more are left out.
    slow = lambda: [e for e in rec.since(written, "vision/embeddings") if e["ts"] >= written + REREAD_S][2:]  # noqa: E731
    assert rec.wait_for(lambda: len(slow()) >= 6, FAULT_WAIT_S)
    stamps = [e["ts"] for e in slow()]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert RATE / 4 * 0.5 <= rate <= RATE / 4 * 1.5, f"{rate:.2f} Hz with slow_rate, {RATE:g} Hz configured"

    written = pipe.set_faults("stalled_publisher")

    def stale(since: float) -> list[dict]:
        return [u for u in rec.since(since, "progress/understanding") if (u["embeddings"]["age_s"] or 0) > 1.5]

    assert rec.wait_for(lambda: stale(written), FAULT_WAIT_S)
    mark = time.time()  # the scene has had no embedding for 1.5 s: nothing is in flight
    assert rec.wait_for(lambda: len(stale(mark)) >= 4, FAULT_WAIT_S)
    assert rec.since(mark, "vision/embeddings") == []
    assert pipe.procs["vl_jepa"].poll() is None, "a stalled publisher keeps running"

    pipe.set_faults()
    start = time.time()
    assert rec.wait_for(lambda: len(rec.since(start, "vision/embeddings")) >= 3, FAULT_WAIT_S)
    assert rec.wait_for(lambda: any(r["ok"] for r in rec.since(start, "act/result")), FAULT_WAIT_S)


def test_vl_jepa_falls_back_and_waits_for_its_engine(pipeline: tuple[Pipeline, Recorder]) -> None:
    """Without a working GPU it says why and runs on the CPU; without its engine it publishes nothing."""
    pipe, _ = pipeline
    dead = str(_free_port())
    pipe.start("vl_cpu", "vl_jepa.py", pipe.env(VL_JEPA_DEVICE="cuda", VL_JEPA_FP16="1", MQTT_PORT=dead))
    missing = pipe.root / "models" / "dinov2_small_224_f1_fp16.engine"
    pipe.start(
        "vl_trt",
        "vl_jepa.py",
        pipe.env(VL_JEPA_BACKEND="tensorrt", VL_JEPA_ENGINE_PATH=str(missing), MQTT_PORT=dead),
    )
    pipe.start("vl_bad", "vl_jepa.py", pipe.env(VL_JEPA_INPUT_SIZE="224px", MQTT_PORT=dead))
    # Hang guards: torch loads in a few seconds here, three processes at once.
    assert pipe.wait_log("vl_cpu", "encoder ready: model=tiny backend=pytorch device=cpu", 120), pipe.log("vl_cpu")
    log = pipe.log("vl_cpu")
    assert "VL_JEPA_DEVICE=cuda but torch.cuda.is_available() is False" in log
    assert "CPU-only build (torch.version.cuda is None); falling back to CPU" in log
    assert pipe.wait_log("vl_cpu", f"MQTT broker 127.0.0.1:{dead} unreachable; retrying with backoff", 60)
    assert pipe.wait_log("vl_trt", f"engine not found: {missing}", 60), pipe.log("vl_trt")
    assert pipe.procs["vl_trt"].poll() is None
    assert pipe.procs["vl_bad"].wait(timeout=120) == 2
    assert "invalid VL_JEPA_INPUT_SIZE='224px': expected an integer" in pipe.log("vl_bad")
