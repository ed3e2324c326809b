"""The simulated Jetson GPU: turns a CPU build of PyTorch into "the Jetson CUDA build of torch".

The simulated l4t-pytorch image puts this directory on ``PYTHONPATH``; ``sitecustomize.py`` calls
:func:`preflight` just before ``torch`` executes and :func:`patch` right after. Without the image file
``/etc/jetson-sim/image.env`` nothing here runs and torch is untouched.

Two sides decide what torch sees, as on a real Jetson:

* the image (``/etc/jetson-sim/image.env``): ``IMAGE_L4T``, ``TORCH_CUDA``, ``TORCH_CUDNN``,
  ``TORCH_ARCH_LIST`` (optional ``TORCH_VERSION`` replaces ``torch.__version__``, e.g. ``2.5.0a0+nv24.08``);
* the runtime, injected by the simulated NVIDIA container runtime: ``/dev/nvmap``, ``/dev/nvhost-gpu``,
  the host's ``/etc/nv_tegra_release`` and ``/run/jetson-sim/gpu/device.json``.

Every mismatch reproduces the failure a real Jetson shows (exact texts from the facts sheet, section 6).
When CUDA is usable, "cuda" tensors are CPU tensors that a global ``TorchFunctionMode`` tracks as living
on the simulated GPU; the wall time spent in their ops is published for the tegrastats emulator under
``<gpu dir>/clients/<hostname>-<pid>.json``.

Standalone on purpose (stdlib + torch only): the file is copied into container images.

>>> import torch  # with PYTHONPATH=jetson_hil/sim/gpu and a healthy simulated device
>>> torch.cuda.get_device_name(), torch.randn(2, 2, device="cuda").sum().item() == 0  # doctest: +SKIP
('Orin', False)
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from typing import Any

IMAGE_ENV = "/etc/jetson-sim/image.env"
GPU_DIR = "/run/jetson-sim/gpu"
DEV_DIR = "/dev"
RELEASE_FILE = "/etc/nv_tegra_release"
CLIENT_INTERVAL_S = 0.5

NVMAP_MISSING = (
    "NvRmMemInitNvmap failed with No such file or directory\n"
    "356: Memory Manager Not supported\n"
    "****NvRmMemMgrInit failed**** error type: 196626\n"
)
TRIGGERED = " (Triggered internally at /opt/pytorch/pytorch/c10/cuda/CUDAFunctions.cpp:109.)"
NO_GPUS = "No CUDA GPUs are available"
# A dGPU host's driver faults (jetson_hil.sim.dgpu_host), as torch reports them when a new process inits CUDA.
NO_DRIVER = (
    "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from "
    "http://www.nvidia.com/Download/index.aspx"
)
DRIVER_MISMATCH = (
    "Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling NumCudaDevices() "
    "that might have already set an error? Error 803: system has unsupported display driver / cuda driver "
    "combination"
)
DRIVER_INIT_FAILED = "CUDA driver initialization failed, you might not have a CUDA gpu."
INSUFFICIENT_DRIVER = (
    "Unexpected error from cudaGetDeviceCount(). cudaGetDeviceCount returned 35 -> "
    "CUDA driver version is insufficient for CUDA runtime version (driver CUDA {driver}, runtime CUDA {runtime})"
)
ASYNC_HINT = (
    "\nCUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
    "might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n"
)
NO_KERNEL_IMAGE = "CUDA error: no kernel image is available for execution on the device" + ASYNC_HINT
CUBLAS_ALLOC_FAILED = "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
INVALID_ORDINAL = "CUDA error: invalid device ordinal" + ASYNC_HINT
ARCH_WARNING = (
    "\n{name} with CUDA capability {sm} is not compatible with the current PyTorch installation.\n"
    "The current PyTorch install supports CUDA capabilities {archs}.\n"
    "If you want to use the {name} GPU with PyTorch, please check the instructions at "
    "https://pytorch.org/get-started/locally/\n"
)


def _env_path(var: str, default: str) -> str:
    return os.environ.get(var) or default


def image_env_path() -> str:
    """Where the image's description lives (``JETSON_SIM_IMAGE_ENV`` overrides, for tests)."""
    return _env_path("JETSON_SIM_IMAGE_ENV", IMAGE_ENV)


