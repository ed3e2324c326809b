#!/usr/bin/env python3
"""Latency of the vl_jepa encoders: fp32 vs fp16, batch 1 vs 8, eager vs CUDA graphs, agent path vs raw forward.

For each model (``--models dinov2-s14,siglip2-b16``) and each dtype and batch, the median latency of one
forward after warm-up, in milliseconds:

* ``eager``: ``model(x)`` on a ready device tensor, then ``torch.cuda.synchronize()``;
* ``graph``: the same forward captured once in a ``torch.cuda.CUDAGraph`` and replayed (real CUDA only: on the
  CPU or the simulated Jetson GPU the line says why it was skipped);
* ``agent``: what ``vl_jepa.py`` does per frame (batch 1): ``preprocess`` of a 256x256 uint8 game frame on the
  CPU, copy to the device, forward, ``.float().cpu().numpy()``, and the ``.tolist()`` rounding it publishes,
  compared with ``raw`` (the eager batch-1 forward in the same process) as ``agent_over_raw``.

Output: one ``key value`` line each (``torch 2.11.0``, ``dinov2-s14.fp16.b8.graph_ms 1.234``,
``dinov2-s14.fp16.agent_over_raw 3.1``, ``siglip2-b16.fp16.skipped fp16 needs CUDA``...) ending with
``result ok|fail``; ``--json`` prints one JSON object instead. Standalone (stdlib + torch + numpy); imports the
encoders from ``/app/agents`` inside an agent container, from ``--agents-dir``, or from the repository's
``jetson_hil/sim/agents``. Never hangs: ``--timeout`` ends it with what it measured so far.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import statistics
import sys
import threading
import time
import traceback

APP_AGENTS = "/app/agents"
REPO_AGENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "jetson_hil", "sim", "agents")


def agents_dir(explicit: str | None, candidates: tuple[str, ...] = (APP_AGENTS, REPO_AGENTS)) -> str:
    """Where ``encoders.py`` is: ``--agents-dir``, else the container's /app/agents, else the repository's."""
    if explicit:
        if not os.path.isfile(os.path.join(explicit, "encoders.py")):
            raise SystemExit(f"bench_encoder: no encoders.py in --agents-dir {explicit}")
        return explicit
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "encoders.py")):
            return os.path.abspath(folder)
    raise SystemExit(f"bench_encoder: encoders.py not found in {' or '.join(candidates)}; pass --agents-dir")


def median_ms(times_s: list[float]) -> float:
    return statistics.median(times_s) * 1000.0


def round_like_agent(values) -> list[float]:
    """What vl_jepa publishes: about six significant digits per value."""
    return [float(f"{v:.6g}") for v in values.tolist()]


class Report:
    """Ordered results; printed as lines while measuring (unless --json), so a timeout keeps what was done."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.fields: dict[str, object] = {}
        self.lock = threading.Lock()
        self.finished = False

    def emit(self, key: str, value: object) -> None:
        with self.lock:
            self.fields[key] = value
            if not self.as_json:
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                sys.stdout.write(f"{key} {text}\n")
                sys.stdout.flush()

    def finish(self, ok: bool) -> int:
        if self.finished:
            return 0 if ok else 1
        self.finished = True
        faulthandler.cancel_dump_traceback_later()
        self.emit("result", "ok" if ok else "fail")
        if self.as_json:
            sys.stdout.write(json.dumps(self.fields, sort_keys=False) + "\n")
            sys.stdout.flush()
        return 0 if ok else 1


def _watchdog(report: Report, seconds: float) -> None:
    def expire() -> None:
        if report.finished:
            return
        report.emit("error", f"TimeoutError: benchmark did not finish within {seconds:g}s")
        report.finish(False)
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(seconds + 15, exit=True)


