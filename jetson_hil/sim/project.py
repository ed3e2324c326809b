"""The agents' project directory on the simulated device, as a user's repository would hold it.

docker-compose.yml, config/jetson.env with the runbook's variables, docker/vl_jepa/Dockerfile FROM
the l4t-pytorch tag matching the release, requirements.txt, the agents' code, tools/jetson and the
design doc. Only the bind mounts of the host's Python and the agents' CPU priority, marked as such, are the
simulator's own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .images import DEVICE_HOST_IMAGE
from .paths import PACKAGE_DIR, REPO_DIR

SERVICES = ("vl_jepa", "embedding_guard", "scene", "policy")
ENGINE_PATH = "/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine"
DESIGN_DOC = "docs/plans/2026-02-01-embeddings-first-vision-design.md"
ENCODER_DIMS = {"dinov2-s14": 384, "siglip2-b16": 768, "tiny": 64}
ENGINE_DIM = 384
BACKENDS = ("pytorch", "tensorrt")
# The simulated device has CPUs of its own; the simulator shares this machine's. Under a cgroupfs engine its
# services share one group, DEVICE_CGROUP, that outweighs the host's processes (a nice-0 process weighs 1024),
# so a busy host cannot make healthy agents miss their schedule (issue 19), and that may use all CPUs but
# RUNNER_CPUS, so the device's own bursts cannot starve the runner measuring it (uncapped, two simulators each
# importing torch for a probe held both cores, and the runner stamped receipts up to a second late).
DEVICE_CGROUP = "/jetson-hil-sim"
CPU_SHARES = 65536
RUNNER_CPUS = 0.25


@dataclass(frozen=True)
class Layout:
    """Everything the compose file needs to know about the simulated device."""

    name: str
    root: Path  # the simulator's state dir for this device
    image_tag: str  # FROM of docker/vl_jepa/Dockerfile
    mqtt_port: int
    encoder: str
    rate: float
    venv: str
    container_prefix: str = ""
    backend: str = "pytorch"
    cgroup_parent: str = ""  # DEVICE_CGROUP (cgroupfs engines only)

    @property
    def dim(self) -> int:
        """Plan B's engine is DINOv2-S/14 whatever the PyTorch encoder is."""
        return ENGINE_DIM if self.backend == "tensorrt" else ENCODER_DIMS[self.encoder]

    @property
    def project(self) -> Path:
        return self.root / "project"

    def container(self, service: str) -> str:
        base = "vl_jepa_agent" if service == "vl_jepa" else service
        return f"{self.container_prefix}{base}"


def env_file(layout: Layout) -> str:
    dim = layout.dim
    return f"""# vl_jepa and embedding_guard settings (runbook: Jetson GPU Embeddings Reliability Plan)
VL_JEPA_DEVICE=cuda
VL_JEPA_FP16=1
VL_JEPA_BACKEND={layout.backend}
VL_JEPA_ENGINE_PATH={ENGINE_PATH}
VL_JEPA_INPUT_SIZE=224
VL_JEPA_ENCODER={layout.encoder}
VL_JEPA_RATE={layout.rate:g}
EMBEDDING_GUARD_DIM={dim}
EMBEDDING_GUARD_MODE=run
EMBEDDING_GUARD_CENTROIDS=/data/centroids.json
"""


def dockerfile(layout: Layout) -> str:
    return f"""FROM {layout.image_tag}
WORKDIR /app
COPY docker/vl_jepa/requirements.txt /app/requirements.txt
RUN pip3 install -r /app/requirements.txt
COPY agents/ /app/agents/
COPY tools/ /app/tools/
CMD ["python3", "/app/agents/vl_jepa.py"]
"""


def agents_dockerfile(layout: Layout) -> str:
    return f"""FROM {layout.image_tag}
WORKDIR /app
COPY agents/ /app/agents/
"""


REQUIREMENTS = """# torch comes with the l4t-pytorch base image (NVIDIA's Jetson wheel): never list it here
numpy
paho-mqtt>=2
onnxruntime
"""