def read_env_file(path: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments and blank lines ignored; later keys win; quotes stripped.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "image.env"
    >>> _ = p.write_text("IMAGE_L4T=35.4.1\\nTORCH_CUDA='11.4'\\nIMAGE_L4T=36.4.0\\n")
    >>> read_env_file(str(p))
    {'IMAGE_L4T': '36.4.0', 'TORCH_CUDA': '11.4'}
    """
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = key.strip()
            if key.startswith("export "):
                key = key[len("export ") :].strip()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key] = value
    return values


def parse_release(text: str) -> str | None:
    """The L4T version in an ``/etc/nv_tegra_release`` text, e.g. ``36.4.0``; None if unreadable.

    >>> parse_release("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64")
    '36.4.0'
    >>> parse_release("# R32 (release), REVISION: 5, GCID: 1, BOARD: t210ref")
    '32.5'
    """
    match = re.search(r"R(\d+)\s*\(\w+\),\s*REVISION:\s*([\d.]+)", text)
    if not match:
        return None
    return f"{match.group(1)}.{match.group(2).rstrip('.')}"


def _vtuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def l4t_compatible(host: str, image: str) -> bool:
    """jetson-containers' ``l4t_version_compatible`` rule (facts, section 4).

    >>> l4t_compatible("36.4.3", "36.4.0"), l4t_compatible("36.4.0", "36.3.0"), l4t_compatible("36.4.0", "35.4.1")
    (True, False, False)
    >>> l4t_compatible("38.2.0", "35.4.1"), l4t_compatible("32.7.4", "32.7.1"), l4t_compatible("32.6.1", "32.5.0")
    (True, True, False)
    """
    h, i = _vtuple(host), _vtuple(image)
    if not h or not i:
        return False
    if h[0] in (38, 39):
        return True
    if h[0] == 36:
        return i[0] == 36 and ((h[1:2] or (0,))[0] >= 4) == ((i[1:2] or (0,))[0] >= 4)
    if h[0] in (34, 35):
        return i[0] == h[0]
    if h[:2] >= (32, 7) and h[0] == 32:
        return i[0] == 32 and i[:2] >= (32, 7)
    return h == i


def cudnn_soname(image: dict[str, str]) -> str:
    """The cuDNN library the image's torch links against: cuDNN 8 up to L4T R35, 9 from R36 (JetPack 6)."""
    value = image.get("TORCH_CUDNN", "")
    if value.isdigit() and len(value) >= 4:
        major = int(value) // 10000 if int(value) >= 10000 else int(value) // 1000
    else:
        l4t = _vtuple(image.get("IMAGE_L4T", "36"))
        major = 8 if l4t and l4t[0] <= 35 else 9
    return f"libcudnn.so.{major}"


def preflight() -> None:
    """Runs before torch executes: a torch that links cuDNN fails to import when the image lacks it."""
    path = image_env_path()
    if not os.path.isfile(path):
        return
    image = read_env_file(path)
    if image.get("TORCH_CUDA", "") and not image.get("TORCH_CUDNN", ""):
        raise ImportError(f"{cudnn_soname(image)}: cannot open shared object file: No such file or directory")


class _DeviceProperties:
    """What ``torch.cuda.get_device_properties`` returns on a real Orin, as a plain object."""

    def __init__(self, device: dict[str, Any]):
        cap = device.get("capability", [8, 7])
        self.name = str(device.get("name", "Orin"))
        self.major, self.minor = int(cap[0]), int(cap[1])
        self.total_memory = int(device.get("total_memory", 33554432000))
        self.multi_processor_count = int(device.get("multi_processor_count", 14))
        self.is_integrated = int(device.get("integrated", 1))
        self.is_multi_gpu_board = 0
        self.L2_cache_size = int(device.get("l2_cache_size", 4 * 1024 * 1024))
        self.uuid = str(device.get("uuid", "00000000-0000-0000-0000-00000000000a"))

    def __repr__(self) -> str:
        return (
            f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
            f"total_memory={self.total_memory // (1024 * 1024)}MB, "
            f"multi_processor_count={self.multi_processor_count}, uuid={self.uuid}, "
            f"L2_cache_size={self.L2_cache_size // (1024 * 1024)}MB)"
        )


class SimGpu:
    """What the simulated driver found at import, and the live state of this process's GPU use."""

    def __init__(self, image: dict[str, str]):
        self.image = image
        self.torch_cuda = image.get("TORCH_CUDA", "").strip()
        self.cudnn = image.get("TORCH_CUDNN", "").strip()
        self.arch_list = [a for a in re.split(r"[\s,;]+", image.get("TORCH_ARCH_LIST", "")) if a]
        self.gpu_dir = _env_path("JETSON_SIM_GPU_DIR", GPU_DIR)
        self.dev_dir = _env_path("JETSON_SIM_DEV_DIR", DEV_DIR)
        self.release_file = _env_path("JETSON_SIM_RELEASE_FILE", RELEASE_FILE)
        self.device: dict[str, Any] = {}
        self.faults: set[str] = set()
        self.available = False
        self.use_error = NO_GPUS
        self.init_warning: str | None = None
        self.stderr_lines = ""
        self.kernel_error: str | None = None
        self.cpu_only = not self.torch_cuda
        self.initialized = False
        self.busy_ns = 0
        self.started = 0.0
        self.lock = threading.Lock()
        self._warned = False
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()
        self.client_path: str | None = None
        self.mode: Any = None
        self.torch_patched = False
        if not self.cpu_only:
            self._probe()

    def _probe(self) -> None:
        dev = self.dev_dir
        if os.path.exists(os.path.join(dev, "nvidiactl")):  # a dGPU host's nodes (nvidiactl, nvidia0)
            if not os.path.exists(os.path.join(dev, "nvidia0")):
                return
        elif not os.path.exists(os.path.join(dev, "nvmap")):
            self.stderr_lines = NVMAP_MISSING
            return
        elif not os.path.exists(os.path.join(dev, "nvhost-gpu")):
            return
        try:
            with open(os.path.join(self.gpu_dir, "device.json"), encoding="utf-8") as fh:
                self.device = json.load(fh)
        except (OSError, ValueError):
            return
        self.faults = {str(f) for f in self.device.get("faults") or []}
        for fault, text in (("dgpu_driver_not_loaded", NO_DRIVER), ("dgpu_driver_library_mismatch", DRIVER_MISMATCH)):
            if fault in self.faults:
                self.init_warning = text
                self.use_error = text
                return
        host = None
        with contextlib.suppress(OSError), open(self.release_file, encoding="utf-8", errors="replace") as fh:
            host = parse_release(fh.read())
        image_l4t = self.image.get("IMAGE_L4T", "")
        if host and image_l4t and not l4t_compatible(host, image_l4t):
            self.init_warning = DRIVER_INIT_FAILED
            self.use_error = DRIVER_INIT_FAILED
            return
        driver = str(self.device.get("driver_cuda", ""))
        if driver and _vtuple(self.torch_cuda)[:2] > _vtuple(driver)[:2]:
            text = INSUFFICIENT_DRIVER.format(driver=driver, runtime=self.torch_cuda)
            self.init_warning = text
            self.use_error = text
            return
        self.available = True
        cap = self.device.get("capability", [8, 7])
        sm = f"sm_{cap[0]}{cap[1]}"
        if sm not in self.arch_list:
            self.kernel_error = NO_KERNEL_IMAGE

    def warn_init(self) -> None:
        """torch warns once per process when ``cudaGetDeviceCount`` fails."""
        if self.init_warning and not self._warned:
            self._warned = True
            warnings.warn("CUDA initialization: " + self.init_warning + TRIGGERED, UserWarning, stacklevel=3)

    def is_available(self) -> bool:
        self.warn_init()
        return self.available

    def require(self, index: int | None = None) -> None:
        """Entry to anything that needs a CUDA context: raises torch's error, else initialises once."""
        if not self.available:
            self.warn_init()
            raise RuntimeError(self.use_error)
        if index not in (None, 0):
            raise RuntimeError(INVALID_ORDINAL)
        if not self.initialized:
            self._init_context()

    def _init_context(self) -> None:
        with self.lock:
            if self.initialized:
                return
            self.initialized = True
            self.started = time.time()
        if "cuda_init_crash" in self.faults:
            # a driver in a bad state: the new context's first ioctl faults; the shell says "Segmentation fault"
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
        if self.kernel_error:
            cap = self.device.get("capability", [8, 7])
            warnings.warn(
                ARCH_WARNING.format(
                    name=self.device.get("name", "Orin"),
                    sm=f"sm_{cap[0]}{cap[1]}",
                    archs=" ".join(self.arch_list) or "(none)",
                ),
                UserWarning,
                stacklevel=4,
            )
        self._start_client()

    # -- GPU activity accounting ----------------------------------------------------------------------
    def add_busy(self, ns: int) -> None:
        with self.lock:
            self.busy_ns += ns

    def _start_client(self) -> None:
        clients = os.path.join(self.gpu_dir, "clients")
        # Containers on host networking share a hostname and may share pids: a random part keeps clients apart.
        token = os.urandom(4).hex()
        self.client_path = os.path.join(clients, f"{socket.gethostname()}-{os.getpid()}-{token}.json")
        self._stop.clear()
        self.write_client()
        writer = threading.Thread(target=self._write_loop, name="jetson-sim-gpu-client", daemon=True)
        writer._jetson_sim_no_mode = True  # type: ignore[attr-defined]
        self._writer = writer
        writer.start()
        _install_sigterm_cleanup(self)

    def _write_loop(self) -> None:
        while not self._stop.wait(CLIENT_INTERVAL_S):
            self.write_client()

    def client_record(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "container": _container_id(),
            "cmdline": _cmdline(),
            "busy_ns": self.busy_ns,
            "updated": time.time(),
            "started": self.started,
        }

    def write_client(self) -> None:
        path = self.client_path
        if not path:
            return
        tmp = f"{path}.{threading.get_ident()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.client_record(), fh)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def remove_client(self) -> None:
        self._stop.set()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=2.0)
        path, self.client_path = self.client_path, None
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def after_fork_in_child(self) -> None:
        """A forked child starts with no context of its own (and no writer thread)."""
        self.lock = threading.Lock()
        self.initialized = False
        self.busy_ns = 0
        self.client_path = None
        self._writer = None
        self._stop = threading.Event()

    # -- memory ----------------------------------------------------------------------------------------
    def memory_allocated(self) -> int:
        seen: dict[int, int] = {}
        for tensor in list(_GPU.keys()) if _GPU is not None else []:
            with contextlib.suppress(Exception):
                storage = tensor.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
        return sum(seen.values())


