"""Failure signatures: exact error text -> likely cause -> Jetson-specific fix, with where each came from.

A failing check passes its evidence (probe output, `docker logs` tail, `docker info`, its own message) to
diagnose(); the diagnoses come back in catalogue order, which runs from the most specific signature to the
most generic, and a signature that explains a more generic one hides it (a CPU-only torch build explains
`cuda_available False`, so only the former is reported). format_hint() turns them into the suffix that
ends an assertion message.

Sources: the Jetson facts (sections 5, 6 and 8 of jetson-facts.md) and the runbook's own steps.

>>> d = diagnose("cuda_available False\\ncuda_version None\\nresult fail")
>>> [x.id for x in d]
['torch_cpu_build']
>>> format_hint(d).startswith("Likely cause: torch is a CPU-only wheel")
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["CATALOGUE", "Diagnosis", "Signature", "diagnose", "format_hint", "signature"]

L4T_IMAGE_FIX = (
    "rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the host's L4T release (e.g. r36.x on "
    "JetPack 6; `cat /etc/nv_tegra_release` shows it) and run it with `runtime: nvidia`"
)
RECREATE = "sudo -n docker compose up -d --force-recreate vl_jepa embedding_guard scene policy"


@dataclass(frozen=True)
class Signature:
    """One known failure: pattern is a regex searched (MULTILINE) in the evidence text."""

    id: str
    pattern: str
    cause: str
    fix: str
    source: str
    supersedes: tuple[str, ...] = ()  # ids of more generic signatures this one explains

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.MULTILINE)

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text)


@dataclass(frozen=True)
class Diagnosis:
    """A signature found in the evidence: which one, the text it matched and in which input (0-based)."""

    signature: Signature
    match: str
    text_index: int = 0
    groups: tuple[str | None, ...] = field(default=())

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

    def hint(self) -> str:
        return f"Likely cause: {self.cause}  Fix: {self.fix}"


_CHECKS_FALSE = "cuda_numeric_mismatch"
_UNAVAILABLE = "cuda_unavailable"

CATALOGUE: tuple[Signature, ...] = (
    # ---------------------------------------------------------------- container runtime and device access
    Signature(
        "cuda_libs_not_mounted",
        r"(?:libcurand\.so\.10|libnvToolsExt\.so\.1|libcublas\.so\.10)\b[^\n]*cannot open shared object file",
        "the image expects CUDA from the host through the nvidia runtime's CSV mounts (a JetPack 4 / L4T R32 "
        "image) but the container was started without the nvidia runtime, the build ran without "
        "default-runtime nvidia, or libnvidia-container processed only l4t/devices/drivers.csv (inside, "
        "/usr/local/cuda/lib64 holds only libcudadevrt.a, libcudart_static.a and stubs)",
        'give vl_jepa `runtime: nvidia` in docker-compose.yml and set `"default-runtime": "nvidia"` in '
        "/etc/docker/daemon.json (`sudo systemctl restart docker`, then rebuild); if CSVs are still skipped set "
        'NVIDIA_REQUIRE_JETPACK="csv-mounts=all"; on a JetPack 5/6 host ' + L4T_IMAGE_FIX,
        "dusty-nv/jetson-containers #93, #100, #108, #126, #222; NVIDIA/nvidia-container-runtime #173",
        supersedes=(_UNAVAILABLE, "torch_import_failed"),
    ),
    Signature(
        "nvmap_missing",
        r"NvRmMemInitNvmap failed with No such file or directory|356: Memory Manager Not supported"
        r"|NvRmMemMgrInit failed",
        "/dev/nvmap and the other Tegra GPU device nodes are not in the container (a generic arm64 base with "
        "JetPack libraries and no runtime injecting the devices), so PyTorch silently runs on the CPU",
        "run vl_jepa with `runtime: nvidia` on an l4t-based image so devices.csv's /dev/nvmap and "
        "/dev/nvhost-* are injected; check with `sudo -n docker exec vl_jepa_agent ls -l /dev/nvmap`",
        "dusty-nv/jetson-containers #384",
        supersedes=(_UNAVAILABLE,),
    ),
    Signature(
        "nvmap_permission_denied",
        r"NvRmMemInitNvmap failed with Permission denied|549: Memory Manager Not supported"
        r"|NvRmMemInit failed",
        "the process cannot open /dev/nvmap (root:video, mode 0660): it runs as a user outside the video group",
        "run the agent as root or in the video group (`group_add: [video]` on vl_jepa in docker-compose.yml; "
        "`sudo usermod -aG video $USER` for host processes)",
        "anduril/jetpack-nixos #118",
        supersedes=(_UNAVAILABLE,),
    ),
    Signature(
        "gpus_flag_hook",
        r"invoking the NVIDIA Container Runtime Hook directly",
        "the container asked for the GPU with `--gpus` / `deploy.resources.reservations.devices`, which the "
        "Jetson (CSV-mode) NVIDIA runtime does not support",
        "replace `--gpus` / the deploy GPU reservation with `runtime: nvidia` on vl_jepa in docker-compose.yml "
        "and recreate it (" + RECREATE + ")",
        "NVIDIA/nvidia-container-toolkit patch 'Add RuntimeMode type' (facts section 5)",
        supersedes=(_UNAVAILABLE,),
    ),
    Signature(
        "nvidiactl_mount_error",
        r"nvidia-container-cli: mount error: stat failed: /dev/nvidiactl",
        "an old nvidia-container-toolkit stops at a CSV entry for a device node this SoC does not have",
        "upgrade the NVIDIA container toolkit (JetPack's `nvidia-container` package; newer versions log "
        "`missing device` and go on) or delete the stale line from "
        "/etc/nvidia-container-runtime/host-files-for-container.d/*.csv",
        "NVIDIA/nvidia-container-runtime #123",
    ),
    Signature(
        "cdi_generate_nvml",
        r"error getting GPU device minor number: Not Supported",
        "`nvidia-ctk cdi generate` ran in NVML mode, which Jetson's integrated GPU does not support",
        "generate the CDI spec in CSV mode (`sudo nvidia-ctk cdi generate --mode=csv "
        "--output=/etc/cdi/nvidia.yaml`) or keep using `runtime: nvidia` in its legacy/csv mode",
        "NVIDIA-ISAAC-ROS/isaac_ros_common #163",
    ),
    Signature(
        "nvidia_runtime_missing",
        r"^[ \t]*Runtimes:(?![^\n]*\bnvidia\b)[^\n]*$",
        "Docker has no `nvidia` runtime registered, so no container can reach the Tegra GPU",
        "install the NVIDIA container toolkit (`sudo apt install nvidia-container` on JetPack) and register "
        'it (`sudo nvidia-ctk runtime configure --runtime=docker`), set `"default-runtime": "nvidia"` in '
        "/etc/docker/daemon.json and `sudo systemctl restart docker`",
        "dusty-nv/jetson-containers docs/setup.md (facts section 5)",
        supersedes=("default_runtime_runc",),
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
    ),
    Signature(
        "container_runtime_runc",
        r"(?i)(?<!default )\bruntime[\"']?[ \t]*(?:[:=]|is)[ \t]*[\"']?runc\b",
        "the agent container runs with runc instead of the nvidia runtime: no GPU device nodes or driver "
        "libraries inside, so torch.cuda.is_available() is False",
        "set `runtime: nvidia` on the service in docker-compose.yml and recreate it (" + RECREATE + ")",
        "flashrt-project/FlashRT PR #8 (facts section 5)",
        supersedes=(_UNAVAILABLE,),
    ),
    # ---------------------------------------------------------------- torch build and CUDA stack
    Signature(
        "cuda_driver_insufficient",
        r"cudaGetDeviceCount returned 35|CUDA driver version is insufficient for CUDA runtime version"
        r"|cudaErrorInsufficientDriver|CUDA error code=35\b",
        "the container's CUDA runtime is newer than the host's L4T driver supports (e.g. a CUDA 12.8 image on "
        "JetPack 6, whose driver is CUDA 12.6)",
        "use an image whose CUDA is not newer than the host JetPack's (JetPack 6.x: CUDA 12.6 images, e.g. "
        "l4t-pytorch / dustynv/pytorch tagged r36.4) or upgrade JetPack; `deviceQuery` prints "
        "`CUDA Driver Version / Runtime Version` to compare",
        "anduril/jetpack-nixos #328; NVlabs/FoundationStereo #209; EricLBuehler/mistral.rs #867",
        supersedes=(_UNAVAILABLE, _CHECKS_FALSE),
    ),
    Signature(
        "no_kernel_image",
        r"no kernel image is available for execution on the device|Error named symbol not found",
        "the torch wheel has no kernels for this SoC's SM (Orin sm_87, Xavier sm_72, Nano sm_53), e.g. a "
        "pytorch.org cu12x SBSA or nightly wheel or a conda-forge aarch64 build; Tegra has no SASS "
        "compatibility across minor SM revisions",
        "install a torch built for Jetson: rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the "
        "host's L4T release (e.g. r36.x on JetPack 6) or install NVIDIA's Jetson wheel; check that "
        "`torch.cuda.get_arch_list()` contains sm_87 on Orin (sm_72 Xavier, sm_53 Nano)",
        "pytorch/pytorch #145560; conda-forge/pytorch-cpu-feedstock #303; bitsandbytes #1930",
        supersedes=("sm_not_in_arch_list", _CHECKS_FALSE),
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
    ),
    Signature(
        "cublas_alloc_failed",
        r"CUBLAS_STATUS_ALLOC_FAILED|the resource allocation failed[\s\S]{0,400}?cublasCreate",
        "cuBLAS could not allocate its workspace when creating its handle: the Jetson's shared CPU/GPU memory "
        "is exhausted (other containers, the desktop, a large model), or the image's cuBLAS does not support "
        "this GPU/driver",
        "watch `sudo -n tegrastats` RAM and lfb while vl_jepa starts, stop other GPU users, keep VL_JEPA_FP16=1 "
        "and a small input size; if memory is free, " + L4T_IMAGE_FIX + " so cuBLAS matches the driver",
        "jax-ml/jax #13504; ggml-org/whisper.cpp #2809",
        supersedes=(_CHECKS_FALSE,),
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
    ),
    Signature(
        "libcudnn_missing",
        r"libcudnn[\w]*\.so\.\d+: cannot open shared object file",
        "cuDNN is missing from the image or has the wrong major version (l4t-base r34+ carries no CUDA "
        "libraries; JetPack 6 ships cuDNN 9, so cuDNN 8 builds break)",
        "rebuild FROM l4t-jetpack / l4t-pytorch for the host's L4T (cuDNN included), or install the cuDNN "
        "package that the torch build needs in docker/vl_jepa/Dockerfile",
        "microsoft/onnxruntime #19631; dusty-nv/jetson-containers cudnn package config",
        supersedes=("torch_import_failed", _UNAVAILABLE),
    ),
    Signature(
        "libcudss_missing",
        r"libcudss\.so\.\d+: cannot open shared object file",
        "the torch wheel (e.g. torch 2.8 from pypi.jetson-ai-lab.io/jp6/cu126) needs cuDSS, which the image lacks",
        "add `apt-get install -y cudss` (from the CUDA arm64 repository) to docker/vl_jepa/Dockerfile and "
        "rebuild: `sudo -n docker compose build vl_jepa`",
        "NVIDIA/Isaac-GR00T #343",
        supersedes=("torch_import_failed",),
    ),
    Signature(
        "unknown_cuda_arch",
        r"Unknown CUDA arch \([^)]*\) or GPU not supported",
        "this torch's cpp_extension arch table predates the SoC (e.g. 8.7+PTX for Orin) when building a CUDA extension",
        'use a newer torch (the l4t-pytorch image for the host\'s L4T) or set TORCH_CUDA_ARCH_LIST="8.7" '
        "(Orin) before building the extension",
        "pytorch/pytorch #94438",
    ),
    Signature(
        "cuda_oom",
        r"CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError",
        "the GPU ran out of memory, which a Jetson shares with the CPU and every other process",
        "stop other GPU users, keep VL_JEPA_FP16=1, lower VL_JEPA_INPUT_SIZE or use the DINOv2-small TensorRT "
        "engine (Plan B); `sudo -n tegrastats` shows RAM in use",
        "runbook Tasks 3 and 5; jetson-facts section 6 (Tegra memory is shared)",
        supersedes=(_CHECKS_FALSE,),
    ),
    Signature(
        "torch_cpu_build",
        r"^cuda_version None[ \t]*$|torch\.version\.cuda\W{1,10}None\b|^torch \S+\+cpu\b|CPU-only torch build",
        "torch is a CPU-only wheel (torch.version.cuda is None): `pip install torch` on aarch64 installs the CPU "
        "build; NVIDIA's Jetson wheels carry an `nvYY.MM` local version (e.g. 2.0.0+nv23.05)",
        "use NVIDIA's Jetson torch: rebuild vl_jepa FROM an l4t-pytorch / dustynv/pytorch image tagged for the "
        "host's L4T (e.g. r36.x on JetPack 6) or install the wheel from developer.download.nvidia.com/compute/"
        "redist/jp/ or pypi.jetson-ai-lab.io/jp6/cu126; keep torch out of docker/vl_jepa/requirements.txt",
        "pytorch/pytorch #168065; Lmy0217/PyTorch-aarch64 #3; NVIDIA forum 'PyTorch for Jetson'",
        supersedes=(_UNAVAILABLE,),
    ),
    Signature(
        "torch_not_installed",
        r"No module named '?torch'?(?![\w.])",
        "the container's python3 has no torch at all",
        "rebuild vl_jepa FROM an l4t-pytorch image for the host's L4T (torch included) rather than installing "
        "torch with pip; check docker/vl_jepa/Dockerfile's FROM line",
        "runbook Task 4 (facts section 4)",
        supersedes=("torch_import_failed", _UNAVAILABLE),
    ),
    Signature(
        "torch_import_failed",
        r"^error_step import_torch[ \t]*$",
        "`import torch` failed inside the container",
        "read the `error` line after it: a missing lib*.so means the image does not match the host's "
        "JetPack; " + L4T_IMAGE_FIX,
        "this suite's tools/jetson/check_torch_cuda.py (runbook Task 2)",
        supersedes=(_UNAVAILABLE,),
    ),
    Signature(
        _UNAVAILABLE,
        r"^cuda_available False[ \t]*$|torch\.cuda\.is_available\(\)\W{1,10}False\b|cuda_available is False",
        "torch has CUDA but sees no GPU: the image's L4T major release differs from the host's (e.g. an r35 "
        "image on a JetPack 6 / R36 host) or the container runs without the nvidia runtime",
        L4T_IMAGE_FIX + " (`sudo docker info | grep 'Default Runtime'` should say nvidia)",
        "dusty-nv/jetson-containers #938; flashrt-project/FlashRT PR #8",
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
    ),
    # ---------------------------------------------------------------- TensorRT (Plan B)
    Signature(
        "trt_binding_api_removed",
        r"has no attribute '(?:binding_is_input|get_binding_shape|get_binding_dtype|num_bindings"
        r"|get_binding_index|get_binding_name|set_binding_shape|max_batch_size)'",
        "the engine code uses TensorRT 8's binding API, removed in TensorRT 10 (JetPack 6.1+ ships 10.3)",
        "use the name-based API: engine.num_io_tensors, get_tensor_name(i), get_tensor_mode(name), "
        "get_tensor_shape(name); context.set_input_shape, set_tensor_address, execute_async_v3 (guard with "
        "hasattr(engine, 'num_io_tensors'))",
        "NVIDIA/TensorRT #3948; TensorRT docs 'Migrating from TensorRT 8.x to 10.x'",
    ),
    Signature(
        "trt_engine_version_mismatch",
        r"engine plan file is not compatible with this version of TensorRT"
        r"|Serialization assertion[^\n]*Version tag does not match",
        "the engine was built with another TensorRT version than the container's (an engine is tied to its "
        "TensorRT version and GPU)",
        "rebuild the engine on this device inside vl_jepa with its own trtexec (`/usr/src/tensorrt/bin/trtexec "
        "--onnx=<model>.onnx --saveEngine=$VL_JEPA_ENGINE_PATH --fp16`); never copy engines between devices "
        "or JetPack versions, and delete old .engine files after a JetPack upgrade",
        "NVIDIA/TensorRT #574, #2041; dusty-nv/jetson-inference #426",
        supersedes=("trt_deserialize_failed",),
    ),
    Signature(
        "trt_engine_wrong_device",
        r"engine plan file is generated on an incompatible device",
        "the engine was built on a GPU with another compute capability (engines are specific to the SM)",
        "rebuild the engine on this Jetson with `/usr/src/tensorrt/bin/trtexec --onnx=<model>.onnx "
        "--saveEngine=$VL_JEPA_ENGINE_PATH --fp16` inside vl_jepa; do not copy engines from another device",
        "NVIDIA/TensorRT #2176, #2177",
        supersedes=("trt_deserialize_failed",),
    ),
    Signature(
        "trt_deserialize_failed",
        r"Engine deserialization failed|deserialize_cuda_engine[^\n]*\bNone\b",
        "TensorRT could not deserialize the engine (deserialize_cuda_engine returned None): another TensorRT "
        "version, another GPU, or a truncated file",
        "rebuild VL_JEPA_ENGINE_PATH on this device with the container's trtexec (`/usr/src/tensorrt/bin/trtexec "
        "--onnx=<model>.onnx --saveEngine=$VL_JEPA_ENGINE_PATH --fp16`) and check the file size",
        "TensorRT Python docs Runtime.deserialize_cuda_engine; NVIDIA/TensorRT #2041",
    ),
    Signature(
        "engine_missing",
        r"(?i)(?:no such file or directory|not found|does not exist|missing)\W[^\n]*?\.(?:engine|plan)\b"
        r"|\.(?:engine|plan)\b[\"']?\W{0,3}(?:no such file|not found|does not exist|is missing)",
        "the TensorRT engine named by VL_JEPA_ENGINE_PATH is not there (not built on this device, or "
        "/mnt/ssd/models not mounted into vl_jepa)",
        "build it on this device inside vl_jepa (`/usr/src/tensorrt/bin/trtexec --onnx=<model>.onnx "
        "--saveEngine=/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine --fp16`), mount /mnt/ssd/models "
        "into vl_jepa in docker-compose.yml and make VL_JEPA_ENGINE_PATH in config/jetson.env name that file",
        "runbook Task 5 step 1",
        supersedes=("trt_deserialize_failed",),
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
    ),
    # ---------------------------------------------------------------- configuration and operations
    Signature(
        "config_device_cpu",
        r"VL_JEPA_DEVICE\W{0,5}(?:=|:|is)\W{0,3}cpu\b",
        "config/jetson.env asks vl_jepa for CPU embeddings (VL_JEPA_DEVICE=cpu)",
        "set VL_JEPA_DEVICE=cuda and VL_JEPA_FP16=1 in config/jetson.env, then " + RECREATE,
        "runbook Task 3 step 1",
    ),
    Signature(
        "config_fp16_off",
        r"VL_JEPA_FP16\W{0,5}(?:=|:|is)\W{0,3}(?:0|false|False|no)\b",
        "config/jetson.env runs the encoder in fp32 (VL_JEPA_FP16 is off): slower and twice the memory",
        "set VL_JEPA_FP16=1 in config/jetson.env, then " + RECREATE,
        "runbook Task 3 step 1",
    ),
    Signature(
        "probe_missing",
        r"can't open file '[^'\n]*check_torch_cuda\.py'",
        "the probe script is not inside the container at the path used",
        "copy it into the image (`COPY tools/ /app/tools/` in docker/vl_jepa/Dockerfile, then "
        "`sudo -n docker compose build vl_jepa`) or `sudo -n docker cp tools/jetson/check_torch_cuda.py "
        "vl_jepa_agent:/app/tools/jetson/`",
        "runbook Task 2 step 1",
    ),
    Signature(
        "container_not_running",
        r"No such container: \S+|Container \S+ is not running|container \S+ is not running",
        "the agent container does not exist or has stopped",
        "start it (`sudo -n docker compose up -d vl_jepa`) and read why it stopped: "
        "`sudo -n docker logs --tail 200 vl_jepa_agent`",
        "Docker CLI error text; runbook Task 2 step 2",
    ),
    Signature(
        "docker_socket_permission",
        r"permission denied while trying to connect to the Docker daemon socket",
        "the user running the suite may not use the Docker socket",
        "add the user to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run the "
        "suite as root",
        "Docker CLI error text",
    ),
    Signature(
        "sudo_password_required",
        r"sudo: (?:a password is required|a terminal is required)",
        "`sudo -n` needs a password on this device, so root-only evidence (tegrastats clocks, docker) is missing",
        "run the suite as root or allow passwordless sudo for docker and tegrastats with a NOPASSWD rule in "
        "/etc/sudoers.d/",
        "sudo(8) -n; the runbook runs every root command with sudo -n",
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


def diagnose(*texts: str | None, catalogue: Iterable[Signature] = CATALOGUE) -> list[Diagnosis]:
    """Every signature found in any of the texts, most specific first, each once, without those that a
    found signature explains (its supersedes list). None and empty texts are skipped."""
    found: list[Diagnosis] = []
    for sig in catalogue:
        for index, text in enumerate(texts):
            if not text:
                continue
            m = sig.search(text)
            if m:
                found.append(Diagnosis(sig, m[0], index, m.groups()))
                break
    hidden = {sid for d in found for sid in d.signature.supersedes}
    return [d for d in found if d.id not in hidden]


def format_hint(diagnoses: Iterable[Diagnosis]) -> str:
    """`Likely cause: <cause>  Fix: <fix>` for each diagnosis, one per line; '' when there are none."""
    return "\n".join(d.hint() for d in diagnoses)
