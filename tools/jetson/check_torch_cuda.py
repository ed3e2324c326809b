#!/usr/bin/env python3
"""Runbook Task 2 probe: is PyTorch's CUDA usable, and does it compute the right numbers?

Runs unmodified inside any container that has python3 (3.6 or newer: JetPack 4 images ship 3.6) and torch;
it uses only the standard library besides torch, reads no input and never hangs (a watchdog ends it).

Output, one ``key value`` line each, in this order (values are Python reprs of bools/None where they apply):

    python, torch, cuda_available, cuda_version, cudnn, device_count, device, capability, arch_list,
    sm_supported, nvidia_visible_devices, dev_nvmap,
    cuda_matmul_max_err, cuda_matmul_ok, cuda_fp16_max_err, cuda_fp16_ok, cudnn_conv_max_err, cudnn_conv_ok,
    result pass|fail

The checks run only when CUDA is available (otherwise ``checks_skipped cuda not available``). Each step's
exception is caught and printed as ``error_step <step>`` then ``error <Type>: <first line of message>``; the
traceback goes to stderr. Exit status 0 on ``result pass``, 1 on ``result fail``. ``--json`` prints one JSON
object instead of the lines. The format is parsed by ``jetson_hil.probe.parse_probe``.

Modelled on jetson-containers' ``packages/ml/pytorch/test.py`` (device name, torch.version.cuda, cuDNN version,
a cuDNN Conv2d forward on CUDA), extended with numerical comparisons against the CPU.
"""

import argparse
import faulthandler
import json
import os
import sys
import threading
import traceback

CHECKS = ("cuda_matmul", "cuda_fp16", "cudnn_conv")

# Tolerances: fp32 on GPU differs from the CPU only by summation order (~1e-6 here, TF32 is turned off for
# the check); fp16 inputs and outputs carry ~1e-3 relative error. Broken kernels give errors of order 1.
FP32_TOL = {"rtol": 1e-4, "atol": 1e-3}
FP16_TOL = {"rtol": 2e-2, "atol": 2e-2}


class Probe:
    def __init__(self, as_json):
        self.as_json = as_json
        self.fields = {}
        self.errors = []
        self.failed = False
        self.finished = False
        self.lock = threading.Lock()

    def emit(self, key, value):
        with self.lock:
            if key in ("error", "error_step"):
                self.errors.append((key, value))
            else:
                self.fields[key] = value
            if not self.as_json:
                sys.stdout.write(f"{key} {_text(value)}\n")
                sys.stdout.flush()

    def error(self, step, exc, as_type=None):
        """Report a step's exception; as_type names it by a base class (ModuleNotFoundError -> ImportError)."""
        self.failed = True
        message = str(exc).strip().splitlines()
        first = message[0] if message else ""
        name = (as_type or type(exc)).__name__
        self.emit("error_step", step)
        self.emit("error", f"{name}: {first}" if first else name)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()

    def finish(self):
        """Print the result line (or the JSON object) once; the exit status to use."""
        if self.finished:
            return 1
        self.finished = True
        faulthandler.cancel_dump_traceback_later()
        ok = (
            not self.failed
            and self.fields.get("cuda_available") is True
            and all(self.fields.get(name + "_ok") is True for name in CHECKS)
        )
        self.emit("result", "pass" if ok else "fail")
        if self.as_json:
            out = dict(self.fields)
            out["errors"] = [value for key, value in self.errors if key == "error"]
            out["error_steps"] = [value for key, value in self.errors if key == "error_step"]
            sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
            sys.stdout.flush()
        return 0 if ok else 1


def _text(value):
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value) if value else "None"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _step(probe, name, fn):
    try:
        return fn()
    except Exception as exc:  # every failure is reported, none stops the probe
        probe.error(name, exc)
        return None


