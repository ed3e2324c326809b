"""The simulated ``vl_jepa`` agent: game frames -> image embeddings on ``vision/embeddings``.

Run: ``python3 /app/agents/vl_jepa.py`` (the service), or one of the tools:

* ``--export-engine PATH [--encoder dinov2-s14] [--input-size 224]`` writes the encoder as an ONNX model,
  the simulator's stand-in for a TensorRT engine (e.g. ``dinov2_small_224_f1_fp16.engine``); precision
  is recorded from ``--precision`` (default: ``fp16`` when the file name says so, else ``fp32``).
* ``--collect-centroids PATH [--samples 40]`` embeds ``samples`` game and ``samples`` non-game frames
  with the configured encoder/backend and writes the guard's centroids to PATH and the scene's location
  centroids to ``locations.json`` beside it.

Environment (service and tools): ``VL_JEPA_ENCODER`` (dinov2-s14 | siglip2-b16 | tiny), ``VL_JEPA_DEVICE``
(cuda | cpu), ``VL_JEPA_FP16`` (1 | 0; fp16 only on cuda), ``VL_JEPA_BACKEND`` (pytorch | tensorrt),
``VL_JEPA_ENGINE_PATH``, ``VL_JEPA_INPUT_SIZE`` (224), ``VL_JEPA_RATE`` (Hz, 5), ``VL_JEPA_LATENCY_MS``
(extra delay before each publish, 0), ``VL_JEPA_SEED`` (the game's seed, 0), ``VL_JEPA_TINY_DIM`` (64),
plus the MQTT variables of ``mqttio``. Live faults (``live_faults``): ``nan_embeddings``, ``constant_embeddings``,
``exploding_embeddings``, ``seq_gaps``, ``stalled_publisher``, ``slow_rate``, ``malformed_payload``.

Like a real agent, it falls back to the CPU (and says so in its log and in ``device``) when CUDA was
asked for but does not work. With ``VL_JEPA_BACKEND=tensorrt`` and no engine file it logs
``engine not found: <path>`` and keeps running without publishing, re-checking every few seconds, so
the container stays up for ``docker exec`` diagnostics; a bad setting (``VL_JEPA_INPUT_SIZE=224px``)
ends it with status 2.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import mqttio  # noqa: E402
import numpy as np  # noqa: E402
from frames import LOCATIONS, Game  # noqa: E402
from live_faults import LiveFaults  # noqa: E402

AGENT = "vl_jepa"
ENGINE_PATH = "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine"
ENGINE_RETRY_S = 5.0
TRT_CUDA_HELP = (
    "Please check your CUDA installation: http://docs.nvidia.com/cuda/cuda-installation-guide-linux/index.html"
)


def say(*parts: str) -> None:
    mqttio.log(AGENT, " ".join(parts))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Settings:
    """The agent's environment, validated once; a bad value ends the agent with status 2."""

    def __init__(self, encoder: str | None = None, input_size: int | None = None):
        env = os.environ
        self.encoder = encoder or env.get("VL_JEPA_ENCODER") or "dinov2-s14"
        self.device = (env.get("VL_JEPA_DEVICE") or "cuda").strip().lower()
        self.fp16 = (env.get("VL_JEPA_FP16") or "0").strip().lower() in ("1", "true", "yes", "on")
        self.backend = (env.get("VL_JEPA_BACKEND") or "pytorch").strip().lower()
        self.engine_path = env.get("VL_JEPA_ENGINE_PATH") or ENGINE_PATH
        self.input_size = input_size or mqttio.env_int("VL_JEPA_INPUT_SIZE", 224, AGENT, low=16)
        self.rate = mqttio.env_number("VL_JEPA_RATE", 5.0, AGENT, low=0.01)
        self.latency_ms = mqttio.env_number("VL_JEPA_LATENCY_MS", 0.0, AGENT, low=0.0)
        self.seed = mqttio.env_int("VL_JEPA_SEED", 0, AGENT)
        if self.device.startswith("cuda"):
            self.device = "cuda"
        if self.device not in ("cuda", "cpu"):
            say(f"invalid VL_JEPA_DEVICE={self.device!r}: expected 'cuda' or 'cpu'")
            raise SystemExit(2)
        if self.backend not in ("pytorch", "tensorrt"):
            say(f"invalid VL_JEPA_BACKEND={self.backend!r}: expected 'pytorch' or 'tensorrt'")
            raise SystemExit(2)

    def describe(self) -> str:
        if self.backend == "tensorrt":
            return f"backend=tensorrt engine={self.engine_path} input_size={self.input_size} rate={self.rate:g}Hz"
        return (
            f"backend=pytorch encoder={self.encoder} device={self.device} fp16={int(self.fp16)} "
            f"input_size={self.input_size} rate={self.rate:g}Hz"
        )


