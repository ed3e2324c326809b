"""Failure signatures: real error text -> likely cause -> Jetson-specific fix, with where each came from.

A failing check passes its evidence (probe output, `docker logs` tail, `docker info`, its own message) to
diagnose(). One signature covers a family of failures that share a cause and a fix (any missing CUDA library,
every spelling of out-of-memory, Docker's and compose's words for an unknown runtime), not one string. The
diagnoses come back in catalogue order, which runs from the most specific signature to the most generic, and
a signature that explains a more generic one hides it (a CPU-only torch build explains `cuda_available
False`, so only the former is reported, and it names what it hid). format_hint() turns them into the suffix
that ends an assertion message; Diagnosis.as_dict() is the structured form.

How well the catalogue knows the real world is measured on a corpus of error texts quoted from public threads
(selftests/data/errors/, a held-out part it was not tuned on) and on healthy logs that must give nothing:
bench/diagnosis_accuracy.py and docs/diagnosis.md.

>>> d = diagnose("cuda_available False\\ncuda_version None\\nresult fail")
>>> [x.id for x in d]
['torch_cpu_build']
>>> format_hint(d).startswith("Likely cause: torch is a CPU-only wheel")
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = ["CATALOGUE", "RECREATE", "Diagnosis", "Signature", "diagnose", "format_hint", "format_report", "signature"]

L4T_IMAGE_FIX = (
    "rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the host's L4T release (e.g. r36.x on "
    "JetPack 6; `cat /etc/nv_tegra_release` shows it) and run it with `runtime: nvidia`"
)
RECREATE = "sudo -n docker compose up -d --force-recreate vl_jepa embedding_guard scene policy"
TOOLKIT_FIX = (
    "install the NVIDIA container toolkit (`sudo apt install nvidia-container` on JetPack) and register "
    'it (`sudo nvidia-ctk runtime configure --runtime=docker`), set `"default-runtime": "nvidia"` in '
    "/etc/docker/daemon.json and `sudo systemctl restart docker`"
)
EVIDENCE_MAX = 300  # characters of the matched line kept as evidence


@dataclass(frozen=True)
class Signature:
    """One failure family: pattern is a regex searched (MULTILINE) in the evidence text; family groups
    signatures for the accuracy bench's confusion table."""

    id: str
    pattern: str
    cause: str
    fix: str
    source: str
    supersedes: tuple[str, ...] = ()  # ids of more generic signatures this one explains
    family: str = ""

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.MULTILINE)

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text)


