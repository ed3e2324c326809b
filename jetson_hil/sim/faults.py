"""The simulator's named faults: each reproduces one real failure where it would really happen.

Config faults edit the device's project files (env file, Dockerfile, requirements) exactly as a
person would, and the images and services are rebuilt or recreated as the runbook would; GPU
faults change what the simulated GPU's driver reports; agent faults are read live by the agents.
Clearing a fault puts back the pristine files saved when the project was created.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .shell import compose, device_exec

ENV = "config/jetson.env"
DOCKERFILE = "docker/vl_jepa/Dockerfile"
REQUIREMENTS = "docker/vl_jepa/requirements.txt"
CONFIG_FILES = (ENV, DOCKERFILE, REQUIREMENTS, "docker-compose.yml")
R35 = "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3"
CU128 = "dustynv/pytorch:2.8-r36.4.4-cu128-24.04"
L4T_BASE = "nvcr.io/nvidia/l4t-base:r36.4.0"
# The device-tree model of a vendor's carrier board image: it names the board, not the Jetson module on it
CARRIER_MODEL = "Vendor custom carrier board"


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # agent | gpu | config | device | engine
    reproduces: str
    edit: Callable[[Path], None] | None = None
    image: str = ""  # a base image the fault's Dockerfile needs
    quiet: bool = False  # stops the embeddings by design: `set` does not wait for them to flow again
    recreate: bool = True  # gpu faults: recreate vl_jepa so that it meets the new driver state; config faults: the
    # services are recreated after the edit (False: the file is edited and nothing is recreated)


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


def _unset_env(key: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / ENV
        path.write_text(re.sub(rf"^{re.escape(key)}=.*\n?", "", path.read_text(), flags=re.M))
    return edit


def _drop_runtime(service: str) -> Callable[[Path], None]:
    """The service's `runtime:` line removed: it gets the engine's default runtime."""
    def edit(project: Path) -> None:
        path = project / "docker-compose.yml"
        head, sep, rest = path.read_text().partition(f"\n  {service}:\n")
        block, nxt, tail = rest.partition("\n  ")
        while tail and not re.match(r"[a-z_]+:\n", tail):
            more, nxt, tail = tail.partition("\n  ")
            block += "\n  " + more
        block = re.sub(r"\n? *runtime: nvidia", "", block)
        path.write_text(head + sep + block + nxt + tail)
    return edit


def _double(value: str) -> str:
    return str(int(value) * 2) if value.isdigit() else "768"


def _siglip_dim(value: str) -> str:
    return "384" if value == "768" else "768"


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
          "ImportError: libcudnn.so.9", _from(L4T_BASE), image=L4T_BASE, quiet=True),
    Fault("no_nvidia_runtime", "config", "vl_jepa runs with runc instead of the nvidia runtime: no /dev/nvmap, "
          "NvRmMemInitNvmap failed (jetson-containers #384)", _replace_runtime("vl_jepa", "runc")),
    Fault("container_crashloop", "config", "a bad VL_JEPA_INPUT_SIZE makes vl_jepa exit at start; "
          "restart: unless-stopped restarts it forever", _set_env("VL_JEPA_INPUT_SIZE", "224px"), quiet=True),
    Fault("cublas_alloc_failed", "gpu", "CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate(handle): "
          "the GPU's shared memory is exhausted"),
    Fault("engine_input_mismatch", "config", "VL_JEPA_INPUT_SIZE=256 with an engine built for 224: the "
          "TensorRT engine rejects the frames", _set_env("VL_JEPA_INPUT_SIZE", "256"), quiet=True),
    Fault("missing_engine", "device", "the TensorRT engine file is not on the device (not copied to the SSD)",
          quiet=True),
    Fault("stale_centroids", "device", "the guard's centroids are the old 768-d SigLIP ones, not re-collected "
          "after the switch to the 384-d engine"),
    Fault("broker_down", "device", "the device's mosquitto is stopped: nothing reaches vision/embeddings",
          quiet=True),
    Fault("jetpack_package_missing", "device", "nvidia-jetpack is not installed (a partial JetPack install "
          "or apt autoremove): dpkg lists no nvidia-jetpack"),
    Fault("nan_embeddings", "agent", "the encoder emits NaN values (fp16 overflow)"),
    Fault("constant_embeddings", "agent", "the encoder returns the same vector for every frame"),
    Fault("stalled_publisher", "agent", "vl_jepa runs but stops publishing", quiet=True),
    Fault("slow_rate", "agent", "embeddings arrive at a quarter of the configured rate"),
    Fault("malformed_payload", "agent", "some vision/embeddings payloads are not valid JSON"),
    Fault("flapping_locations", "agent", "scene's current location changes on nearly every update"),
    Fault("no_actuation", "agent", "policy publishes no act/result"),
    Fault("actuation_failures", "agent", "act/result reports ok: false"),
    Fault("unknown_backend", "config", "VL_JEPA_BACKEND names a backend no runbook step covers (onnxruntime): "
          "the agent refuses it and no runbook path applies", _set_env("VL_JEPA_BACKEND", "onnxruntime"), quiet=True),
    Fault("runbook_probe_missing", "config", "the vl_jepa image lacks /app/tools/jetson/check_torch_cuda.py (Task 1's "
          "scripts never committed, or a Dockerfile that does not copy tools/): the runbook's Task 2 step 1 cannot run",
          _append(DOCKERFILE, "RUN rm -f /app/tools/jetson/check_torch_cuda.py", after="COPY tools/ /app/tools/")),
    Fault("env_not_recreated", "config", "config/jetson.env edited (VL_JEPA_RATE) but the services not recreated: "
          "the running containers keep the old value", _set_env("VL_JEPA_RATE", _double), recreate=False),
    Fault("guard_dim_stale", "config", "EMBEDDING_GUARD_DIM left at the SigLIP2 768 after the switch to the 384-d "
          "DINOv2 engine (the runbook's Task 5 step skipped)", _set_env("EMBEDDING_GUARD_DIM", _siglip_dim)),
    Fault("engine_path_unset", "config", "VL_JEPA_ENGINE_PATH missing from config/jetson.env: vl_jepa loads "
          "whatever engine its built-in default names, not the one the device was set up with",
          _unset_env("VL_JEPA_ENGINE_PATH")),
    Fault("cuda_init_crash", "gpu", "the GPU driver is in a bad state: a new process that initialises CUDA dies "
          "with SIGSEGV (Segmentation fault (core dumped)); a process that already holds a context keeps "
          "running", recreate=False),
    Fault("nvidia_runtime_unregistered", "engine", "the Docker engine lost its nvidia runtime (a docker.io "
          "upgrade replaced /etc/docker/daemon.json): `docker info` lists runc only; running containers keep "
          "theirs, new ones get no GPU"),
    Fault("default_runtime_runc", "engine", "the compose file leaves vl_jepa to the engine's default runtime and the "
          "default is runc (daemon.json lacks \"default-runtime\": \"nvidia\"): vl_jepa gets no /dev/nvmap",
          _drop_runtime("vl_jepa")),
    Fault("tegra_release_missing", "device", "/etc/nv_tegra_release is gone (deleted, or a rootfs not flashed "
          "by SDK Manager): nothing names the L4T release"),
    Fault("l4t_partial_upgrade", "device", "an interrupted OTA upgrade: /etc/nv_tegra_release names a newer "
          "L4T than the installed nvidia-l4t-core and nvidia-jetpack packages"),
    Fault("unknown_l4t_release", "device", "/etc/nv_tegra_release names an L4T release in no JetPack table "
          "(a developer preview or a vendor BSP)"),
    Fault("cuda_toolkit_mismatch", "device", "/usr/local/cuda points at a CUDA 11.4 toolkit left over from "
          "JetPack 5, not the one JetPack ships"),
    Fault("compute_packages_missing", "device", "CUDA, cuDNN and TensorRT packages removed (`apt autoremove` "
          "after a meta-package change): dpkg lists none of them"),
    Fault("mixed_jetpack_packages", "device", "JetPack 5 CUDA 11.4, cuDNN 8.6 and TensorRT 8.5 packages "
          "installed beside JetPack 6's (a stale apt source)"),
    Fault("tegrastats_needs_root", "device", "the suite's user lost its passwordless sudo rule, and this device's "
          "tegrastats needs root: `sudo -n tegrastats` says a password is required, so no telemetry"),
    Fault("no_bash", "device", "a minimal rootfs (a Yocto meta-tegra image) with BusyBox sh and no bash: "
          "bash scripts such as the runbook's gpu_diag.sh cannot run"),
    Fault("gpu_diag_missing", "device", "the agents' project lacks tools/jetson/gpu_diag.sh (Task 1's scripts never "
          "committed): the runbook's `bash tools/jetson/gpu_diag.sh` cannot run"),
    Fault("tegrastats_missing", "device", "nvidia-l4t-tools removed: no tegrastats on the device"),
    Fault("custom_carrier_minimal_image", "device", "a custom carrier board's production image: the vendor's own "
          f"device tree names its board ({CARRIER_MODEL!r}, standing for a carrier vendor's model string; vendors name "
          "their own DTS, e.g. tegra194-xavier-nx-cti-NGX004.dts, where jetson_stats reported `Board(s): UNKNOWN`, "
          "jetson_stats #181), which names no known module, and the image is built without nvidia-l4t-tools: no "
          "tegrastats either, so nothing identifies the module"),
    Fault("agent_stopped", "device", "vl_jepa is stopped (`docker stop`, or exited with restart: no): its "
          "container exists but does not run", quiet=True),
    Fault("agent_restarted", "device", "vl_jepa was killed (exit 137, as by the OOM killer) and restarted by "
          "Docker's restart policy"),
    Fault("scene_down", "device", "the scene service is stopped: nothing publishes progress/understanding"),
    Fault("scene_killed", "device", "the scene container was killed (`docker kill`: exit 137, and a killed container "
          "is not restarted by its restart policy): nothing publishes progress/understanding"),
    Fault("scene_silent", "agent", "scene runs but publishes nothing on progress/understanding (its publish loop is "
          "stuck while the process lives)"),
    Fault("scene_stale_embeddings", "agent", "scene's subscription to vision/embeddings is stuck after its first "
          "message: it keeps publishing progress/understanding with an old embeddings block"),
    Fault("guard_stopped", "device", "the embedding_guard service is stopped (`docker compose stop`): embeddings are "
          "not classified, and scene's understanding carries no guard verdict"),
    Fault("guard_paused", "device", "the embedding_guard container is paused (`docker pause`): it looks up in "
          "`docker ps` but its processes are frozen, so nothing is classified"),
    Fault("guard_silent", "agent", "embedding_guard runs and reads the embeddings but publishes nothing on "
          "vision/guard"),
    Fault("policy_stopped", "device", "the policy service is stopped: nothing acts on the understanding, no "
          "act/result"),
    Fault("few_centroid_samples", "device", "the guard's centroids were collected from 5 frames a class "
          "(collect_game / collect_non cut short)"),
    Fault("identical_centroids", "device", "both of the guard's centroids are the same vector (the same "
          "scene recorded in collect_game and collect_non)"),
    Fault("exploding_embeddings", "agent", "the encoder's outputs blow up (unnormalised activations after "
          "an fp16 overflow): norms in the tens of thousands"),
    Fault("seq_gaps", "agent", "frames are dropped between the camera and the encoder: every 10th message "
          "skips 5 seq numbers (the publish rate stays)"),
    Fault("host_torch_cuda_too_new", "device", "the host's python3 has a torch wheel built for a newer CUDA than the "
          "JetPack's driver (a cu128 wheel on a JetPack 6 host, whose driver is CUDA 12.6): CUDA cannot initialise "
          "on the host, cudaGetDeviceCount returned 35 (as in anduril/jetpack-nixos #328, a CUDA 12.8 program on a "
          "JetPack 6 Orin Nano); the containers' torch is not affected"),
    Fault("host_pip_torch", "device", "the host's python3 has pip's CPU-only aarch64 torch wheel (`pip3 install torch` "
          "on the host, pytorch #168065): torch.version.cuda is None there; the pipeline's torch is the "
          "container's, so the device is healthy"),
    # --- a discrete-GPU host's driver (`sim up --kind dgpu`; jetson_hil.sim.dgpu_host) ---
    Fault("dgpu_driver_not_loaded", "gpu", "the NVIDIA kernel module is not loaded (a kernel update whose DKMS "
          "build failed): nvidia-smi says \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
          "driver\", torch \"Found no NVIDIA driver on your system\""),
    Fault("dgpu_driver_library_mismatch", "gpu", "a driver upgrade without a reboot: the loaded kernel module is the "
          "old one, so NVML says \"Failed to initialize NVML: Driver/library version mismatch\" and a new CUDA "
          "process gets error 803; a process that already holds a context keeps running", recreate=False),
    Fault("dgpu_driver_too_old", "gpu", "the host runs driver 535 (CUDA 12.2), older than the container's torch "
          "CUDA 12.6 and the host toolkit's 12.8: cudaGetDeviceCount returned 35"),
    Fault("dgpu_mig_no_utilisation", "gpu", "MIG mode is enabled on the GPU: NVML reports no utilisation for it "
          "(nvidia-smi prints [N/A] for utilization.gpu), so the sampler's lines carry no GPU load",
          recreate=False),
    Fault("dgpu_toolkit_newer_than_driver", "device", "a CUDA 13.1 toolkit installed as /usr/local/cuda on a "
          "driver whose CUDA is 13.0: programs built with it need a newer driver"),
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


def apply_faults(cfg, faults: list[str], log=print, recreate: bool = True,
                 host_torch: Callable[[Any, set[str], Any], None] | None = None) -> None:
    """Make the device show exactly these faults; with `recreate`, rebuild and recreate what changed.
    `host_torch(cfg, active faults, log)` sets the device host's own torch (the simulator's set_host_torch)."""

    root, project = cfg.root, cfg.root / "project"
    active = [FAULTS[f] for f in faults]
    snapshot_pristine(root)
    before = _digest(project)
    _restore_pristine(root)
    for fault in active:
        if fault.edit:
            fault.edit(project)
    changed = {rel for rel, digest in _digest(project).items() if before.get(rel) != digest}
    (root / "faults").write_text("".join(f"{f.name}\n" for f in active if f.kind == "agent"))
    device = root / "gpu" / "state" / "device.json"
    gpu_changed, wanted, was = False, [], []
    if device.exists():
        data = json.loads(device.read_text())
        wanted = [f.name for f in active if f.kind == "gpu"]
        was = data.get("faults", [])
        gpu_changed = was != wanted
        data["faults"] = wanted
        if data.get("kind") == "dgpu":
            from .dgpu_host import driver_state

            driver_state(data, wanted)
        device.write_text(json.dumps(data, indent=2))
    if not recreate:
        return
    _engine_faults({f.name for f in active if f.kind == "engine"}, log)
    _device_faults(cfg, {f.name for f in active if f.kind == "device"}, log, host_torch)
    services = set()
    if changed & {DOCKERFILE, REQUIREMENTS}:
        from . import images

        images.ensure(fault_images(faults), images.venv_dir(), log=log)
        log("rebuilding vl_jepa")
        compose(cfg, "build -q vl_jepa")
        services.add("vl_jepa")
    edited_only = any(f.kind == "config" and not f.recreate for f in active) and changed <= {ENV}
    if changed & {ENV, "docker-compose.yml"} and not edited_only:
        services |= {"vl_jepa", "embedding_guard", "scene", "policy"}
    if gpu_changed and any(FAULTS[f].recreate for f in set(wanted) ^ set(was)):
        services.add("vl_jepa")
    if services:
        names = " ".join(sorted(services))
        log(f"recreating {names}")
        compose(cfg, f"up -d --no-deps --force-recreate {names}")


def _swap_aside(path: Path, aside: Path, active: bool, replacement: Callable[[], str] | None = None) -> bool:
    """Move a device file aside (optionally writing a stand-in) or put it back; True when anything changed."""
    if active and not aside.exists() and (path.exists() or path.is_symlink()):
        path.rename(aside)
        if replacement:
            path.write_text(replacement())
        return True
    if not active and (aside.exists() or aside.is_symlink()):
        aside.replace(path)
        return True
    return False


def _rewrite_in_place(path: Path, saved: Path, active: bool, replacement: Callable[[str], str]) -> bool:
    """Rewrite a file keeping its inode (bind mounts of it in running containers see the change), or restore it."""
    if active and not saved.exists() and path.exists():
        saved.write_bytes(path.read_bytes())
        path.write_text(replacement(path.read_text()))
        return True
    if not active and saved.exists():
        path.write_bytes(saved.read_bytes())
        saved.unlink()
        return True
    return False


def _centroids_edit(change: Callable[[dict], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)
    return edit


def _few_samples(data: dict) -> None:
    for c in data.get("classes", {}).values():
        c["samples"] = 5


def _identical(data: dict) -> None:
    classes = list(data.get("classes", {}).values())
    for c in classes[1:]:
        c["centroid"] = list(classes[0]["centroid"])


def _stale_centroids() -> str:
    import random

    rng = random.Random(768)
    classes = {c: {"centroid": [round(rng.gauss(0, 1), 6) for _ in range(768)], "samples": 40}
               for c in ("game", "non_game")}
    return json.dumps({"dim": 768, "model": "siglip2-b16", "classes": classes, "created": "2026-02-01T09:00:00Z"})


def _other_release(cfg) -> str:
    """A newer release of the device's L4T line (the one an OTA would install), else any other of that line."""
    from jetson_hil import l4t

    from .jetson_release import KNOWN_LINES

    current = l4t.parse_version(cfg.release)
    same_line = sorted((l4t.parse_version(v), v) for v in KNOWN_LINES if l4t.parse_version(v).major == current.major
                       and v != cfg.release)
    newer = [v for p, v in same_line if p > current]
    return (newer or [v for _, v in same_line] or [f"{current.major}.{current.minor}.{current.patch + 1}"])[0]