def _container_id() -> str | None:
    """This container's id (the source of its /etc/hostname mount): with the pid in it, a dGPU host's
    nvidia-smi emulator finds the process's host pid."""
    if not _CONTAINER:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                m = re.search(r"/containers/([0-9a-f]{64})/hostname ", fh.read())
        except OSError:
            m = None
        _CONTAINER.append(m[1] if m else None)
    return _CONTAINER[0]


_CONTAINER: list[str | None] = []


def _cmdline() -> list[str]:
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            parts = fh.read().split(b"\0")
        return [p.decode(errors="replace") for p in parts if p]
    except OSError:
        return [sys.executable, *sys.argv]


def _install_sigterm_cleanup(sim: SimGpu) -> None:
    """``docker stop`` sends SIGTERM, which skips atexit: remove the client file, then die by SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_term(signum: int, frame: Any) -> None:
        sim.remove_client()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGTERM, on_term)


_SIM: SimGpu | None = None
_GPU: Any = None  # WeakIdKeyDictionary: tensor -> True while it "lives on the simulated GPU"


def state() -> SimGpu | None:
    """The simulated GPU of this process, or None when the simulation is off."""
    return _SIM


def runtime() -> SimGpu | None:
    """The simulated GPU for CUDA users other than torch (the TensorRT stand-in); None when the sim is off.

    In a process whose torch is patched this is the same object torch uses; otherwise the device is probed
    once here (printing the NvRm lines when ``/dev/nvmap`` is missing, as libcuda would at ``cuInit``).
    """
    global _SIM
    if _SIM is not None:
        return _SIM
    path = image_env_path()
    if not os.path.isfile(path):
        return None
    sim = SimGpu(read_env_file(path))
    if sim.stderr_lines:
        sys.stderr.write(sim.stderr_lines)
        sys.stderr.flush()
    _SIM = sim
    atexit.register(sim.remove_client)
    return sim


def patch(torch: Any) -> SimGpu | None:
    """Make ``torch`` the image's Jetson build. A no-op without the image file; idempotent."""
    global _SIM
    if _SIM is not None and _SIM.torch_patched:
        return _SIM
    path = image_env_path()
    if not os.path.isfile(path):
        return None
    fresh = _SIM is None
    sim = _SIM if _SIM is not None else SimGpu(read_env_file(path))
    _SIM = sim
    sim.torch_patched = True
    image = sim.image
    if image.get("TORCH_VERSION"):
        with contextlib.suppress(Exception):
            version = torch.torch_version.TorchVersion(image["TORCH_VERSION"])
            torch.__version__ = version
            torch.version.__version__ = version
    if sim.cpu_only:
        torch.version.cuda = None
        return sim
    if sim.stderr_lines and fresh:
        sys.stderr.write(sim.stderr_lines)
        sys.stderr.flush()
    _install(torch, sim)
    return sim