@dataclass(frozen=True)
class Diagnosis:
    """A signature found in the evidence: which one, the text it matched, in which input (0-based, and its
    label when the caller named the inputs), on which line (1-based), and the generic signatures it hid."""

    signature: Signature
    match: str
    text_index: int = 0
    groups: tuple[str | None, ...] = field(default=())
    where: str = ""
    line: int = 0
    evidence: str = ""
    explains: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.signature.id

    @property
    def cause(self) -> str:
        return self.signature.cause

    @property
    def fix(self) -> str:
        return self.signature.fix

    @property
    def source(self) -> str:
        return self.signature.source

    @property
    def family(self) -> str:
        return self.signature.family or self.signature.id

    def hint(self) -> str:
        return f"Likely cause: {self.cause}  Fix: {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        """The structured form (what a report or summary.json lists for a failed check)."""
        return {
            "id": self.id,
            "family": self.family,
            "cause": self.cause,
            "fix": self.fix,
            "evidence": self.evidence or self.match,
            "match": self.match,
            "where": self.where or f"input {self.text_index}",
            "line": self.line,
            "explains": list(self.explains),
            "source": self.source,
        }


_CHECKS_FALSE = "cuda_numeric_mismatch"
_UNAVAILABLE = "cuda_unavailable"

# Family names (the bench's confusion table groups by these).
F_RUNTIME = "nvidia runtime"
F_DEVICES = "device nodes"
F_LIBS = "CUDA libraries missing"
F_DRIVER = "CUDA driver"
F_ARCH = "kernel image / arch"
F_BLAS = "cuBLAS/cuDNN status"
F_OOM = "out of memory"
F_TORCH = "torch build"
F_TRT = "TensorRT engine"
F_CONFIG = "configuration"
F_MQTT = "MQTT"
F_HOST = "host access"
F_DISK = "disk full"

CATALOGUE: tuple[Signature, ...] = (
    # ---------------------------------------------------------------- container runtime and device access
    Signature(
        "cuda_libs_not_mounted",
        r"\blib(?:cu|nv|npp|myelin)[\w+-]*\.so(?:\.[\d.]*\d)?(?:[:;'\"]|\.?\s|$)[^\n]*?"
        r"(?:cannot open shared object file|file too short)",
        "a CUDA, TensorRT or driver library (libcudart, libcublas, libcurand, libcufft, libnvinfer, "
        "libnvToolsExt, libcuda, libnvdla_compiler, ...) is missing in the container or is an empty placeholder: "
        "on JetPack 4 (L4T R32) these come from the host through the nvidia runtime's CSV mounts, which did "
        "not happen (no `runtime: nvidia`, a build without default-runtime nvidia, a compose version that "
        "drops the runtime, or the host lacks the JetPack libraries); on JetPack 5/6 the image itself must "
        "carry them and was built for another CUDA",
        'give vl_jepa `runtime: nvidia` in docker-compose.yml and set `"default-runtime": "nvidia"` in '
        "/etc/docker/daemon.json (`sudo systemctl restart docker`, then rebuild); if CSVs are still skipped set "
        'NVIDIA_REQUIRE_JETPACK="csv-mounts=all"; on a JetPack 5/6 host ' + L4T_IMAGE_FIX,
        "dusty-nv/jetson-containers #93, #100, #108, #126, #196, #222; dusty-nv/jetson-inference #1061, #1736; "
        "NVIDIA/nvidia-container-runtime #173; docker/compose #12203",
        supersedes=(_UNAVAILABLE, "torch_import_failed"),
        family=F_LIBS,
    ),
    Signature(
        "nvmap_missing",
        r"NvRmMemInitNvmap failed with No such file or directory|356: Memory Manager Not supported"
        r"|NvRmMemMgrInit failed|NvRmPrivGetChipIdLimited: Could not read Tegra chip id"
        r"|Can't initialize nvrm channel",
        "/dev/nvmap and the other Tegra GPU device nodes are not in the container (a generic arm64 base with "
        "JetPack libraries and no runtime injecting the devices), so PyTorch silently runs on the CPU",
        "run vl_jepa with `runtime: nvidia` on an l4t-based image so devices.csv's /dev/nvmap and "
        "/dev/nvhost-* are injected; check with `sudo -n docker exec vl_jepa_agent ls -l /dev/nvmap`",
        "dusty-nv/jetson-containers #384; UsingNet/nvjpeg-python #13",
        supersedes=(_UNAVAILABLE, "nvmap_permission_denied"),
        family=F_DEVICES,
    ),
    Signature(
        "nvmap_permission_denied",
        r"NvRmMemInitNvmap failed with Permission denied|549: Memory Manager Not supported"
        r"|NvRmMemInit failed|(?i:nvml(?: error)?: insufficient permissions|initialize NVML: Insufficient Permissions)",
        "the process cannot open /dev/nvmap (root:video, mode 0660; /dev/nvidia* on a discrete GPU): it runs as a "
        "user outside the video group",
        "run the agent as root or in the video group (`group_add: [video]` on vl_jepa in docker-compose.yml; "
        "`sudo usermod -aG video $USER` for host processes)",
        "anduril/jetpack-nixos #118",
        supersedes=(_UNAVAILABLE,),
        family=F_DEVICES,
    ),
    Signature(
        "gpus_flag_hook",
        r"invoking the NVIDIA Container Runtime Hook directly",
        "the container asked for the GPU with `--gpus` / `deploy.resources.reservations.devices`, which the "
        "Jetson (CSV-mode) NVIDIA runtime does not support",
        "replace `--gpus` / the deploy GPU reservation with `runtime: nvidia` on vl_jepa in docker-compose.yml "
        "and recreate it (" + RECREATE + ")",
        "NVIDIA/nvidia-container-toolkit patch 'Add RuntimeMode type' (facts section 5); "
        "dusty-nv/jetson-containers #1068, #1577",
        supersedes=(_UNAVAILABLE,),
        family=F_RUNTIME,
    ),
    Signature(
        "nvidiactl_mount_error",
        r"nvidia-container-cli: mount error: stat failed: ",
        "an old nvidia-container-toolkit stops at an entry it cannot find (on Jetson a CSV line for a device "
        "node this SoC does not have, such as /dev/nvidiactl)",
        "upgrade the NVIDIA container toolkit (JetPack's `nvidia-container` package; newer versions log "
        "`missing device` and go on) or delete the stale line from "
        "/etc/nvidia-container-runtime/host-files-for-container.d/*.csv",
        "NVIDIA/nvidia-container-runtime #123",
        family=F_RUNTIME,
    ),
    Signature(
        "cdi_generate_nvml",
        r"error getting GPU device minor number: Not Supported",
        "`nvidia-ctk cdi generate` ran in NVML mode, which Jetson's integrated GPU does not support",
        "generate the CDI spec in CSV mode (`sudo nvidia-ctk cdi generate --mode=csv "
        "--output=/etc/cdi/nvidia.yaml`) or keep using `runtime: nvidia` in its legacy/csv mode",
        "NVIDIA-ISAAC-ROS/isaac_ros_common #163",
        family=F_RUNTIME,
    ),
    Signature(
        "nvidia_runtime_missing",
        r"^[ \t]*Runtimes:(?![^\n]*\bnvidia\b)[^\n]*$"
        r"|(?i:unknown runtime specified:? nvidia|unknown or invalid runtime name:? nvidia)"
        r"|could not select device driver \"[^\"\n]*\" with capabilities: \[\[gpu\]\]"
        r"|exec: \"nvidia-container-runtime(?:-hook)?\": executable file not found",
        "Docker has no `nvidia` runtime registered (the NVIDIA container toolkit is missing, or daemon.json "
        "does not name it, or Docker was not restarted after it was added), so no container can reach the "
        "Tegra GPU; Docker says `Unknown runtime specified nvidia` / `unknown or invalid runtime name`, compose "
        "`Cannot create container for service ...`, and `--gpus` finds no device driver",
        TOOLKIT_FIX,
        "dusty-nv/jetson-containers docs/setup.md (facts section 5); dusty-nv/jetson-containers #122, #1460; "
        "NVIDIA/nvidia-docker #1034",
        supersedes=("default_runtime_runc",),
        family=F_RUNTIME,
    ),
    Signature(
        "default_runtime_runc",
        r"Default Runtime:[ \t]*runc\b",
        "Docker's default runtime is runc: `docker build` and every container that does not ask for "
        "`runtime: nvidia` start without the Tegra GPU's device nodes and driver libraries",
        'set `"default-runtime": "nvidia"` (with the nvidia runtime entry) in /etc/docker/daemon.json, '
        "`sudo systemctl restart docker`, check `sudo docker info | grep 'Default Runtime'` says nvidia, and "
        "keep `runtime: nvidia` on vl_jepa",
        "dusty-nv/jetson-containers docs/setup.md (facts section 5)",
        family=F_RUNTIME,
    ),
    Signature(
        "container_runtime_runc",
        r"(?i)(?<!default )\bruntime[\"']?[ \t]*(?:[:=]|is)[ \t]*[\"']?runc\b",
        "the agent container runs with runc instead of the nvidia runtime: no GPU device nodes or driver "
        "libraries inside, so torch.cuda.is_available() is False",
        "set `runtime: nvidia` on the service in docker-compose.yml and recreate it (" + RECREATE + ")",
        "flashrt-project/FlashRT PR #8 (facts section 5)",
        supersedes=(_UNAVAILABLE,),
        family=F_RUNTIME,
    ),
    # ---------------------------------------------------------------- driver
    Signature(
        "cuda_driver_insufficient",
        r"cudaGetDevice\w* returned 35|CUDA driver version is insufficient for CUDA runtime version"
        r"|cudaErrorInsufficientDriver|CUDA error code=35\b|\(35 vs\. 0\)"
        r"|The NVIDIA driver on your system is too old|forward compatibility was attempted on non supported HW"
        r"|CUDA initialization failure with error:? 35\b",
        "the container's CUDA runtime is newer than the host's L4T driver supports (e.g. a CUDA 12.8 image on "
        "JetPack 6, whose driver is CUDA 12.6; an x86 nvidia/cuda image on a Nano), or on Jetson the container "
        "got no driver at all (started without the nvidia runtime), which the CUDA runtime reports the same way",
        "use an image whose CUDA is not newer than the host JetPack's (JetPack 6.x: CUDA 12.6 images, e.g. "
        "l4t-pytorch / dustynv/pytorch tagged r36.4) or upgrade JetPack, and run it with `runtime: nvidia`; "
        "`deviceQuery` prints `CUDA Driver Version / Runtime Version` to compare",
        "anduril/jetpack-nixos #328; NVlabs/FoundationStereo #209; EricLBuehler/mistral.rs #867; "
        "loretoparisi/docker #11",
        supersedes=(_UNAVAILABLE, _CHECKS_FALSE),
        family=F_DRIVER,
    ),
    Signature(
        "nvml_driver_mismatch",
        r"(?i:Failed to initialize NVML: Driver/library version mismatch)"
        r"|NVML_SUCCESS == DriverAPI::get\(\)->nvmlInit\w*\(\) INTERNAL ASSERT FAILED",
        "the NVIDIA kernel module loaded now is not the version of the user-space driver libraries (the driver "
        "package was upgraded, often by unattended-upgrades, without a reboot), so NVML and CUDA refuse to start",
        "reboot the host so the new kernel module loads (or unload and reload the nvidia modules when nothing "
        "uses the GPU), then check `nvidia-smi`; pin the driver packages (`sudo apt-mark hold`) to stop silent "
        "upgrades",
        "tinygrad/open-gpu-kernel-modules #47; lyulyul/shine-cluster #30",
        supersedes=(_UNAVAILABLE, "cuda_no_device"),
        family=F_DRIVER,
    ),
    Signature(
        "cuda_no_device",
        r"(?i:no CUDA-capable device is detected)|CUDA_ERROR_NO_DEVICE|cudaErrorNoDevice"
        r"|cudaGetDeviceCount returned (?:38|100)\b|Found no NVIDIA driver on your system"
        r"|couldn't communicate with the NVIDIA driver|CUDA driver initialization failed"
        r"|cudaErrorInitializationError|cuda runtime error \(3\) : initialization error"
        r"|CUDA error[^\n]*: initialization error",
        "CUDA finds no GPU or cannot initialise its driver: on a Jetson either the image's L4T major release "
        "differs from the host's (an r35 image's CUDA cannot initialise an R36 host's driver) or the process has no "
        "Tegra driver to talk to (the container started without the nvidia runtime, so /dev/nvhost-* and the L4T "
        "CUDA driver are not inside, the process runs as a user outside the video group, or a custom root "
        "filesystem lacks the nvidia-l4t packages); on a discrete-GPU host the NVIDIA kernel driver is not loaded "
        "or was half-upgraded",
        "compare the image's L4T tag with /etc/nv_tegra_release (Task 4; " + L4T_IMAGE_FIX + "); "
        "run vl_jepa with `runtime: nvidia`, as root or with `group_add: [video]` (check `sudo -n docker exec "
        "vl_jepa_agent ls /dev/nvhost-ctrl-gpu /dev/nvmap`); on the host check `cat /etc/nv_tegra_release` and "
        "`dpkg -l | grep nvidia-l4t-cuda` (reinstall JetPack or reflash if missing); on a dGPU host load the "
        "driver (`sudo modprobe nvidia`, or reinstall it and reboot)",
        "idavis/jetson-containers #17; NVIDIA/nvidia-docker #1021, #548; vjrantal/iot-edge-darknet-module #6",
        supersedes=(_UNAVAILABLE,),
        family=F_DRIVER,
    ),
    # ---------------------------------------------------------------- torch build and CUDA stack
    Signature(
        "no_kernel_image",
        r"(?i:no kernel image is available for execution)|Error named symbol not found"
        r"|cudaErrorNoKernelImageForDevice|with CUDA capability sm_\d+ is not compatible with the current "
        r"PyTorch installation|(?i:CUDA error: invalid device function)"
        r"|(?i:could not find compatible [^\n]{0,60}for compute capability \d+)",
        "the torch wheel has no kernels for this SoC's SM (Orin sm_87, Xavier sm_72, Nano sm_53), e.g. a "
        "pytorch.org cu12x SBSA or nightly wheel or a conda-forge aarch64 build; Tegra has no SASS "
        "compatibility across minor SM revisions",
        "install a torch built for Jetson: rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the "
        "host's L4T release (e.g. r36.x on JetPack 6) or install NVIDIA's Jetson wheel; check that "
        "`torch.cuda.get_arch_list()` contains sm_87 on Orin (sm_72 Xavier, sm_53 Nano)",
        "pytorch/pytorch #145560, #22785, #52736; conda-forge/pytorch-cpu-feedstock #303; bitsandbytes #1930; "
        "dusty-nv/jetson-inference #812",
        supersedes=("sm_not_in_arch_list", _CHECKS_FALSE, "cublas_execution_failed"),
        family=F_ARCH,
    ),
    Signature(
        "sm_not_in_arch_list",
        r"^sm_supported False[ \t]*$|\bsm_\d+ not in arch_list",
        "the torch wheel was not built for this GPU's SM (its arch list lacks the device's capability), so "
        "CUDA kernels cannot run",
        "install a torch built for Jetson: rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the "
        "host's L4T release (e.g. r36.x on JetPack 6) or install NVIDIA's Jetson wheel; its "
        "`torch.cuda.get_arch_list()` must contain sm_87 on Orin (sm_72 Xavier, sm_53 Nano)",
        "pytorch/pytorch #145560; jetson-containers CUDA_ARCHITECTURES (facts sections 3 and 6)",
        supersedes=(_CHECKS_FALSE,),
        family=F_ARCH,
    ),
    Signature(
        "cublas_alloc_failed",
        r"CUBLAS_STATUS_ALLOC_FAILED|CUBLAS_STATUS_NOT_INITIALIZED|failed to create cublas handle"
        r"|the resource allocation failed[\s\S]{0,400}?cublasCreate",
        "cuBLAS could not allocate its workspace when creating its handle (CUBLAS_STATUS_ALLOC_FAILED, or "
        "NOT_INITIALIZED from cublasCreate): the Jetson's shared CPU/GPU memory is exhausted (other "
        "containers, the desktop, a large model), or the image's cuBLAS does not support this GPU/driver",
        "watch `sudo -n tegrastats` RAM and lfb while vl_jepa starts, stop other GPU users, keep VL_JEPA_FP16=1 "
        "and a small input size; if memory is free, " + L4T_IMAGE_FIX + " so cuBLAS matches the driver",
        "jax-ml/jax #13504; ggml-org/whisper.cpp #2809; OpenBMB/VisCPM #3; tensorflow/tensorflow #9489",
        supersedes=(_CHECKS_FALSE, "cublas_execution_failed"),
        family=F_BLAS,
    ),
    Signature(
        "cublas_execution_failed",
        r"CUBLAS_STATUS_(?:EXECUTION_FAILED|ARCH_MISMATCH|NOT_SUPPORTED|INTERNAL_ERROR|MAPPING_ERROR)",
        "a cuBLAS kernel failed to run (EXECUTION_FAILED, ARCH_MISMATCH, INTERNAL_ERROR): the cuBLAS in use "
        "has no kernels for this GPU or does not match the driver (a pip nvidia-cublas wheel or another CUDA "
        "over JetPack's), or an earlier CUDA error or memory exhaustion left the context broken",
        L4T_IMAGE_FIX + "; do not pip-install nvidia-cublas/torch over it; rerun with CUDA_LAUNCH_BLOCKING=1 to "
        "find the first failing call and watch `sudo -n tegrastats` RAM",
        "open-mmlab/mmdetection #6549; microsoft/CNTK #379; QingyongHu/SensatUrban #25",
        supersedes=(_CHECKS_FALSE,),
        family=F_BLAS,
    ),
    Signature(
        "cudnn_not_initialized",
        r"CUDNN_STATUS_NOT_INITIALIZED|CUDNN_STATUS_ALLOC_FAILED|(?i:could not create cudnn handle)",
        "cuDNN could not create its handle (NOT_INITIALIZED / ALLOC_FAILED): the GPU memory, shared with the "
        "CPU on a Jetson, is exhausted or held by another process, the cuDNN found does not match the CUDA "
        "and driver, or the process may not open the GPU device nodes (a non-root user outside the video group)",
        "free memory (stop other GPU users, watch `sudo -n tegrastats`), run the agent as root or with "
        "`group_add: [video]`, and " + L4T_IMAGE_FIX + " so cuDNN comes from the same JetPack",
        "ceccocats/tkDNN #282; pytorch/pytorch #1171, #6106; NVIDIA/TensorRT #2911",
        supersedes=(_CHECKS_FALSE, "cudnn_execution_failed"),
        family=F_BLAS,
    ),
    Signature(
        "cudnn_execution_failed",
        r"CUDNN_STATUS_(?:INTERNAL_ERROR|EXECUTION_FAILED|MAPPING_ERROR|ARCH_MISMATCH)",
        "a cuDNN call failed while running (INTERNAL_ERROR, EXECUTION_FAILED, MAPPING_ERROR): usually the "
        "shared memory ran short mid-run or the cuDNN build does not match this GPU and driver",
        "watch `sudo -n tegrastats` RAM while it runs, lower VL_JEPA_INPUT_SIZE or the batch, stop other GPU "
        "users; if memory is free, " + L4T_IMAGE_FIX,
        "apache/mxnet #9612; TimoSaemann/ENet #64; AlexeyAB/darknet #6716",
        supersedes=(_CHECKS_FALSE,),
        family=F_BLAS,
    ),
    Signature(
        "nvml_assert_oom",
        r"NVML_SUCCESS == r INTERNAL ASSERT FAILED",
        "the GPU ran out of memory: on Tegra a failed cudaMalloc in PyTorch's caching allocator surfaces as "
        "this NVML assert instead of an out-of-memory error (memory shared with another process)",
        "free the shared memory (stop other GPU processes and containers, e.g. an LLM server), keep "
        "VL_JEPA_FP16=1 and a smaller model or input; PYTORCH_NO_CUDA_NVML=1 does not help",
        "NVIDIA forum t/370049; pytorch/pytorch #185240",
        supersedes=(_CHECKS_FALSE, "cuda_oom"),
        family=F_OOM,
    ),
    Signature(
        "cuda_malloc_async_unsupported",
        r"Error code: 801|cudaErrorNotSupported|Error text: operation not supported"
        r"|deallocateAsync[^\n]*operation not supported",
        "the stream-ordered allocator (cudaMallocAsync) is not supported by the CUDA driver in use (CUDA 10.2 "
        "on Nano lacks it; TensorRT 10 on an older driver)",
        "use cudaMalloc: drop `backend:cudaMallocAsync` from PYTORCH_CUDA_ALLOC_CONF; for TensorRT use the "
        "TensorRT of the host's JetPack and rebuild the engine with its trtexec",
        "triple-mu/YOLOv8-TensorRT #97; 1079863482/yolov8_ByteTrack_TensorRT #1; "
        "linClubs/YOLOv8-ROS-TensorRT #10; NVIDIA/TensorRT #3980",
        supersedes=(_CHECKS_FALSE,),
        family=F_DRIVER,
    ),
    Signature(
        "libcudnn_missing",
        r"libcudnn[\w]*\.so(?:\.\d+)*: cannot open shared object file",
        "cuDNN is missing from the image or has the wrong major version (l4t-base r34+ carries no CUDA "
        "libraries; JetPack 6 ships cuDNN 9, so cuDNN 8 builds break)",
        "rebuild FROM l4t-jetpack / l4t-pytorch for the host's L4T (cuDNN included), or install the cuDNN "
        "package that the torch build needs in docker/vl_jepa/Dockerfile",
        "microsoft/onnxruntime #19631; dusty-nv/jetson-containers cudnn package config",
        supersedes=("torch_import_failed", _UNAVAILABLE, "cuda_libs_not_mounted"),
        family=F_LIBS,
    ),
    Signature(
        "libcudss_missing",
        r"libcudss\.so\.\d+: cannot open shared object file",
        "the torch wheel (e.g. torch 2.8 from pypi.jetson-ai-lab.io/jp6/cu126) needs cuDSS, which the image lacks",
        "add `apt-get install -y cudss` (from the CUDA arm64 repository) to docker/vl_jepa/Dockerfile and "
        "rebuild: `sudo -n docker compose build vl_jepa`",
        "NVIDIA/Isaac-GR00T #343",
        supersedes=("torch_import_failed", "cuda_libs_not_mounted"),
        family=F_LIBS,
    ),
    Signature(
        "unknown_cuda_arch",
        r"Unknown CUDA arch \([^)]*\) or GPU not supported",
        "this torch's cpp_extension arch table predates the SoC (e.g. 8.7+PTX for Orin) when building a CUDA extension",
        'use a newer torch (the l4t-pytorch image for the host\'s L4T) or set TORCH_CUDA_ARCH_LIST="8.7" '
        "(Orin) before building the extension",
        "pytorch/pytorch #94438",
        family=F_ARCH,
    ),
    Signature(
        "cuda_oom",
        r"(?i:CUDA out of memory)|torch\.(?:cuda\.)?OutOfMemoryError|CUDA error: ?out of memory"
        r"|cuda runtime error \(2\) : out of memory|error=2 : out of memory"
        r"|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation|ran out of memory trying to allocate"
        r"|OOM when allocating tensor|ResourceExhaustedError|NvMapMem\w*Alloc\w*:?[^\n]*error 12\b"
        r"|cudaAllocMapped\(\) failed to allocate memory|Out of memory: Kill(?:ed)? process"
        r"|Requested amount of GPU memory \(\d+ bytes\) could not be allocated",
        "the GPU ran out of memory, which a Jetson shares with the CPU and every other process (NvMap error "
        "12, a failed cudaMalloc or cudaAllocMapped, or the kernel's OOM killer ending the process are the "
        "same shortage)",
        "stop other GPU users, keep VL_JEPA_FP16=1, lower VL_JEPA_INPUT_SIZE or use the DINOv2-small TensorRT "
        "engine (Plan B); `sudo -n tegrastats` shows RAM in use; add swap or disable the desktop "
        "(`sudo systemctl set-default multi-user.target`) on 4-8 GB modules",
        "runbook Tasks 3 and 5; jetson-facts section 6 (Tegra memory is shared); "
        "dusty-nv/jetson-inference #1525; vetter/shoc #38",
        supersedes=(_CHECKS_FALSE,),
        family=F_OOM,
    ),
    Signature(
        "torch_cpu_build",
        r"^cuda_version None[ \t]*$|torch\.version\.cuda(?:\W{1,10}| is | == )None\b|^torch \S+\+cpu\b"
        r"|CPU-only torch build|Torch not compiled with CUDA enabled",
        "torch is a CPU-only wheel (torch.version.cuda is None): `pip install torch` on aarch64 installs the CPU "
        "build; NVIDIA's Jetson wheels carry an `nvYY.MM` local version (e.g. 2.0.0+nv23.05)",
        "use NVIDIA's Jetson torch: rebuild vl_jepa FROM an l4t-pytorch / dustynv/pytorch image tagged for the "
        "host's L4T (e.g. r36.x on JetPack 6) or install the wheel from developer.download.nvidia.com/compute/"
        "redist/jp/ or pypi.jetson-ai-lab.io/jp6/cu126; keep torch out of docker/vl_jepa/requirements.txt",
        "pytorch/pytorch #168065, #28111; Lmy0217/PyTorch-aarch64 #3; NVIDIA forum 'PyTorch for Jetson'; "
        "dusty-nv/jetson-inference #1848",
        supersedes=(_UNAVAILABLE,),
        family=F_TORCH,
    ),
    Signature(
        "torch_not_installed",
        r"No module named '?torch'?(?![\w.])",
        "the container's python3 has no torch at all",
        "rebuild vl_jepa FROM an l4t-pytorch image for the host's L4T (torch included) rather than installing "
        "torch with pip; check docker/vl_jepa/Dockerfile's FROM line",
        "runbook Task 4 (facts section 4)",
        supersedes=("torch_import_failed", _UNAVAILABLE),
        family=F_TORCH,
    ),
    Signature(
        "torch_import_failed",
        r"^error_step import_torch[ \t]*$",
        "`import torch` failed inside the container",
        "read the `error` line after it: a missing lib*.so means the image does not match the host's "
        "JetPack; " + L4T_IMAGE_FIX,
        "this suite's tools/jetson/check_torch_cuda.py (runbook Task 2)",
        supersedes=(_UNAVAILABLE,),
        family=F_TORCH,
    ),
    Signature(
        _UNAVAILABLE,
        r"^cuda_available False[ \t]*$|torch\.cuda\.is_available\(\)(?:\W{1,10}| is | == )False\b"
        r"|cuda_available is False|^Is CUDA available: False",
        "torch has CUDA but sees no GPU: the image's L4T major release differs from the host's (e.g. an r35 "
        "image on a JetPack 6 / R36 host) or the container runs without the nvidia runtime",
        L4T_IMAGE_FIX + " (`sudo docker info | grep 'Default Runtime'` should say nvidia)",
        "dusty-nv/jetson-containers #938; flashrt-project/FlashRT PR #8",
        family=F_TORCH,
    ),
    Signature(
        _CHECKS_FALSE,
        r"^(?:cuda_matmul_ok|cuda_fp16_ok|cudnn_conv_ok) False[ \t]*$|(?:cuda_matmul_ok|cuda_fp16_ok|cudnn_conv_ok)"
        r" is False",
        "CUDA runs but its results differ from the CPU's: a torch / cuBLAS / cuDNN build that does not match "
        "the L4T driver, or a fault on the device",
        L4T_IMAGE_FIX + "; do not pip-install torch or nvidia-* CUDA wheels over it; if it persists after a "
        "reboot, run the CUDA samples' matrixMul on the host",
        "this suite's tools/jetson/check_torch_cuda.py (runbook Task 2)",
        family=F_TORCH,
    ),
    # ---------------------------------------------------------------- TensorRT (Plan B)
    Signature(
        "trt_binding_api_removed",
        r"has no attribute '(?:binding_is_input|get_binding_shape|get_binding_dtype|num_bindings"
        r"|get_binding_index|get_binding_name|set_binding_shape|max_batch_size|get_profile_shape"
        r"|execute_async_v2)'"
        r"|has no member \"(?:getNbBindings|bindingIsInput|getBindingDimensions|getBindingIndex|getBindingName"
        r"|getBindingDataType)\"",
        "the engine code uses TensorRT 8's binding API, removed in TensorRT 10 (JetPack 6.1+ ships 10.3)",
        "use the name-based API: engine.num_io_tensors, get_tensor_name(i), get_tensor_mode(name), "
        "get_tensor_shape(name); context.set_input_shape, set_tensor_address, execute_async_v3 (guard with "
        "hasattr(engine, 'num_io_tensors'))",
        "NVIDIA/TensorRT #3948, #4007, #4216; TensorRT docs 'Migrating from TensorRT 8.x to 10.x'",
        family=F_TRT,
    ),
    Signature(
        "trt_engine_version_mismatch",
        r"(?i:engine plan file is not compatible with this version of TensorRT)"
        r"|Serialization assertion[^\n]*Version tag does not match|(?i:version tag does not match)",
        "the engine was built with another TensorRT version than the container's (an engine is tied to its "
        "TensorRT version and GPU)",
        "rebuild the engine on this device inside vl_jepa with its own trtexec (`/usr/src/tensorrt/bin/trtexec "
        "--onnx=<model>.onnx --saveEngine=$VL_JEPA_ENGINE_PATH --fp16`); never copy engines between devices "
        "or JetPack versions, and delete old .engine files after a JetPack upgrade",
        "NVIDIA/TensorRT #574, #2041; dusty-nv/jetson-inference #426",
        supersedes=("trt_deserialize_failed",),
        family=F_TRT,
    ),
    Signature(
        "trt_engine_wrong_device",
        r"(?i:engine plan file is generated on an incompatible device)",
        "the engine was built on a GPU with another compute capability (engines are specific to the SM)",
        "rebuild the engine on this Jetson with `/usr/src/tensorrt/bin/trtexec --onnx=<model>.onnx "
        "--saveEngine=$VL_JEPA_ENGINE_PATH --fp16` inside vl_jepa; do not copy engines from another device",
        "NVIDIA/TensorRT #2176, #2177",
        supersedes=("trt_deserialize_failed",),
        family=F_TRT,
    ),
    Signature(
        "trt_deserialize_failed",
        r"Engine deserialization failed|deserialize_cuda_engine[^\n]*\bNone\b",
        "TensorRT could not deserialize the engine (deserialize_cuda_engine returned None): another TensorRT "
        "version, another GPU, or a truncated file",
        "rebuild VL_JEPA_ENGINE_PATH on this device with the container's trtexec (`/usr/src/tensorrt/bin/trtexec "
        "--onnx=<model>.onnx --saveEngine=$VL_JEPA_ENGINE_PATH --fp16`) and check the file size",
        "TensorRT Python docs Runtime.deserialize_cuda_engine; NVIDIA/TensorRT #2041",
        family=F_TRT,
    ),
    Signature(
        "engine_missing",
        r"(?i)(?:no such file or directory|not found|does not exist|missing)\W[^\n]*?\.(?:engine|plan)\b"
        r"|Deserialize engine failed because file path: [^\n]*? open error"
        r"|\.(?:engine|plan)\b[\"']?\W{0,3}(?:no such file|not found|does not exist|is missing)",
        "the TensorRT engine named by VL_JEPA_ENGINE_PATH is not there (not built on this device, or "
        "/mnt/ssd/models not mounted into vl_jepa)",
        "build it on this device inside vl_jepa (`/usr/src/tensorrt/bin/trtexec --onnx=<model>.onnx "
        "--saveEngine=/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine --fp16`), mount /mnt/ssd/models "
        "into vl_jepa in docker-compose.yml and make VL_JEPA_ENGINE_PATH in config/jetson.env name that file",
        "runbook Task 5 step 1",
        supersedes=("trt_deserialize_failed",),
        family=F_TRT,
    ),
    Signature(
        "embedding_dim_mismatch",
        r"(?i)expected dim(?:ension)?\W{0,3}(\d+)\W{1,4}got\W{0,3}(\d+)|\bdim(?:ension)? mismatch",
        "the embeddings' dimension differs from EMBEDDING_GUARD_DIM (DINOv2-small via TensorRT gives 384, "
        "SigLIP2 base 768), so embedding_guard cannot compare them with its centroids",
        "set EMBEDDING_GUARD_DIM in config/jetson.env to the encoder's output dim, re-collect the centroids "
        "(EMBEDDING_GUARD_MODE=collect_game then collect_non, about 40 samples each, then run) and recreate "
        "the agents (" + RECREATE + ")",
        "runbook Task 5 steps 2-3; DINOv2 model card (ViT-S/14 = 384)",
        family=F_CONFIG,
    ),
    # ---------------------------------------------------------------- configuration and operations
    Signature(
        "config_device_cpu",
        r"VL_JEPA_DEVICE\W{0,5}(?:=|:|is)\W{0,3}cpu\b",
        "config/jetson.env asks vl_jepa for CPU embeddings (VL_JEPA_DEVICE=cpu)",
        "set VL_JEPA_DEVICE=cuda and VL_JEPA_FP16=1 in config/jetson.env, then " + RECREATE,
        "runbook Task 3 step 1",
        family=F_CONFIG,
    ),
    Signature(
        "config_fp16_off",
        r"VL_JEPA_FP16\W{0,5}(?:=|:|is)\W{0,3}(?:0|false|False|no)\b",
        "config/jetson.env runs the encoder in fp32 (VL_JEPA_FP16 is off): slower and twice the memory",
        "set VL_JEPA_FP16=1 in config/jetson.env, then " + RECREATE,
        "runbook Task 3 step 1",
        family=F_CONFIG,
    ),
    Signature(
        "probe_missing",
        r"can't open file '[^'\n]*check_torch_cuda\.py'",
        "the probe script is not inside the container at the path used",
        "copy it into the image (`COPY tools/ /app/tools/` in docker/vl_jepa/Dockerfile, then "
        "`sudo -n docker compose build vl_jepa`) or `sudo -n docker cp tools/jetson/check_torch_cuda.py "
        "vl_jepa_agent:/app/tools/jetson/`",
        "runbook Task 2 step 1",
        family=F_CONFIG,
    ),
    Signature(
        "container_not_running",
        r"No such container: \S+|Container \S+ is not running|container \S+ is not running",
        "the agent container does not exist or has stopped",
        "start it (`sudo -n docker compose up -d vl_jepa`) and read why it stopped: "
        "`sudo -n docker logs --tail 200 vl_jepa_agent`",
        "Docker CLI error text; runbook Task 2 step 2",
        family=F_CONFIG,
    ),
    Signature(
        "mqtt_not_authorised",
        r"(?i:connection refused?[,:]? not authori[sz]ed|connection refused?,? reason code:? ?5\b"
        r"|connack return code:? ?5\b|refused the connection: (?:not authori[sz]ed|bad user ?name or password)"
        r"|connection refused:? bad user ?name or password|connect(?:ion)? failed[^\n]{0,80}\brc[ =:]*5\b)",
        "the MQTT broker refused the client's credentials (CONNACK 5, not authorised): mosquitto requires a "
        "username/password or an ACL the agents' settings do not satisfy",
        "give the agents the broker's credentials (MQTT_USERNAME / MQTT_PASSWORD in config/jetson.env) or "
        "allow them in mosquitto.conf (`password_file`, `acl_file`; `allow_anonymous true` only on a closed "
        "network), then " + RECREATE,
        "1technophile/OpenMQTTGateway #340; mqttjs/MQTT.js #1207; tuanpmt/esp32-mqtt #26",
        supersedes=("mqtt_connection_refused",),
        family=F_MQTT,
    ),
    Signature(
        "mqtt_connection_refused",
        r"^Error: Connection refused[ \t]*$"
        r"|(?i:paho|mqtt|mosquitto|:1883\b|, ?1883\b)[\s\S]{0,2000}?"
        r"(?:\[Errno 111\] Connection refused|ConnectionRefusedError)"
        r"|MQTT broker (\S+) unreachable(?![\s\S]*MQTT connected to \1)"
        r"|^Error: No connection could be made because the target machine actively refused it",
        "nothing accepts connections on the MQTT broker's address and port (mosquitto is stopped or "
        "crashed, listens elsewhere, or mosquitto 2.x listens on localhost only without a `listener 1883` "
        "line), so the agents cannot publish",
        "start the broker (`sudo -n docker compose up -d mosquitto`, then `sudo -n docker logs mosquitto`), "
        "check MQTT_HOST / MQTT_PORT in config/jetson.env, and for mosquitto 2.x add `listener 1883` to "
        "mosquitto.conf",
        "eclipse-paho/paho.mqtt.python #562, #685; FIWARE/tutorials.IoT-over-MQTT #23",
        family=F_MQTT,
    ),
    Signature(
        "docker_socket_permission",
        r"permission denied while trying to connect to the Docker daemon socket"
        r"|dial unix [^\n]*docker\.sock: connect: permission denied"
        r"|Error while fetching server API version: \('Connection aborted\.', PermissionError\(13"
        r"|unixconn\.py[\s\S]{0,600}?PermissionError(?:: \[Errno 13\]|\(13)",
        "the user running the suite may not use the Docker socket",
        "add the user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run the "
        "suite as root",
        "Docker CLI error text; NVIDIA/nvidia-docker #1138; docker/docs #12793",
        family=F_HOST,
    ),
    Signature(
        "sudo_password_required",
        r"sudo: (?:a password is required|a terminal is required|no tty present)",
        "`sudo -n` needs a password on this device, so root-only evidence (tegrastats clocks, docker) is missing",
        "run the suite as root or allow passwordless sudo for docker and tegrastats with a NOPASSWD rule in "
        "/etc/sudoers.d/",
        "sudo(8) -n; the runbook runs every root command with sudo -n",
        family=F_HOST,
    ),
    Signature(
        "disk_full",
        r"(?i:no space left on device)|\[Errno 28\]",
        "the filesystem being written is full: Docker's data root (/var/lib/docker on the 16-64 GB eMMC or "
        "SD card) while pulling or building an image, or pip's cache and temp directory while installing",
        "free space (`df -h /var/lib/docker /tmp`, `sudo docker system prune`, remove unused images), move "
        "Docker's data-root to the NVMe drive (`\"data-root\": \"/mnt/ssd/docker\"` in /etc/docker/daemon.json, "
        "`sudo systemctl restart docker`) and install with `pip install --no-cache-dir`",
        "dusty-nv/jetson-inference #1569; moby/moby #29508; pypa/pip #7751",
        family=F_DISK,
    ),
)

_BY_ID = {s.id: s for s in CATALOGUE}
if len(_BY_ID) != len(CATALOGUE):  # pragma: no cover - a catalogue edit error
    raise RuntimeError("duplicate signature ids in the diagnosis catalogue")


def signature(signature_id: str) -> Signature:
    """The catalogue entry with this id (KeyError naming the known ids otherwise)."""
    try:
        return _BY_ID[signature_id]
    except KeyError:
        raise KeyError(f"no signature {signature_id!r}; known: {', '.join(_BY_ID)}") from None


def _evidence(text: str, m: re.Match[str]) -> tuple[int, str]:
    """The 1-based line where the match starts and that line (to the match's end), trimmed."""
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    line = text[start : len(text) if end < 0 else end].strip()
    if len(line) > EVIDENCE_MAX:
        line = line[: EVIDENCE_MAX - 3] + "..."
    return text.count("\n", 0, m.start()) + 1, line


def diagnose(
    *texts: str | None, catalogue: Iterable[Signature] = CATALOGUE, sources: Sequence[str] | None = None
) -> list[Diagnosis]:
    """Every signature found in any of the texts, most specific first, each once, without those that a
    found signature explains (its supersedes list; the winner lists them in `explains`). None and empty
    texts are skipped; `sources` names the texts (e.g. "probe", "docker logs vl_jepa") for `where`."""
    found: list[Diagnosis] = []
    for sig in catalogue:
        for index, text in enumerate(texts):
            if not text:
                continue
            m = sig.search(text)
            if m:
                line, evidence = _evidence(text, m)
                where = sources[index] if sources is not None and index < len(sources) else ""
                found.append(Diagnosis(sig, m[0], index, m.groups(), where, line, evidence))
                break
    ids = {d.id for d in found}
    hidden = {sid for d in found for sid in d.signature.supersedes}
    return [
        Diagnosis(d.signature, d.match, d.text_index, d.groups, d.where, d.line, d.evidence,
                  tuple(s for s in d.signature.supersedes if s in ids))
        for d in found
        if d.id not in hidden
    ]


def format_hint(diagnoses: Iterable[Diagnosis]) -> str:
    """`Likely cause: <cause>  Fix: <fix>` for each diagnosis, one per line; '' when there are none."""
    return "\n".join(d.hint() for d in diagnoses)


def format_report(diagnoses: Iterable[Diagnosis]) -> str:
    """The operator's form (`jetson-hil diagnose`): per diagnosis its id, cause, fix, the evidence and where
    it was found, and which generic diagnoses it explains."""
    blocks = []
    for d in diagnoses:
        lines = [f"{d.id} ({d.family})", f"  cause:    {d.cause}", f"  fix:      {d.fix}",
                 f"  evidence: {d.where or f'input {d.text_index}'}:{d.line}: {d.evidence or d.match}"]
        if d.explains:
            lines.append(f"  explains: {', '.join(d.explains)} (more specific, same evidence)")
        lines.append(f"  known from: {d.source}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