def _release_text(cfg, version: str) -> Callable[[str], str]:
    from .jetson_release import Release

    return lambda _old: Release(version, cfg.module).release_file()


def _unknown_release(cfg) -> Callable[[str], str]:
    """The release file's first line with a revision no JetPack table has (R36.9.9 on an R36 device)."""
    def edit(text: str) -> str:
        return re.sub(r"REVISION: [\d.]+", "REVISION: 9.9", text, count=1)
    return edit


# JetPack 5.1's versions of one package per group: installed beside JetPack 6's by a stale apt source
JP5_PACKAGES = (
    ("cuda-cudart-11-4", "11.4.298-1", "CUDA Runtime native Libraries"),
    ("libcudnn8", "8.6.0.166-1+cuda11.4", "cuDNN runtime libraries"),
    ("libnvinfer8", "8.5.2-1+cuda11.4", "TensorRT runtime libraries"),
)
OLD_CUDA = "cuda-11.4"


def _installed(cfg, names: list[str]) -> set[str]:
    """Which of these packages the device's dpkg lists as installed (one query)."""

    out = device_exec(cfg, "dpkg-query -W -f='${Package} ${Status}\\n' " + " ".join(names) + " 2>/dev/null",
                      check=False)
    return {line.split()[0] for line in out.splitlines() if line.endswith("ok installed")}