# ------------------------------------------------------------------------------------------------------
# torch wiring
# ------------------------------------------------------------------------------------------------------
def _install(torch: Any, sim: SimGpu) -> None:
    global _GPU
    from torch.utils.weak import WeakIdKeyDictionary

    _GPU = WeakIdKeyDictionary()
    torch.version.cuda = sim.torch_cuda
    _patch_cuda_module(torch, sim)
    _patch_backends(torch, sim)
    _patch_modules(torch, sim)
    _patch_load(torch)
    mode = _make_mode(torch, sim)
    sim.mode = mode
    mode.__enter__()
    _push_mode_in_new_threads(mode)
    atexit.register(sim.remove_client)
    os.register_at_fork(after_in_child=sim.after_fork_in_child)


def _push_mode_in_new_threads(mode: Any) -> None:
    """Torch-function modes are thread-local; a Jetson's CUDA is not. Enter the mode in every new thread."""
    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
    if getattr(original, "_jetson_sim", False):
        return

    def bootstrap_inner(self: threading.Thread) -> None:
        pushed = False
        if not getattr(self, "_jetson_sim_no_mode", False):
            with contextlib.suppress(Exception):
                mode.__enter__()
                pushed = True
        try:
            original(self)
        finally:
            # An entry left on the thread-local stack is released by a C++ destructor at thread exit,
            # which aborts the process when that happens during interpreter shutdown.
            if pushed:
                with contextlib.suppress(Exception):
                    mode.__exit__(None, None, None)

    bootstrap_inner._jetson_sim = True  # type: ignore[attr-defined]
    threading.Thread._bootstrap_inner = bootstrap_inner  # type: ignore[attr-defined]