class TorchEmbedder:
    """The encoder in PyTorch on the requested device, falling back to the CPU when CUDA fails."""

    backend = "pytorch"

    def __init__(self, settings: Settings):
        import torch
        from encoders import build_encoder, spec_for

        try:
            self.spec = spec_for(settings.encoder)
        except ValueError as exc:
            say(f"invalid VL_JEPA_ENCODER: {exc}")
            raise SystemExit(2) from None
        self.torch = torch
        torch.set_grad_enabled(False)
        self.model_name = settings.encoder
        self.input_size = settings.input_size
        self.dim = self.spec.dim
        self.cpu_model = build_encoder(settings.encoder, settings.input_size)
        self.model = self.cpu_model
        self.device = "cpu"
        self.dtype = torch.float32
        if settings.device == "cuda":
            self._try_cuda(settings.fp16)
        elif settings.fp16:
            say("VL_JEPA_FP16=1 applies to cuda only; running float32 on the CPU")

    def _try_cuda(self, fp16: bool) -> None:
        torch = self.torch
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            available = torch.cuda.is_available()
        for w in caught:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
        if not available:
            if torch.version.cuda is None:
                why = f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None)"
            elif caught:
                why = str(caught[-1].message).strip().splitlines()[0].split(" (Triggered internally at ")[0]
            else:
                why = "no CUDA device is visible in the container"
            say(f"VL_JEPA_DEVICE=cuda but torch.cuda.is_available() is False: {why}; falling back to CPU")
            return
        caught = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = self.cpu_model.to("cuda")
                if fp16:
                    model = model.half()
                self.model, self.device = model, "cuda"
                self.dtype = torch.float16 if fp16 else torch.float32
                name = torch.cuda.get_device_name(0)
                self._forward(np.zeros((1, 3, self.input_size, self.input_size), np.float32))
            say(f"using CUDA device {name!r} ({'float16' if fp16 else 'float32'})")
        except Exception as exc:
            for w in caught:
                sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
            traceback.print_exc(file=sys.stderr)
            say(f"CUDA warm-up failed: {_first_line(exc)}; falling back to CPU")
            from encoders import build_encoder

            self.cpu_model = self.model = build_encoder(self.model_name, self.input_size)
            self.device, self.dtype = "cpu", torch.float32
            return
        for w in caught:
            sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(batch)
        if self.device == "cuda":
            x = x.to("cuda", self.dtype)
        out = self.model(x)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return out.float().cpu().numpy()

    @property
    def dtype_name(self) -> str:
        return "float16" if self.dtype == self.torch.float16 else "float32"

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        from encoders import preprocess

        return self._forward(preprocess(images, self.spec, self.input_size).numpy())


class EngineError(RuntimeError):
    """The engine cannot be used (missing, unreadable, wrong shape, no GPU); the text is what to log."""