def _group_packages(cfg) -> list[str]:
    """The device's own CUDA, cuDNN and TensorRT packages (from its package list, as built)."""
    from jetson_hil.device import PACKAGE_GROUPS

    from . import rootfs

    patterns = [p for g in ("cuda", "cudnn", "tensorrt") for p in PACKAGE_GROUPS[g]]
    return [name for name, _v, _d in rootfs.release_of(cfg).packages()
            if any(re.fullmatch(p, name) for p in patterns)]


def _packages_fault(cfg, active: bool, names: list[str], debs: Callable[[], list[Path]], installed: set[str],
                    log) -> bool:
    """Remove packages with the device's dpkg, or install them back from their .deb files."""
    from .debs import install

    there = sorted(installed & set(names))
    if active and there:
        log(f"removing {', '.join(there)} with dpkg")
        device_exec(cfg, "dpkg -r --force-depends " + " ".join(there))
        return True
    if not active and len(there) < len(names):
        install(cfg.root / "rootfs", *debs())
        return True
    return False


def _jp5_debs(cfg) -> list[Path]:
    from .debs import build

    store = cfg.root / "debs-jp5"
    store.mkdir(exist_ok=True)
    return [store / f"{n}.deb" if (store / f"{n}.deb").exists() else build(store, n, v, d, {})
            for n, v, d in JP5_PACKAGES]