def _contents_volumes(layout: Layout) -> list[str]:
    """The simulator's images are FROM scratch: the host's Python and libraries stand in for their contents."""
    base = sys.base_prefix  # under /usr (a distribution's Python) the /usr mount already holds it
    return ["/usr:/usr:ro", *([] if under_usr(base) else [f"{base}:{base}:ro"]), f"{layout.venv}:{layout.venv}:ro"]


def under_usr(path: str) -> bool:
    return path == "/usr" or path.startswith("/usr/")


def engine_cgroup_parent() -> str:
    """DEVICE_CGROUP, made ready, when the engine uses the cgroupfs driver and this host lets us shape it, "/" when
    it cannot be shaped (the services' own weight then counts against the host's processes), else "" (systemd
    wants a slice; keep Docker's default). Under cgroupfs every container otherwise sits in one ``docker`` group
    that weighs as much as a single busy process of the host."""
    try:
        out = subprocess.run(["docker", "info", "--format", "{{.CgroupDriver}}"], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if out.returncode != 0 or out.stdout.strip() != "cgroupfs":
        return ""
    return DEVICE_CGROUP if shape_device_cgroup(Path("/sys/fs/cgroup")) else "/"


def shape_device_cgroup(root: Path) -> bool:
    """Creates DEVICE_CGROUP with the device's weight and CPU cap (cgroup v1 cpu controller, or v2); idempotent,
    and again after a reboot empties /sys/fs/cgroup. False when this host does not let us."""
    period = 100_000
    quota = int(max(1.0, (os.cpu_count() or 1) - RUNNER_CPUS) * period)
    v1 = root / "cpu"
    group = (v1 if v1.is_dir() else root) / DEVICE_CGROUP.strip("/")
    files = ({"cpu.shares": CPU_SHARES, "cpu.cfs_period_us": period, "cpu.cfs_quota_us": quota} if v1.is_dir()
             else {"cpu.weight": 10000, "cpu.max": f"{quota} {period}"})
    try:
        group.mkdir(exist_ok=True)
        for name, value in files.items():
            (group / name).write_text(f"{value}\n")
    except OSError:
        return False
    return True


def _priority(layout: Layout) -> list[str]:
    """The simulator's own: the CPU weight of a device that does not share its CPU with this host."""
    lines = [f"    cpu_shares: {CPU_SHARES}  # simulator: the device's CPU is its own (not on a real device)"]
    if layout.cgroup_parent:
        lines.append(f"    cgroup_parent: {layout.cgroup_parent}  # simulator: the device's CPU (DEVICE_CGROUP)")
    return lines


def compose_file(layout: Layout) -> str:
    lines = ['version: "2.4"', "", "services:"]
    lines += [
        "  mosquitto:",
        "    image: jetson-hil/mosquitto:1",
        "    build: {context: ., dockerfile: docker/mosquitto/Dockerfile}",
        f"    container_name: {layout.container('mosquitto')}",
        *_priority(layout),
        "    runtime: runc",
        "    network_mode: host",
        "    restart: unless-stopped",
        "    command: [\"/usr/sbin/mosquitto\", \"-c\", \"/mosquitto/mosquitto.conf\"]",
        "    volumes:",
        "      - /usr:/usr:ro",
        "      - ./mosquitto:/mosquitto:ro",
    ]
    commands = {
        "vl_jepa": None,
        "embedding_guard": "python3 /app/agents/embedding_guard.py",
        "scene": "python3 /app/agents/scene.py",
        "policy": "python3 /app/agents/policy.py",
    }
    for service in SERVICES:
        lines += [
            f"  {service}:",
            f"    image: {layout.name}/{service}:latest",
        ]
        if service == "vl_jepa":
            lines.append("    build: {context: ., dockerfile: docker/vl_jepa/Dockerfile}")
        else:
            lines.append("    build: {context: ., dockerfile: docker/agents/Dockerfile}")
            lines.append(f"    command: {commands[service]}")
        lines += [
            f"    container_name: {layout.container(service)}",
            *_priority(layout),
            "    runtime: nvidia",
            "    network_mode: host",
            "    restart: unless-stopped",
            "    env_file: config/jetson.env",
            "    environment:",
            "      - MQTT_HOST=127.0.0.1",
            f"      - MQTT_PORT={layout.mqtt_port}",
            f"      - JETSON_SIM_ROOT={layout.root}",
            "      - JETSON_SIM_FAULTS_FILE=/run/jetson-sim/faults",
            "    volumes:",
            *[f"      - {v}" for v in _contents_volumes(layout)],
            "      - ./data:/data",
            "      - ./models:/mnt/ssd/models",
            f"      - {layout.root}/faults:/run/jetson-sim/faults:ro",
        ]
        if service != "mosquitto":
            lines.append("    depends_on: [mosquitto]")
    return "\n".join(lines) + "\n"


def design_doc() -> str:
    return """# Embeddings-first vision design

The vision stack turns game frames into image embeddings on the Jetson's GPU (`vl_jepa`), classifies
them against centroids (`embedding_guard`), and acts on the scene's understanding (`scene`, `policy`).

## GPU embeddings reliability

Runbook: restore GPU-backed embeddings (Tasks 1-6). Results are recorded below.
"""


def _remount_moved(p: Path, layout: Layout) -> None:
    """Point the agents' read-only mounts of this machine's Python at where it is now.

    The mounts are the simulator's plumbing, not the device's configuration: a project created from another
    checkout (and virtualenv) would start agents with that one's Python and packages. Any same-path read-only
    mount other than /usr and the base Python is the virtualenv's, in the project and in its pristine copy.
    """
    keep = {"/usr", sys.base_prefix, layout.venv}
    for path in (p / "docker-compose.yml", p.parent / "pristine" / "docker-compose.yml"):
        if not path.exists():
            continue
        text = path.read_text()
        stale = set(re.findall(r"^ +- (/\S+):\1:ro$", text, flags=re.M)) - keep
        for old in stale:
            text = text.replace(f"{old}:{old}:ro", f"{layout.venv}:{layout.venv}:ro")
        if stale:
            path.write_text(text)


def write(layout: Layout) -> None:
    """Create the project on first start; an existing project's configuration is the device's state and is
    left alone, while the agents' code and tools/jetson are refreshed from this checkout."""
    p = layout.project
    if (p / "docker-compose.yml").exists():
        _copy_code(p)
        _remount_moved(p, layout)
        return
    for d in ("config", "docker/vl_jepa", "docker/agents", "docker/mosquitto", "docs/plans", "data",
              "models/vl_jepa", "mosquitto", "tools"):
        (p / d).mkdir(parents=True, exist_ok=True)
    (p / ".env").write_text(f"COMPOSE_PROJECT_NAME={layout.name}\n")
    (p / "config/jetson.env").write_text(env_file(layout))
    (p / "docker/vl_jepa/Dockerfile").write_text(dockerfile(layout))
    (p / "docker/vl_jepa/requirements.txt").write_text(REQUIREMENTS)
    (p / "docker/agents/Dockerfile").write_text(agents_dockerfile(layout))
    (p / "docker/mosquitto/Dockerfile").write_text(f"FROM {DEVICE_HOST_IMAGE}\n")
    (p / "mosquitto/mosquitto.conf").write_text(
        f"listener {layout.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
    )
    if not layout.cgroup_parent:
        layout = replace(layout, cgroup_parent=engine_cgroup_parent())
    (p / "docker-compose.yml").write_text(compose_file(layout))
    (p / DESIGN_DOC).write_text(design_doc())
    _copy_code(p)


def _copy_code(p: Path) -> None:
    shutil.copytree(PACKAGE_DIR / "agents", p / "agents", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO_DIR / "tools" / "jetson", p / "tools" / "jetson", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