def _device_index(device: Any) -> int | None:
    """None for "not a cuda device" is never returned; callers test :func:`_is_cuda` first."""
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        if ":" in device:
            with contextlib.suppress(ValueError):
                return int(device.split(":", 1)[1])
        return None
    return getattr(device, "index", None)


def _is_cuda(device: Any) -> bool:
    if isinstance(device, str):
        return device.startswith("cuda")
    if isinstance(device, int) and not isinstance(device, bool):
        return True
    return getattr(device, "type", None) == "cuda"


def _patch_cuda_module(torch: Any, sim: SimGpu) -> None:
    cuda = torch.cuda
    props = _DeviceProperties(sim.device) if sim.available else None

    def _index(device: Any = None) -> int | None:
        if device is None:
            return None
        if isinstance(device, str) and not device.startswith("cuda"):
            raise ValueError(f"Expected a cuda device, but got: {device}")
        return _device_index(device)

    def is_available() -> bool:
        return sim.is_available()

    def device_count() -> int:
        return 1 if sim.is_available() else 0

    def is_initialized() -> bool:
        return sim.initialized

    def init() -> None:
        sim.require()

    def get_device_properties(device: Any = None) -> _DeviceProperties:
        sim.require(_index(device))
        assert props is not None
        return props

    def get_device_name(device: Any = None) -> str:
        return get_device_properties(device).name

    def get_device_capability(device: Any = None) -> tuple[int, int]:
        p = get_device_properties(device)
        return (p.major, p.minor)

    def get_arch_list() -> list[str]:
        return list(sim.arch_list) if sim.is_available() else []

    def get_gencode_flags() -> str:
        return " ".join(f"-gencode compute={a.replace('sm', 'compute')},code={a}" for a in get_arch_list())

    def current_device() -> int:
        sim.require()
        return 0

    def set_device(device: Any) -> None:
        index = _index(device)
        if index is not None and index < 0:
            return
        sim.require(index)

    def synchronize(device: Any = None) -> None:
        sim.require(_index(device))

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        p = get_device_properties(device)
        return (max(0, p.total_memory - sim.memory_allocated()), p.total_memory)

    def memory_allocated(device: Any = None) -> int:
        sim.require(_index(device))
        return sim.memory_allocated()

    peak = {"allocated": 0}

    def max_memory_allocated(device: Any = None) -> int:
        peak["allocated"] = max(peak["allocated"], memory_allocated(device))
        return peak["allocated"]

    def reset_peak_memory_stats(device: Any = None) -> None:
        peak["allocated"] = 0

    def memory_summary(device: Any = None, abbreviated: bool = False) -> str:
        return f"|  Allocated memory (simulated Jetson GPU): {memory_allocated(device)} bytes |"

    def empty_cache() -> None:
        return None

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        return sim.is_available() and tuple(sim.device.get("capability", [8, 7]))[0] >= 8

    def no_seed(*args: Any, **kwargs: Any) -> None:
        return None

    def initial_seed() -> int:
        return torch.initial_seed()

    def get_rng_state(device: Any = "cuda") -> Any:
        return torch.get_rng_state()

    def get_rng_state_all() -> list[Any]:
        return [torch.get_rng_state()]

    class device:  # noqa: N801 - mirrors torch.cuda.device
        """Context manager that selects the (only) simulated GPU."""

        def __init__(self, device: Any):
            self.idx = _index(device) if device is not None else -1

        def __enter__(self) -> None:
            if self.idx is not None and self.idx >= 0:
                sim.require(self.idx)

        def __exit__(self, *exc: Any) -> bool:
            return False

    class Stream:
        """The simulated GPU runs every op synchronously, so a stream only has to exist."""

        def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any):
            sim.require(_index(device))
            self.device = torch.device("cuda", 0)
            self.priority = priority

        def synchronize(self) -> None:
            return None

        def wait_stream(self, stream: Any) -> None:
            return None

        def wait_event(self, event: Any) -> None:
            return None

        def record_event(self, event: Any = None) -> Any:
            event = event or Event()
            event.record(self)
            return event

        def query(self) -> bool:
            return True

    class Event:
        """Timing events: ``elapsed_time`` in milliseconds between two ``record`` calls."""

        def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False):
            self.enable_timing = enable_timing
            self.t: float | None = None

        def record(self, stream: Any = None) -> None:
            sim.require()
            self.t = time.perf_counter()

        def synchronize(self) -> None:
            return None

        def wait(self, stream: Any = None) -> None:
            return None

        def query(self) -> bool:
            return True

        def elapsed_time(self, end_event: Any) -> float:
            if self.t is None or end_event.t is None:
                raise RuntimeError("CUDA error: device not ready" + ASYNC_HINT)
            return (end_event.t - self.t) * 1000.0

    default = {"stream": None}

    def current_stream(device: Any = None) -> Stream:
        if default["stream"] is None:
            default["stream"] = Stream(device)
        return default["stream"]

    @contextlib.contextmanager
    def stream(s: Any = None) -> Any:
        yield s

    values = {
        "is_available": is_available,
        "device_count": device_count,
        "is_initialized": is_initialized,
        "init": init,
        "_lazy_init": init,
        "get_device_properties": get_device_properties,
        "get_device_name": get_device_name,
        "get_device_capability": get_device_capability,
        "get_arch_list": get_arch_list,
        "get_gencode_flags": get_gencode_flags,
        "current_device": current_device,
        "set_device": set_device,
        "synchronize": synchronize,
        "mem_get_info": mem_get_info,
        "memory_allocated": memory_allocated,
        "max_memory_allocated": max_memory_allocated,
        "memory_reserved": memory_allocated,
        "max_memory_reserved": max_memory_allocated,
        "reset_peak_memory_stats": reset_peak_memory_stats,
        "memory_summary": memory_summary,
        "empty_cache": empty_cache,
        "ipc_collect": empty_cache,
        "is_bf16_supported": is_bf16_supported,
        "manual_seed": no_seed,
        "manual_seed_all": no_seed,
        "seed": no_seed,
        "seed_all": no_seed,
        "initial_seed": initial_seed,
        "get_rng_state": get_rng_state,
        "get_rng_state_all": get_rng_state_all,
        "set_rng_state": no_seed,
        "set_rng_state_all": no_seed,
        "device": device,
        "Stream": Stream,
        "Event": Event,
        "current_stream": current_stream,
        "default_stream": current_stream,
        "stream": stream,
    }
    for name, value in values.items():
        setattr(cuda, name, value)
    with contextlib.suppress(Exception):
        torch.cuda.memory.mem_get_info = mem_get_info
        torch.cuda.memory.memory_allocated = memory_allocated