def _cuda_link(cfg, active: bool) -> bool:
    """Point /usr/local/cuda at a CUDA 11.4 toolkit directory (as update-alternatives would), or back."""
    local = cfg.root / "rootfs" / "usr" / "local"
    link, aside, old = local / "cuda", local / "cuda.jetpack", local / OLD_CUDA
    if active and not aside.is_symlink() and link.is_symlink():
        old.mkdir(exist_ok=True)
        (old / "version.json").write_text(json.dumps({"cuda": {"name": "CUDA SDK", "version": "11.4.315"}}, indent=3))
        link.rename(aside)
        link.symlink_to(OLD_CUDA)
        return True
    if not active and aside.is_symlink():
        aside.replace(link)
        shutil.rmtree(old, ignore_errors=True)
        return True
    return False


def _service(cfg, service: str, stopped: bool, running: set[str], log) -> bool:
    """Stop a compose service, or start it again; `running` is what `compose ps` listed as running."""

    if stopped and service in running:
        log(f"stopping {service}")
        compose(cfg, f"stop -t 2 {service}")
        return True
    if not stopped and service not in running:
        compose(cfg, f"up -d --no-deps {service}")
        return True
    return False


# compose service -> the device faults that stop it (`docker compose stop`) and that kill it (`docker kill`)
STOPPED_BY = {
    "mosquitto": ("broker_down",),
    "scene": ("scene_down",),
    "vl_jepa": ("agent_stopped",),
    "embedding_guard": ("guard_stopped",),
    "policy": ("policy_stopped",),
}
KILLED_BY = {"scene": ("scene_killed",)}
PAUSED_BY = {"embedding_guard": ("guard_paused",)}