def _watchdog(probe, seconds):
    """End the process with a readable result if a CUDA call blocks for ever."""

    def expire():
        if probe.finished:
            return
        probe.emit("error_step", "watchdog")
        probe.emit("error", f"TimeoutError: probe did not finish within {seconds}s")
        probe.failed = True
        probe.finish()
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    # Backstop for a call that holds the GIL: dumps the stacks and exits without Python's help.
    faulthandler.dump_traceback_later(seconds + 15, exit=True)
    return timer


def _compare(torch, probe, name, got, want, tol):
    err = (got.float().cpu() - want.float()).abs().max().item()
    probe.emit(name + "_max_err", err)
    finite = bool(torch.isfinite(got.float().cpu()).all().item())
    probe.emit(name + "_ok", finite and bool(torch.allclose(got.float().cpu(), want.float(), **tol)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of key value lines")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before the watchdog ends the probe")
    args = parser.parse_args(argv)

    probe = Probe(args.json)
    _watchdog(probe, args.timeout)
    probe.emit("python", ".".join(str(n) for n in sys.version_info[:3]))
    try:
        import torch
    except Exception as exc:  # ImportError, but also OSError for a missing libcurand.so.10 and the like
        probe.emit("torch", None)
        probe.error("import_torch", exc, as_type=ImportError if isinstance(exc, ImportError) else None)
        return probe.finish()

    probe.emit("torch", getattr(torch, "__version__", None))
    available = _step(probe, "cuda_available", lambda: bool(torch.cuda.is_available()))
    probe.emit("cuda_available", available)
    probe.emit("cuda_version", _step(probe, "cuda_version", lambda: torch.version.cuda))
    probe.emit("cudnn", _step(probe, "cudnn", lambda: torch.backends.cudnn.version()))
    probe.emit("device_count", _step(probe, "device_count", lambda: torch.cuda.device_count()))

    capability = None
    if available:
        probe.emit("device", _step(probe, "device", lambda: torch.cuda.get_device_name(0)))
        capability = _step(probe, "capability", lambda: tuple(torch.cuda.get_device_capability(0)))
        probe.emit("capability", "{}.{}".format(*capability) if capability else None)
    else:
        probe.emit("device", None)
        probe.emit("capability", None)
    arch_list = _step(probe, "arch_list", lambda: list(torch.cuda.get_arch_list())) or []
    probe.emit("arch_list", arch_list)
    sm_supported = None
    if capability and arch_list:
        sm_supported = "sm_{}{}".format(*capability) in arch_list
    probe.emit("sm_supported", sm_supported)
    probe.emit("nvidia_visible_devices", os.environ.get("NVIDIA_VISIBLE_DEVICES"))
    probe.emit("dev_nvmap", os.path.exists("/dev/nvmap"))

    if not available:
        probe.emit("checks_skipped", "cuda not available")
        return probe.finish()

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(128, 128, generator=gen) / 128**0.5
    b = torch.randn(128, 128, generator=gen)
    want = a @ b

    def matmul():
        torch.backends.cuda.matmul.allow_tf32 = False
        got = a.cuda() @ b.cuda()
        torch.cuda.synchronize()
        _compare(torch, probe, "cuda_matmul", got, want, FP32_TOL)

    def fp16():
        got = a.half().cuda() @ b.half().cuda()
        torch.cuda.synchronize()
        _compare(torch, probe, "cuda_fp16", got, want, FP16_TOL)

    def conv():
        torch.backends.cudnn.allow_tf32 = False
        layer = torch.nn.Conv2d(3, 8, 3)
        x = torch.randn(2, 3, 16, 16, generator=gen)
        with torch.no_grad():
            cpu = layer(x)
            got = layer.cuda()(x.cuda())
        torch.cuda.synchronize()
        _compare(torch, probe, "cudnn_conv", got, cpu, FP32_TOL)

    for name, fn in (("cuda_matmul", matmul), ("cuda_fp16", fp16), ("cudnn_conv", conv)):
        _step(probe, name, fn)
        if name + "_ok" not in probe.fields:  # the step raised before its comparison
            probe.emit(name + "_ok", False)
    return probe.finish()


if __name__ == "__main__":
    sys.exit(main())
