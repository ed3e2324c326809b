#!/usr/bin/env python3
"""Inspect the Plan B encoder engine inside the agent container: does it load, what goes in, what comes out.

Usage: python3 inspect_engine.py ENGINE_PATH [--runtime auto|tensorrt|onnxruntime]

Prints one ``key value`` line each (machine-readable, like check_torch_cuda.py):

    path /mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine
    size_bytes 44123456
    runtime tensorrt 10.3.0
    api name                      (TensorRT 8.5+ name-based I/O; 'binding' on older TensorRT; 'onnx')
    loaded True
    input pixel_values 1x3x224x224 float16
    output embedding 1x384 float16
    input_size 224                (H of the first input when H == W; else input_hw HxW only)
    input_hw 224x224
    output_dim 384                (last dimension of the first output)

Errors are printed as ``error <type>: <text>`` so a diagnosis can match them. Exit status: 0 when the
engine loaded and its shapes were read, 1 when it did not load, 2 when the file is missing.

On a Jetson the engine is a serialized TensorRT engine: it is deserialized with TensorRT's Python API,
the name-based tensor API (``num_io_tensors``, ``get_tensor_*``; TensorRT 8.5+, the only one in 10.x)
or, on older TensorRT, the binding API (``num_bindings``, ``get_binding_*``). Dynamic dimensions (-1)
are read from optimization profile 0 (its 'opt' shape). Where TensorRT is not installed (the
simulator), the file is an ONNX model of the same encoder and is loaded and run once with onnxruntime.
Standalone on purpose (stdlib + the runtime, Python 3.6+ as on JetPack 4): it is copied into the
container and run there.
"""

import argparse
import os
import sys


def _dims(shape):
    return "x".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)


def _emit(key, value):
    print(f"{key} {value}", flush=True)


def _error(exc):
    text = " ".join(str(exc).split())
    _emit("error", f"{type(exc).__name__}: {text}")


def _tensorrt(path):
    import tensorrt as trt

    _emit("runtime", f"tensorrt {trt.__version__}")
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    with open(path, "rb") as f:
        engine = runtime.deserialize_cuda_engine(f.read())
    if engine is None:
        raise RuntimeError(
            "deserialize_cuda_engine returned None: the engine was built for another TensorRT "
            "version or GPU, or the file is not a TensorRT engine"
        )
    inputs, outputs = [], []
    if hasattr(engine, "num_io_tensors"):
        _emit("api", "name")
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = list(engine.get_tensor_shape(name))
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            if is_input and any(d < 0 for d in shape):
                shape = list(engine.get_tensor_profile_shape(name, 0)[1])
            dtype = str(engine.get_tensor_dtype(name)).rsplit(".", 1)[-1].lower()
            (inputs if is_input else outputs).append((name, shape, dtype))
    else:
        _emit("api", "binding")
        for i in range(engine.num_bindings):
            name = engine.get_binding_name(i)
            shape = list(engine.get_binding_shape(i))
            is_input = engine.binding_is_input(i)
            if is_input and any(d < 0 for d in shape):
                shape = list(engine.get_profile_shape(0, i)[1])
            dtype = str(engine.get_binding_dtype(i)).rsplit(".", 1)[-1].lower()
            (inputs if is_input else outputs).append((name, shape, dtype))
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context returned None: not enough GPU memory for the engine")
    return inputs, outputs


def _onnx_type(name):
    """'tensor(float16)' -> 'float16'."""
    return name[len("tensor(") : -1] if name.startswith("tensor(") and name.endswith(")") else name


def _onnxruntime(path):
    import numpy as np
    import onnxruntime as ort

    _emit("runtime", f"onnxruntime {ort.__version__}")
    _emit("api", "onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
    feeds, inputs = {}, []
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
        inputs.append((arg.name, shape, _onnx_type(arg.type)))
        feeds[arg.name] = np.zeros(shape, dtype=types.get(arg.type, np.float32))
    results = session.run(None, feeds)
    pairs = zip(session.get_outputs(), results)  # noqa: B905 - strict= needs Python 3.10; this runs on 3.6+
    outputs = [(arg.name, list(value.shape), _onnx_type(arg.type)) for arg, value in pairs]
    return inputs, outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine")
    parser.add_argument("--runtime", choices=("auto", "tensorrt", "onnxruntime"), default="auto")
    args = parser.parse_args(argv)
    _emit("path", args.engine)
    if not os.path.isfile(args.engine):
        _emit("loaded", False)
        _emit("error", f"FileNotFoundError: no engine file at {args.engine}")
        return 2
    _emit("size_bytes", os.path.getsize(args.engine))
    runtime = args.runtime
    if runtime == "auto":
        try:
            import tensorrt  # noqa: F401

            runtime = "tensorrt"
        except ImportError:
            runtime = "onnxruntime"
    try:
        inputs, outputs = _tensorrt(args.engine) if runtime == "tensorrt" else _onnxruntime(args.engine)
    except Exception as exc:  # every failure is reported as a line, for the diagnosis
        _emit("loaded", False)
        _error(exc)
        return 1
    _emit("loaded", True)
    for name, shape, dtype in inputs:
        _emit("input", f"{name} {_dims(shape)} {dtype}")
    for name, shape, dtype in outputs:
        _emit("output", f"{name} {_dims(shape)} {dtype}")
    if inputs and len(inputs[0][1]) >= 2:
        h, w = inputs[0][1][-2], inputs[0][1][-1]
        _emit("input_hw", f"{h}x{w}")
        if h == w:
            _emit("input_size", h)
    if outputs and outputs[0][1]:
        _emit("output_dim", outputs[0][1][-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