class EngineEmbedder:
    """The "TensorRT engine": an ONNX model run by onnxruntime on the simulated GPU's time account."""

    backend = "tensorrt"
    device = "cuda"

    def __init__(self, settings: Settings):
        path = settings.engine_path
        if not os.path.isfile(path):
            raise EngineError(f"engine not found: {path}")
        self.sim = self._gpu()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EngineError(f"engine deserialization failed: {path}: {_first_line(exc)}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        shape = tuple(inp.shape)
        if len(shape) != 4 or shape[2] != settings.input_size or shape[3] != settings.input_size:
            raise EngineError(
                f"engine input {inp.name} shape {shape} does not match VL_JEPA_INPUT_SIZE={settings.input_size}"
            )
        self.input_size = settings.input_size
        self.dim = int(out.shape[-1])
        self.model_name = meta.get("model") or os.path.splitext(os.path.basename(path))[0]
        precision = meta.get("precision") or ("fp16" if "fp16" in os.path.basename(path) else "fp32")
        self.dtype_name = "float16" if precision == "fp16" else "float32"
        from encoders import spec_for

        guess = {384: "dinov2-s14", 768: "siglip2-b16"}.get(self.dim, "tiny")
        self.spec = spec_for(meta.get("encoder") or guess)

    @staticmethod
    def _gpu() -> Any:
        try:
            import jetson_sim_cuda
        except ImportError:
            return None  # not in a simulated image: run the engine as it is
        sim = jetson_sim_cuda.runtime()
        if sim is None:
            return None
        if sim.cpu_only or not sim.available:
            code = 35 if "returned 35" in (sim.init_warning or "") else 100
            raise EngineError(f"[TRT] [W] CUDA initialization failure with error: {code}. {TRT_CUDA_HELP}")
        sim.require()
        return sim

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        from encoders import preprocess

        batch = preprocess(images, self.spec, self.input_size).numpy()
        start = time.perf_counter_ns()
        outs = [self.session.run(None, {self.input_name: batch[i : i + 1]})[0] for i in range(len(batch))]
        if self.sim is not None:
            self.sim.add_busy(time.perf_counter_ns() - start)
        return np.concatenate(outs, axis=0).astype(np.float32)


def make_embedder(settings: Settings) -> TorchEmbedder | EngineEmbedder:
    if settings.backend == "tensorrt":
        return EngineEmbedder(settings)
    return TorchEmbedder(settings)


def _round(values: np.ndarray) -> list[float]:
    """About six significant digits: JSON stays small, cosine similarities are unaffected."""
    return [float(f"{v:.6g}") for v in values.tolist()]


class Publisher:
    """The service loop: one frame per tick, embedded and published with drift-free timing."""

    def __init__(self, settings: Settings, bus: mqttio.Bus, faults: LiveFaults):
        self.settings = settings
        self.bus = bus
        self.faults = faults
        self.game = Game(seed=settings.seed)
        self.seq = 0
        self.frame_index = 0
        self.embedder: TorchEmbedder | EngineEmbedder | None = None
        self._engine_error: str | None = None
        self._engine_checked = -math.inf
        self._last_error: str | None = None

    def _ensure_embedder(self) -> bool:
        if self.embedder is not None:
            return True
        now = time.monotonic()
        if now - self._engine_checked < ENGINE_RETRY_S:
            return False
        self._engine_checked = now
        try:
            self.embedder = make_embedder(self.settings)
        except EngineError as exc:
            if str(exc) != self._engine_error:
                self._engine_error = str(exc)
                say(f"{exc}; publishing nothing until it is fixed (retrying every {ENGINE_RETRY_S:g}s)")
            return False
        e = self.embedder
        say(
            f"encoder ready: model={e.model_name} backend={e.backend} device={e.device}",
            f"dtype={e.dtype_name} dim={e.dim}",
        )
        return True

    def step(self) -> None:
        if self.faults.publisher_stalled() or not self._ensure_embedder():
            return
        embedder = self.embedder
        assert embedder is not None
        frame = self.game.frame(self.frame_index)
        self.frame_index += 1
        start = time.perf_counter()
        try:
            vector = embedder.embed([frame.image])[0]
        except Exception as exc:
            text = _first_line(exc)
            if text != self._last_error:
                self._last_error = text
                traceback.print_exc(file=sys.stderr)
                say(f"inference failed on frame {frame.frame_id}: {text}")
            return
        infer_ms = (time.perf_counter() - start) * 1000.0
        values = self.faults.embedding(_round(vector), self.seq)
        stamped = time.time()  # the device's timestamp: the embedding is ready
        if self.settings.latency_ms > 0:  # an injected delay between the device's timestamp and the publish
            time.sleep(self.settings.latency_ms / 1000.0)
        self.seq = self.faults.next_seq(self.seq)
        payload = {
            "seq": self.seq,
            "ts": round(stamped, 6),
            "frame_id": frame.frame_id,
            "model": embedder.model_name,
            "backend": embedder.backend,
            "device": embedder.device,
            "dtype": embedder.dtype_name,
            "dim": len(values),
            "embedding": values,
            "infer_ms": round(infer_ms, 3),
        }
        self.bus.publish(mqttio.TOPIC_EMBEDDINGS, self.faults.payload(mqttio.dumps(payload), self.seq))

    def run(self) -> None:
        ticker = mqttio.Ticker(self.settings.rate)
        while True:
            ticker.wait(self.faults.period(ticker.period))
            self.step()


def collect_centroids(path: str, samples: int, settings: Settings) -> dict[str, Any]:
    """Guard centroids (game / non_game) at PATH and location centroids in ``locations.json`` beside it."""
    embedder = make_embedder(settings)
    game = Game(seed=settings.seed)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        out = np.concatenate([embedder.embed(images[i : i + 8]) for i in range(0, len(images), 8)], axis=0)
        return out.astype(np.float64)

    def unit_mean(vectors: np.ndarray) -> list[float]:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return _round((vectors / np.maximum(norms, 1e-12)).mean(axis=0))

    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    classes = {}
    for name, kind in (("game", "game"), ("non_game", "non_game")):
        frames = game.samples(kind, samples)
        classes[name] = {"centroid": unit_mean(embed([f.image for f in frames])), "samples": len(frames)}
    centroids = {"dim": embedder.dim, "model": embedder.model_name, "classes": classes, "created": created}
    per_location = max(4, samples // len(LOCATIONS))
    locations = {
        "dim": embedder.dim,
        "model": embedder.model_name,
        "samples": per_location,
        "locations": {
            loc: unit_mean(embed([f.image for f in game.location_samples(loc, per_location)])) for loc in LOCATIONS
        },
        "created": created,
    }
    mqttio.write_json_atomic(path, centroids)
    mqttio.write_json_atomic(os.path.join(os.path.dirname(os.path.abspath(path)), "locations.json"), locations)
    return centroids


def export_engine(path: str, encoder: str, input_size: int, precision: str | None) -> int:
    """Export, then record encoder/precision in the model's metadata (skipped when ``onnx`` is missing)."""
    from encoders import export_onnx, spec_for

    try:
        spec_for(encoder)
    except ValueError as exc:
        say(str(exc))
        raise SystemExit(2) from None
    dim = export_onnx(encoder, path, input_size)
    precision = precision or ("fp16" if "fp16" in os.path.basename(path) else "fp32")
    try:
        import onnx
    except ImportError:
        return dim
    model = onnx.load(path)
    for key, value in {
        "encoder": encoder,
        "model": encoder,
        "dim": str(dim),
        "input_size": str(input_size),
        "precision": precision,
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
    return dim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vl_jepa: game frames -> image embeddings over MQTT")
    parser.add_argument("--export-engine", metavar="PATH", help="write the encoder as an engine (ONNX) and exit")
    parser.add_argument("--collect-centroids", metavar="PATH", help="write guard and location centroids and exit")
    parser.add_argument("--encoder", help="encoder name (default $VL_JEPA_ENCODER or dinov2-s14)")
    parser.add_argument("--input-size", type=int, help="input size (default $VL_JEPA_INPUT_SIZE or 224)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), help="engine precision recorded by --export-engine")
    parser.add_argument("--samples", type=int, default=40, help="frames per class for --collect-centroids")
    args = parser.parse_args(argv)
    mqttio.exit_on_sigterm()
    # Set before torch loads OpenMP. The simulated GPU is the host's CPU, shared with every other container:
    # threads that spin while waiting for a preempted sibling turn a 1 ms forward into 160 ms; sleeping
    # waits cost ~20% on an idle host.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    if args.export_engine:
        encoder = args.encoder or os.environ.get("VL_JEPA_ENCODER") or "dinov2-s14"
        size = args.input_size or 224
        dim = export_engine(args.export_engine, encoder, size, args.precision)
        say(f"engine written: {args.export_engine} (encoder={encoder} input={size} dim={dim})")
        return 0

    settings = Settings(encoder=args.encoder, input_size=args.input_size)
    if args.collect_centroids:
        try:
            centroids = collect_centroids(args.collect_centroids, args.samples, settings)
        except EngineError as exc:
            say(str(exc))
            return 1
        say(
            f"centroids written: {args.collect_centroids} (model={centroids['model']} dim={centroids['dim']} "
            f"samples={args.samples}+{args.samples}) and locations.json"
        )
        return 0

    say(f"starting: {settings.describe()}")
    bus = mqttio.Bus(AGENT).start()
    publisher = Publisher(settings, bus, LiveFaults())
    try:
        publisher.run()
    finally:
        bus.stop()
        with contextlib.suppress(Exception):
            say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
