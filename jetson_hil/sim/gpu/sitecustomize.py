"""Turns the CPU torch of a simulated l4t-pytorch image into its "Jetson CUDA build".

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one; the image puts
this directory on ``PYTHONPATH``. If ``/etc/jetson-sim/image.env`` (or ``$JETSON_SIM_IMAGE_ENV``) is absent
this file does nothing else: no hook, no import of torch, no change of behaviour. It also steps aside on a
real NVIDIA GPU (see :func:`_real_gpu`; ``JETSON_SIM_REAL_GPU=1``/``0`` forces either way): the agents then
compute on the real CUDA of the torch they have, and nothing is simulated. Otherwise a one-shot
meta-path hook runs :func:`jetson_sim_cuda.preflight` just before ``torch`` executes (a missing cuDNN fails
the import, as on a real device) and :func:`jetson_sim_cuda.patch` just after.

Any other ``sitecustomize`` later on ``sys.path`` (e.g. Debian's) still runs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


class _TorchImportHook:
    """Meta-path finder that only wraps the loader of the top-level ``torch`` package, once."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if name != "torch":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):  # noqa: ANN001, ANN202
            with contextlib.suppress(AttributeError):
                del loader.exec_module
            import jetson_sim_cuda

            jetson_sim_cuda.preflight()
            original(module)
            jetson_sim_cuda.patch(module)

        loader.exec_module = exec_module
        return spec


REAL_GPU_PATHS = "/dev/nvidiactl:/proc/driver/nvidia/version"


def _real_gpu() -> bool:
    """A real NVIDIA GPU is here: ``JETSON_SIM_REAL_GPU`` (1/0) decides; in a simulator's container (its GPU state
    is mounted) the runtime did, by giving it the host's real ``/dev/nvidiactl`` (a character device; the
    simulated dGPU's is a plain file, and a host's ``/proc/driver/nvidia`` shows through either way); elsewhere
    any of the driver's paths (``$JETSON_SIM_NVIDIA_PATHS``, colon-separated, default
    ``/dev/nvidiactl:/proc/driver/nvidia/version``)."""
    forced = os.environ.get("JETSON_SIM_REAL_GPU", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    paths = [p for p in (os.environ.get("JETSON_SIM_NVIDIA_PATHS") or REAL_GPU_PATHS).split(":") if p]
    state = os.path.join(os.environ.get("JETSON_SIM_GPU_DIR") or "/run/jetson-sim/gpu", "device.json")
    if os.path.exists(state):
        return any(_char_device(p) for p in paths if not p.startswith("/proc/"))
    return any(os.path.exists(p) for p in paths)


def _char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _install() -> None:
    image_env = os.environ.get("JETSON_SIM_IMAGE_ENV") or "/etc/jetson-sim/image.env"
    if not os.path.isfile(image_env) or "torch" in sys.modules or _real_gpu():
        return
    if _HERE not in sys.path:
        sys.path.append(_HERE)
    sys.meta_path.insert(0, _TorchImportHook())


def _chain() -> None:
    """Run the next ``sitecustomize`` on ``sys.path``, which ours shadows."""
    for entry in sys.path:
        folder = os.path.abspath(entry or os.getcwd())
        if folder == _HERE:
            continue
        candidate = os.path.join(folder, "sitecustomize.py")
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as fh:
                code = compile(fh.read(), candidate, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": candidate})
            return


_install()
with contextlib.suppress(Exception):
    _chain()