def _time(fn, sync, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return median_ms(times)


def graph_skip_reason(torch, device: str) -> str | None:
    """Why CUDA graphs cannot be measured here, or None when they can."""
    if device != "cuda":
        return "CUDA graphs need CUDA (running on the CPU)"
    if "jetson_sim_cuda" in sys.modules:
        return "CUDA graphs need real CUDA (this is the simulated Jetson GPU)"
    if not hasattr(torch.cuda, "CUDAGraph"):
        return f"torch {torch.__version__} has no torch.cuda.CUDAGraph"
    return None


def bench_model(torch, enc, frames_mod, name: str, args, device: str, report: Report) -> None:
    spec = enc.spec_for(name)
    base = enc.build_encoder(name, args.input_size)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    frame = _frame(frames_mod, args.input_size)
    for dtype_name in args.dtypes:
        prefix = f"{name}.{dtype_name}"
        if dtype_name == "fp16" and device != "cuda":
            report.emit(f"{prefix}.skipped", "fp16 needs CUDA (vl_jepa runs fp16 on cuda only)")
            continue
        dtype = torch.float16 if dtype_name == "fp16" else torch.float32
        model = base.to(device=device, dtype=dtype).eval()
        for batch in args.batches:
            key = f"{prefix}.b{batch}"
            x = torch.randn(batch, 3, args.input_size, args.input_size, device=device, dtype=dtype)
            with torch.inference_mode():
                eager = _time(lambda m=model, x=x: m(x), sync, args.warmup, args.iters)
            report.emit(f"{key}.eager_ms", eager)
            report.emit(f"{key}.eager_img_per_s", batch * 1000.0 / eager)
            why = graph_skip_reason(torch, device)
            if why:
                report.emit(f"{key}.graph_skipped", why)
                continue
            try:
                graph_ms = _graph(torch, model, x, sync, args)
            except Exception as exc:
                report.emit(f"{key}.graph_skipped", f"capture failed: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            report.emit(f"{key}.graph_ms", graph_ms)
            report.emit(f"{key}.graph_speedup", eager / graph_ms if graph_ms > 0 else float("nan"))
        _agent_vs_raw(torch, enc, spec, model, frame, device, dtype, sync, args, prefix, report)
        model.to("cpu", torch.float32)
        if device == "cuda":
            torch.cuda.empty_cache()


def _graph(torch, model, x, sync, args) -> float:
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            model(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_y = model(static_x)
    static_x.copy_(x)
    graph.replay()
    sync()
    with torch.inference_mode():
        want = model(x)
    err = (static_y.float() - want.float()).abs().max().item()
    scale = max(want.float().abs().max().item(), 1e-6)
    if err > 1e-2 * scale:
        raise RuntimeError(f"graph replay differs from eager by {err:.3g} (scale {scale:.3g})")
    return _time(graph.replay, sync, args.warmup, args.iters)


def _frame(frames_mod, size: int):
    import numpy as np

    if frames_mod is not None:
        return frames_mod.Game(seed=0).frame(0).image
    return np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


def _agent_vs_raw(torch, enc, spec, model, frame, device, dtype, sync, args, prefix, report) -> None:
    """vl_jepa's per-frame path (TorchEmbedder.embed + _round) against the bare batch-1 forward."""

    def agent_step():
        batch = enc.preprocess([frame], spec, args.input_size).numpy()
        xx = torch.from_numpy(batch)
        if device == "cuda":
            xx = xx.to("cuda", dtype)
        out = model(xx)
        if device == "cuda":
            torch.cuda.synchronize()
        return round_like_agent(out.float().cpu().numpy()[0])

    x = torch.randn(1, 3, args.input_size, args.input_size, device=device, dtype=dtype)
    with torch.inference_mode():
        raw = _time(lambda: model(x), sync, args.warmup, args.iters)
        agent = _time(agent_step, sync, args.warmup, args.iters)
    report.emit(f"{prefix}.raw_ms", raw)
    report.emit(f"{prefix}.agent_ms", agent)
    report.emit(f"{prefix}.agent_over_raw", agent / raw if raw > 0 else float("nan"))


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dinov2-s14,siglip2-b16", help="comma-separated encoder names")
    parser.add_argument("--dtypes", default="fp32,fp16", help="comma-separated: fp32, fp16")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--agents-dir", help="folder holding encoders.py (default: /app/agents, else the repo's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before the watchdog ends it")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of key value lines")
    args = parser.parse_args(argv)
    args.models, args.dtypes = _csv(args.models), _csv(args.dtypes)
    args.batches = [int(b) for b in _csv(args.batches)]
    if any(d not in ("fp32", "fp16") for d in args.dtypes) or any(b < 1 for b in args.batches):
        parser.error("--dtypes takes fp32/fp16 and --batches positive integers")

    report = Report(args.json)
    _watchdog(report, args.timeout)
    folder = agents_dir(args.agents_dir)
    sys.path.insert(0, folder)
    report.emit("agents_dir", folder)
    try:
        import encoders as enc
        import torch
    except Exception as exc:
        report.emit("error", f"{type(exc).__name__}: {exc}")
        return report.finish(False)
    try:
        import frames as frames_mod
    except Exception:
        frames_mod = None
    torch.set_grad_enabled(False)
    cuda = bool(torch.cuda.is_available())
    device = "cuda" if (args.device == "cuda" or (args.device == "auto" and cuda)) else "cpu"
    report.emit("torch", torch.__version__)
    report.emit("cuda_version", torch.version.cuda)
    report.emit("device", device)
    report.emit("device_name", torch.cuda.get_device_name(0) if device == "cuda" else "cpu")
    report.emit("simulated_gpu", "jetson_sim_cuda" in sys.modules)
    report.emit("input_size", args.input_size)
    report.emit("warmup_iters", f"{args.warmup} {args.iters}")
    ok = True
    for name in args.models:
        try:
            bench_model(torch, enc, frames_mod, name, args, device, report)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            report.emit(f"{name}.error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            ok = False
    return report.finish(ok)


if __name__ == "__main__":
    sys.exit(main())