def _patch_backends(torch: Any, sim: SimGpu) -> None:
    cudnn_version = int(sim.cudnn) if sim.cudnn.isdigit() else None
    cudnn = torch.backends.cudnn
    cudnn.version = lambda: cudnn_version
    cudnn.is_available = lambda: cudnn_version is not None
    torch.backends.cuda.is_built = lambda: True


def _patch_modules(torch: Any, sim: SimGpu) -> None:
    """``module.to("cuda")`` / ``.cuda()`` keep the parameters in place and mark them as GPU tensors."""
    module_cls = torch.nn.Module
    original_to = module_cls.to
    if getattr(original_to, "_jetson_sim", False):
        return

    def mark_all(module: Any, on_gpu: bool) -> None:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if on_gpu:
                _GPU[tensor] = True
            else:
                _GPU.pop(tensor, None)

    def to(self: Any, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_normalise_device(a, i == 0) for i, a in enumerate(args))
        if "device" in kwargs:
            kwargs = dict(kwargs, device=_normalise_device(kwargs["device"], True))
        device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args, **kwargs)
        if args and isinstance(args[0], torch.Tensor):
            on_gpu = args[0] in _GPU
        elif device is None or device.type not in ("cuda", "cpu"):
            return original_to(self, *args, **kwargs)
        else:
            on_gpu = device.type == "cuda"
        if on_gpu:
            sim.require(device.index if device is not None and device.type == "cuda" else None)
        extra = {"memory_format": memory_format} if memory_format is not None else {}
        result = original_to(self, torch.device("cpu"), dtype, non_blocking, **extra)
        mark_all(self, on_gpu)
        return result

    def cuda(self: Any, device: Any = None) -> Any:
        sim.require(_device_index(device) if device is not None else None)
        mark_all(self, True)
        return self

    def cpu(self: Any) -> Any:
        mark_all(self, False)
        return self

    to._jetson_sim = True  # type: ignore[attr-defined]
    module_cls.to = to
    module_cls.cuda = cuda
    module_cls.cpu = cpu


