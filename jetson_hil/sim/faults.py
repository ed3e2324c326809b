"""The simulator's named faults: each reproduces one real failure where it would really happen.

Config faults edit the device's project files (env file, Dockerfile, requirements) exactly as a
person would, and the images and services are rebuilt or recreated as the runbook would; GPU
faults change what the simulated GPU's driver reports; agent faults are read live by the agents.
Clearing a fault puts back the pristine files saved when the project was created.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV = "config/jetson.env"
DOCKERFILE = "docker/vl_jepa/Dockerfile"
REQUIREMENTS = "docker/vl_jepa/requirements.txt"
CONFIG_FILES = (ENV, DOCKERFILE, REQUIREMENTS, "docker-compose.yml")
R35 = "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3"
CU128 = "dustynv/pytorch:2.8-r36.4.4-cu128-24.04"
L4T_BASE = "nvcr.io/nvidia/l4t-base:r36.4.0"


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # agent | gpu | config | device
    reproduces: str
    edit: Callable[[Path], None] | None = None
    image: str = ""  # a base image the fault's Dockerfile needs


def fault_images(names: list[str]) -> list[str]:
    return [FAULTS[n].image for n in names if FAULTS[n].image]


def _set_env(key: str, value: Callable[[str], str] | str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / ENV
        text = path.read_text()
        def repl(m: re.Match) -> str:
            new = value(m.group(2)) if callable(value) else value
            return f"{m.group(1)}{new}"
        text, n = re.subn(rf"^({re.escape(key)}=)(.*)$", repl, text, flags=re.M)
        if not n:
            text += f"{key}={value('') if callable(value) else value}\n"
        path.write_text(text)
    return edit


def _from(tag: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / DOCKERFILE
        path.write_text(re.sub(r"^FROM \S+", f"FROM {tag}", path.read_text(), count=1, flags=re.M))
    return edit


def _append(rel: str, line: str, after: str | None = None) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / rel
        text = path.read_text()
        if after and after in text:
            text = text.replace(after, f"{after}\n{line}", 1)
        else:
            text = text.rstrip("\n") + f"\n{line}\n"
        path.write_text(text)
    return edit


def _replace_runtime(service: str, runtime: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / "docker-compose.yml"
        text = path.read_text()
        head, sep, rest = text.partition(f"\n  {service}:\n")
        block, nxt, tail = rest.partition("\n  ")
        while tail and not re.match(r"[a-z_]+:\n", tail):
            more, nxt, tail = tail.partition("\n  ")
            block += "\n  " + more
        path.write_text(head + sep + block.replace("runtime: nvidia", f"runtime: {runtime}") + nxt + tail)
    return edit


def _double(value: str) -> str:
    return str(int(value) * 2) if value.isdigit() else "768"


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("config_cpu", "config", "VL_JEPA_DEVICE=cpu in config/jetson.env: embeddings computed on the CPU",
          _set_env("VL_JEPA_DEVICE", "cpu")),
    Fault("fp16_off", "config", "VL_JEPA_FP16=0: the encoder runs in fp32", _set_env("VL_JEPA_FP16", "0")),
    Fault("wrong_dim", "config", "EMBEDDING_GUARD_DIM differs from the embeddings' dim (e.g. 768 vs 384 "
          "after a switch to DINOv2)", _set_env("EMBEDDING_GUARD_DIM", _double)),
    Fault("l4t_mismatch", "config", "an r35 l4t-pytorch image on an R36 host: torch.cuda.is_available() "
          "False (jetson-containers #938)", _from(R35), image=R35),
    Fault("cuda_driver_insufficient", "config", "a cu128 image on a JetPack 6 (CUDA 12.6) driver: "
          "cudaGetDeviceCount returned 35", _from(CU128), image=CU128),
    Fault("requirements_override_torch", "config", "requirements.txt pulls torch from PyPI, replacing "
          "NVIDIA's Jetson wheel with the CPU-only aarch64 wheel (pytorch #168065)",
          _append(REQUIREMENTS, "torch>=2.0")),
    Fault("cpu_only_torch", "config", "the Dockerfile pip-installs torch: the CPU-only aarch64 wheel, "
          "torch.version.cuda None", _append(DOCKERFILE, "RUN printf 'torch\\n' > /tmp/torch.txt && "
                                             "pip3 install -r /tmp/torch.txt",
                                             after="RUN pip3 install -r /app/requirements.txt")),
    Fault("no_kernel_image", "config", "requirements.txt pins an SBSA CUDA wheel (torch+cu124) whose arch "
          "list lacks the module's sm: no kernel image is available (pytorch #145560)",
          _append(REQUIREMENTS, "torch==2.5.1+cu124")),
    Fault("libcudnn_missing", "config", "vl_jepa built FROM l4t-base, which carries no cuDNN since r34: "
          "ImportError: libcudnn.so.9", _from(L4T_BASE), image=L4T_BASE),
    Fault("no_nvidia_runtime", "config", "vl_jepa runs with runc instead of the nvidia runtime: no /dev/nvmap, "
          "NvRmMemInitNvmap failed (jetson-containers #384)", _replace_runtime("vl_jepa", "runc")),
    Fault("container_crashloop", "config", "a bad VL_JEPA_INPUT_SIZE makes vl_jepa exit at start; "
          "restart: unless-stopped restarts it forever", _set_env("VL_JEPA_INPUT_SIZE", "224px")),
    Fault("cublas_alloc_failed", "gpu", "CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate(handle): "
          "the GPU's shared memory is exhausted"),
    Fault("engine_input_mismatch", "config", "VL_JEPA_INPUT_SIZE=256 with an engine built for 224: the "
          "TensorRT engine rejects the frames", _set_env("VL_JEPA_INPUT_SIZE", "256")),
    Fault("missing_engine", "device", "the TensorRT engine file is not on the device (not copied to the SSD)"),
    Fault("stale_centroids", "device", "the guard's centroids are the old 768-d SigLIP ones, not re-collected "
          "after the switch to the 384-d engine"),
    Fault("broker_down", "device", "the device's mosquitto is stopped: nothing reaches vision/embeddings"),
    Fault("jetpack_package_missing", "device", "nvidia-jetpack is not installed (a partial JetPack install "
          "or apt autoremove): dpkg lists no nvidia-jetpack"),
    Fault("nan_embeddings", "agent", "the encoder emits NaN values (fp16 overflow)"),
    Fault("constant_embeddings", "agent", "the encoder returns the same vector for every frame"),
    Fault("stalled_publisher", "agent", "vl_jepa runs but stops publishing"),
    Fault("slow_rate", "agent", "embeddings arrive at a quarter of the configured rate"),
    Fault("malformed_payload", "agent", "some vision/embeddings payloads are not valid JSON"),
    Fault("flapping_locations", "agent", "scene's current location changes on nearly every update"),
    Fault("no_actuation", "agent", "policy publishes no act/result"),
    Fault("actuation_failures", "agent", "act/result reports ok: false"),
)}


def _digest(project: Path) -> dict[str, str]:
    return {rel: hashlib.sha256((project / rel).read_bytes()).hexdigest()
            for rel in CONFIG_FILES if (project / rel).exists()}


def snapshot_pristine(root: Path) -> None:
    pristine = root / "pristine"
    if pristine.exists():
        return
    for rel in CONFIG_FILES:
        src = root / "project" / rel
        if src.exists():
            (pristine / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, pristine / rel)


def _restore_pristine(root: Path) -> None:
    for rel in CONFIG_FILES:
        src = root / "pristine" / rel
        if src.exists():
            shutil.copy2(src, root / "project" / rel)


def apply_faults(cfg, faults: list[str], log=print, recreate: bool = True) -> None:
    """Make the device show exactly these faults; with `recreate`, rebuild and recreate what changed."""
    from .simulator import compose

    root, project = cfg.root, cfg.root / "project"
    active = [FAULTS[f] for f in faults]
    snapshot_pristine(root)
    before = _digest(project)
    _restore_pristine(root)
    for fault in active:
        if fault.kind == "config" and fault.edit:
            fault.edit(project)
    changed = {rel for rel, digest in _digest(project).items() if before.get(rel) != digest}
    (root / "faults").write_text("".join(f"{f.name}\n" for f in active if f.kind == "agent"))
    device = root / "gpu" / "state" / "device.json"
    gpu_changed = False
    if device.exists():
        data = json.loads(device.read_text())
        wanted = [f.name for f in active if f.kind == "gpu"]
        gpu_changed = data.get("faults", []) != wanted
        data["faults"] = wanted
        device.write_text(json.dumps(data, indent=2))
    if not recreate:
        return
    _device_faults(cfg, {f.name for f in active if f.kind == "device"}, log)
    services = set()
    if changed & {DOCKERFILE, REQUIREMENTS}:
        from . import images

        images.ensure(fault_images(faults), images.venv_dir(), log=log)
        log("rebuilding vl_jepa")
        compose(cfg, "build -q vl_jepa")
        services.add("vl_jepa")
    if changed & {ENV, "docker-compose.yml"}:
        services |= {"vl_jepa", "embedding_guard", "scene", "policy"}
    if gpu_changed:
        services.add("vl_jepa")
    if services:
        names = " ".join(sorted(services))
        log(f"recreating {names}")
        compose(cfg, f"up -d --force-recreate {names}")


def _swap_aside(path: Path, aside: Path, active: bool, replacement: Callable[[], str] | None = None) -> bool:
    """Move a device file aside (optionally writing a stand-in) or put it back; True when anything changed."""
    if active and not aside.exists() and path.exists():
        path.rename(aside)
        if replacement:
            path.write_text(replacement())
        return True
    if not active and aside.exists():
        aside.replace(path)
        return True
    return False


def _stale_centroids() -> str:
    import random

    rng = random.Random(768)
    classes = {c: {"centroid": [round(rng.gauss(0, 1), 6) for _ in range(768)], "samples": 40}
               for c in ("game", "non_game")}
    return json.dumps({"dim": 768, "model": "siglip2-b16", "classes": classes, "created": "2026-02-01T09:00:00Z"})


def _device_faults(cfg, active: set[str], log) -> None:
    """Faults in the device host itself, applied with the device's own tools."""
    from . import rootfs
    from .project import ENGINE_PATH
    from .simulator import compose, device_exec

    project = cfg.root / "project"
    engine = project / "models" / ENGINE_PATH.removeprefix("/mnt/ssd/models/")
    if _swap_aside(engine, engine.with_name(engine.name + ".removed"), "missing_engine" in active):
        compose(cfg, "restart -t 2 vl_jepa")
    centroids = project / "data" / "centroids.json"
    if _swap_aside(centroids, centroids.with_name("centroids.json.current"), "stale_centroids" in active,
                   _stale_centroids):
        compose(cfg, "restart -t 2 embedding_guard")

    running = set(compose(cfg, "ps --services --filter status=running").split())
    if "broker_down" in active and "mosquitto" in running:
        log("stopping the device's broker")
        compose(cfg, "stop -t 2 mosquitto")
    elif "broker_down" not in active and "mosquitto" not in running:
        compose(cfg, "up -d mosquitto")
    installed = device_exec(cfg, "dpkg-query -W -f='${Status}' nvidia-jetpack 2>/dev/null", check=False)
    if "jetpack_package_missing" in active and "ok installed" in installed:
        log("removing nvidia-jetpack with dpkg")
        device_exec(cfg, "dpkg -r --force-depends nvidia-jetpack")
    elif "jetpack_package_missing" not in active and "ok installed" not in installed:
        rootfs.install(cfg.root / "rootfs", cfg.root / "debs" / "nvidia-jetpack.deb")