def _service_faults(cfg, active: set[str], log) -> None:
    """The compose services as the active faults want them: stopped, killed, paused, or running."""

    for service in PAUSED_BY:  # unpaused first: a paused container is neither started, stopped nor killed
        _paused(cfg, service, False, log)
    running = set(compose(cfg, "ps --services --filter status=running").split())
    for service, faults in KILLED_BY.items():
        _killed(cfg, service, bool(active & set(faults)), running, log)
    for service in dict.fromkeys([*STOPPED_BY, *KILLED_BY]):
        down = active & {*STOPPED_BY.get(service, ()), *KILLED_BY.get(service, ())}
        if service in running or not (active & set(KILLED_BY.get(service, ()))):
            _service(cfg, service, bool(down), running, log)
    for service, faults in PAUSED_BY.items():
        if active & set(faults):
            _paused(cfg, service, True, log)


def _killed(cfg, service: str, active: bool, running: set[str], log) -> None:
    """`docker kill` the service's container (exit 137; a killed container stays down whatever its restart
    policy); clearing starts it again (`_service` sees it not running)."""
    from . import engine

    cid = _container(cfg, service) if active else None
    if not cid:
        return
    container = engine.client().containers.get(cid)
    if service in running or container.attrs["State"]["ExitCode"] != 137:
        if service not in running:  # stopped by the previous row's fault (exit 0): a kill needs it running
            container.start()
        log(f"killing {service} (docker kill)")
        container.kill()
        running.discard(service)