def _patch_load(torch: Any) -> None:
    """``torch.load(..., map_location="cuda")`` loads onto the CPU memory the simulated GPU lives in."""
    original = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        where = kwargs.get("map_location")
        if where is not None and not callable(where) and not isinstance(where, dict) and _is_cuda(where):
            kwargs["map_location"] = "cpu"
        return original(*args, **kwargs)

    load.__doc__ = original.__doc__
    torch.load = load


def _normalise_device(value: Any, first: bool) -> Any:
    """``_parse_to`` cannot resolve ``"cuda"`` or a bare ordinal on a CPU build; give it a torch.device."""
    import torch

    if isinstance(value, str) and value.startswith("cuda"):
        index = _device_index(value)
        return torch.device("cuda", index if index is not None else 0)
    if first and isinstance(value, int) and not isinstance(value, bool):
        return torch.device("cuda", value)
    return value


def _make_mode(torch: Any, sim: SimGpu) -> Any:
    """The global mode that translates cuda devices to cpu and tracks tensors on the simulated GPU."""
    from torch.overrides import TorchFunctionMode

    F = torch.nn.functional
    Tensor = torch.Tensor
    gpu = _GPU
    half = torch.float16
    perf = time.perf_counter_ns

    blas = {
        F.linear, torch.matmul, Tensor.matmul, Tensor.__matmul__, Tensor.__rmatmul__,
        torch.mm, Tensor.mm, torch.bmm, Tensor.bmm, torch.addmm, Tensor.addmm,
        torch.baddbmm, Tensor.baddbmm, F.conv1d, F.conv2d, torch.einsum,
        F.scaled_dot_product_attention, F.multi_head_attention_forward,
    }  # fmt: skip
    native_mha = getattr(torch, "_native_multi_head_attention", None)
    if native_mha is not None:
        blas.add(native_mha)
    fp32_ops = {F.layer_norm, torch.layer_norm, F.group_norm, F.softmax, torch.softmax, Tensor.softmax,
                F.log_softmax, torch.log_softmax, Tensor.log_softmax}  # fmt: skip
    upcast_ops = blas | {F.layer_norm, torch.layer_norm}
    no_kernel = {
        Tensor.to, Tensor.cuda, Tensor.cpu, torch.empty, torch.empty_like, torch.empty_strided,
        Tensor.new_empty, Tensor.view, Tensor.reshape, Tensor.permute, Tensor.transpose, Tensor.t,
        Tensor.expand, Tensor.squeeze, Tensor.unsqueeze, Tensor.detach, Tensor.__getitem__,
        Tensor.flatten, Tensor.view_as, Tensor.pin_memory,
    }  # fmt: skip
    cublas_fault = "cublas_alloc_failed" in sim.faults

    def is_gpu(value: Any) -> bool:
        if isinstance(value, Tensor):
            return value in gpu
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Tensor) and item in gpu:
                    return True
        return False

    def mark(result: Any) -> None:
        if isinstance(result, Tensor):
            gpu[result] = True
        elif isinstance(result, (list, tuple)):
            for item in result:
                if isinstance(item, Tensor):
                    gpu[item] = True

    def has_tensor(result: Any) -> bool:
        if isinstance(result, Tensor):
            return True
        if isinstance(result, (list, tuple)):
            return any(isinstance(item, Tensor) for item in result)
        return False

    def up(value: Any) -> Any:
        if isinstance(value, Tensor):
            return value.float() if value.dtype == half else value
        if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
            return type(value)(up(v) for v in value) if not hasattr(value, "_fields") else value
        return value

    def down(value: Any, dtype: Any) -> Any:
        if isinstance(value, Tensor):
            return value.to(dtype) if value.dtype == torch.float32 else value
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(down(v, dtype) for v in value)
        if isinstance(value, list):
            return [down(v, dtype) for v in value]
        return value

    def any_half(args: tuple, kwargs: dict) -> bool:
        for value in args:
            if isinstance(value, Tensor) and value.dtype == half:
                return True
            if isinstance(value, (list, tuple)):
                for v in value:
                    if isinstance(v, Tensor) and v.dtype == half:
                        return True
        return any(isinstance(v, Tensor) and v.dtype == half for v in kwargs.values())

    def compute(func: Any, args: tuple, kwargs: dict) -> Any:
        """fp16 on the simulated GPU: accumulate in fp32 (as tensor cores do) and round the result."""
        if func in upcast_ops or func in fp32_ops:
            if "out" in kwargs or getattr(func, "__name__", "").endswith("_"):
                return func(*args, **kwargs)
            autocast = torch.is_autocast_enabled("cuda")
            if autocast:
                target = torch.get_autocast_dtype("cuda") if func in blas else torch.float32
            elif func in upcast_ops and any_half(args, kwargs):
                target = half
            else:
                return func(*args, **kwargs)
            new_args = tuple(up(a) for a in args)
            new_kwargs = {k: up(v) for k, v in kwargs.items()}
            return down(func(*new_args, **new_kwargs), target)
        return func(*args, **kwargs)

    def tensor_to(func: Any, args: tuple, kwargs: dict) -> Any:
        self, rest = args[0], tuple(_normalise_device(a, i == 0) for i, a in enumerate(args[1:]))
        kw = dict(kwargs)
        copy = kw.pop("copy", False)
        if "device" in kw:
            kw["device"] = _normalise_device(kw["device"], True)
        try:
            device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*rest, **kw)
        except (TypeError, RuntimeError):
            return func(*args, **kwargs)
        src = self in gpu
        if rest and isinstance(rest[0], Tensor):
            dst = rest[0] in gpu
        elif device is None:
            dst = src
        elif device.type == "cuda":
            sim.require(device.index)
            dst = True
        elif device.type == "cpu":
            dst = False
        else:
            return func(*args, **kwargs)
        extra = {"memory_format": memory_format} if memory_format is not None else {}
        start = perf()
        result = func(self, torch.device("cpu"), dtype, non_blocking, copy, **extra)
        if result is self and src != dst:
            result = self.clone()
        if src or dst:
            sim.add_busy(perf() - start)
        if dst:
            gpu[result] = True
        return result

    def tensor_cuda(func: Any, args: tuple, kwargs: dict) -> Any:
        self = args[0]
        device = args[1] if len(args) > 1 else kwargs.get("device")
        sim.require(_device_index(device) if device is not None else None)
        if self in gpu:
            return self
        start = perf()
        result = self.clone()
        sim.add_busy(perf() - start)
        gpu[result] = True
        return result

    def tensor_cpu(func: Any, args: tuple, kwargs: dict) -> Any:
        self = args[0]
        if self not in gpu:
            return func(*args, **kwargs)
        start = perf()
        result = self.clone()
        sim.add_busy(perf() - start)
        return result

    def pin_memory(func: Any, args: tuple, kwargs: dict) -> Any:
        return args[0]

    def get_device(func: Any, args: tuple, kwargs: dict) -> Any:
        return 0 if args[0] in gpu else func(*args, **kwargs)

    special = {
        Tensor.to: tensor_to,
        Tensor.cuda: tensor_cuda,
        Tensor.cpu: tensor_cpu,
        Tensor.pin_memory: pin_memory,
        Tensor.get_device: get_device,
    }

    class SimCudaMode(TorchFunctionMode):
        """Pushed once at import and never popped (see ``_push_mode_in_new_threads`` for threads)."""

        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            handler = special.get(func)
            if handler is not None:
                return handler(func, args, kwargs)
            on_gpu = False
            device = kwargs.get("device")
            if device is not None and _is_cuda(device):
                sim.require(_device_index(device))
                kwargs = dict(kwargs, device="cpu")
                on_gpu = True
            if not on_gpu:
                for value in args:
                    if is_gpu(value):
                        on_gpu = True
                        break
                else:
                    for value in kwargs.values():
                        if is_gpu(value):
                            on_gpu = True
                            break
            if not on_gpu:
                return func(*args, **kwargs)
            if cublas_fault and func in blas:
                raise RuntimeError(CUBLAS_ALLOC_FAILED)
            start = perf()
            try:
                result = compute(func, args, kwargs)
            finally:
                sim.add_busy(perf() - start)
            if sim.kernel_error and func not in no_kernel and has_tensor(result):
                raise RuntimeError(sim.kernel_error)
            mark(result)
            return result

    return SimCudaMode()