def _paused(cfg, service: str, active: bool, log) -> None:
    """`docker pause` the service's container, or unpause it."""
    from . import engine

    cid = _container(cfg, service)
    if not cid:
        return
    container = engine.client().containers.get(cid)
    if active and container.status == "running":
        log(f"pausing {service} (docker pause)")
        container.pause()
    elif not active and container.status == "paused":
        container.unpause()


def _container(cfg, service: str) -> str:

    return compose(cfg, f"ps -q {service}").strip()


def _killed_once(cfg, active: bool, log) -> bool:
    """Kill vl_jepa's main process from the host (exit 137, as the OOM killer does); Docker restarts it.

    The restart count stays until the container is recreated, which clearing does.
    """
    from . import engine

    cid = _container(cfg, "vl_jepa")
    if not cid:
        return False
    container = engine.client().containers.get(cid)
    restarted = int(container.attrs.get("RestartCount", 0)) > 0
    if active and not restarted:
        log("killing vl_jepa's main process (SIGKILL); its restart policy brings it back")
        os.kill(int(container.attrs["State"]["Pid"]), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            container.reload()
            if container.attrs.get("RestartCount", 0) > 0 and container.attrs["State"].get("Running"):
                break
        return True
    if not active and restarted:
        compose(cfg, "up -d --no-deps --force-recreate vl_jepa")
        return True
    return False


def _engine_faults(active: set[str], log) -> None:
    """Faults in the Docker engine's own configuration, which every simulated device on this machine shares."""
    from . import engine

    nvidia = "nvidia_runtime_unregistered" not in active
    default = "nvidia" if nvidia and "default_runtime_runc" not in active else "runc"
    if engine.configure_runtimes(nvidia, default):
        log(f"engine reloaded: nvidia runtime {'registered' if nvidia else 'removed'}, default runtime {default}")


def _device_faults(cfg, active: set[str], log, host_torch) -> None:
    """Faults in the device host itself, applied with the device's own tools and files."""
    from . import rootfs
    from .debs import install
    from .project import ENGINE_PATH

    if getattr(cfg, "kind", "jetson") == "dgpu":  # no L4T, JetPack or tegrastats there: its own faults
        from .dgpu_host import device_faults

        device_faults(cfg, active, log)
        _service_faults(cfg, active, log)
        return
    root, project = cfg.root, cfg.root / "project"
    aside = root / "aside"
    aside.mkdir(exist_ok=True)
    etc = root / "rootfs" / "etc"
    engine = project / "models" / ENGINE_PATH.removeprefix("/mnt/ssd/models/")
    if _swap_aside(engine, engine.with_name(engine.name + ".removed"), "missing_engine" in active):
        compose(cfg, "restart -t 2 vl_jepa")
    centroids = project / "data" / "centroids.json"
    release = etc / "nv_tegra_release"
    rule = etc / rootfs.SUDOERS_RULE
    bash = root / "rootfs" / "usr" / "bin" / "bash"
    gpu_diag = project / "tools" / "jetson" / "gpu_diag.sh"
    model = root / "rootfs" / rootfs.DEVICE_TREE / "model"
    # Several faults edit one file: every clear runs before any set, so that a set never saves (as the file to
    # restore) another fault's edit, and a clear never restores over another fault's edit.
    files: dict[str, tuple[Path, Callable[[bool], bool]]] = {
        "stale_centroids": (centroids, lambda on: _swap_aside(
            centroids, centroids.with_name("centroids.json.current"), on, _stale_centroids)),
        "few_centroid_samples": (centroids, lambda on: _rewrite_in_place(
            centroids, aside / "centroids.few_centroid_samples", on, _centroids_edit(_few_samples))),
        "identical_centroids": (centroids, lambda on: _rewrite_in_place(
            centroids, aside / "centroids.identical_centroids", on, _centroids_edit(_identical))),
        "tegrastats_needs_root": (rule, lambda on: _swap_aside(rule, rule.with_name(rule.name + ".removed"), on)),
        "tegra_release_missing": (release, lambda on: _swap_aside(release, aside / "nv_tegra_release.removed", on)),
        "l4t_partial_upgrade": (release, lambda on: _rewrite_in_place(
            release, aside / "nv_tegra_release.upgrade", on, _release_text(cfg, _other_release(cfg)))),
        "unknown_l4t_release": (release, lambda on: _rewrite_in_place(
            release, aside / "nv_tegra_release.unknown", on, _unknown_release(cfg))),
        "cuda_toolkit_mismatch": (root, lambda on: _cuda_link(cfg, on)),
        "no_bash": (bash, lambda on: _swap_aside(bash, bash.with_name("bash.removed"), on)),
        "gpu_diag_missing": (gpu_diag, lambda on: _swap_aside(gpu_diag, aside / "gpu_diag.sh.removed", on)),
        "custom_carrier_minimal_image": (model, lambda on: _rewrite_in_place(
            model, aside / "device_tree_model.carrier", on, lambda _old: CARRIER_MODEL + "\0")),
    }
    changed: set[Path] = set()
    for on in (False, True):
        for name, (path, toggle) in files.items():
            if (name in active) == on and toggle(on):
                changed.add(path)
    if centroids in changed:
        compose(cfg, "restart -t 2 embedding_guard")

    debs = root / "debs"
    group = _group_packages(cfg)
    jp5 = [n for n, _v, _d in JP5_PACKAGES]
    installed = _installed(cfg, ["nvidia-jetpack", "nvidia-l4t-tools", *group, *jp5])
    _packages_fault(cfg, "jetpack_package_missing" in active, ["nvidia-jetpack"],
                    lambda: [debs / "nvidia-jetpack.deb"], installed, log)
    _packages_fault(cfg, "compute_packages_missing" in active, group, lambda: [debs / f"{n}.deb" for n in group],
                    installed, log)
    _packages_fault(cfg, bool(active & {"tegrastats_missing", "custom_carrier_minimal_image"}), ["nvidia-l4t-tools"],
                    lambda: [debs / "nvidia-l4t-tools.deb"], installed, log)
    there = sorted(installed & set(jp5))
    if "mixed_jetpack_packages" in active and len(there) < len(jp5):
        log("installing JetPack 5 packages beside JetPack 6's")
        install(root / "rootfs", *_jp5_debs(cfg))
    elif "mixed_jetpack_packages" not in active and there:
        device_exec(cfg, "dpkg -r --force-depends " + " ".join(there))

    _service_faults(cfg, active, log)
    if "agent_stopped" not in active:
        _killed_once(cfg, "agent_restarted" in active, log)
    if host_torch is not None:
        host_torch(cfg, active, log)
