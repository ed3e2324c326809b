"""`jetson-hil sim`: start, inspect, fault and stop a simulated Jetson built from real parts.

A simulated device is a device-host container (the Jetson as testinfra sees it: release file, a
real dpkg database, tegrastats, Docker CLI and compose, sshd) beside the agents' compose project
(mosquitto, vl_jepa, embedding_guard, scene, policy) run by the real compose from inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker.errors

from jetson_hil import l4t
from jetson_hil.lease import pid_alive

from . import dgpu_host, engine, host_torch, images, project, real_gpu, rootfs
from .faults import FAULTS, apply_faults, fault_images
from .paths import sim_dir, state_lock, state_root
from .shell import SimError, compose, device_exec

DEVICE_PREFIX = "jetson-sim-"


@dataclass
class SimConfig:
    name: str = "sim1"
    module: str = "orin-nano"
    l4t: str = ""
    encoder: str = "dinov2-s14"
    backend: str = "pytorch"
    rate: float = 5.0
    faults: list[str] = field(default_factory=list)
    mqtt_port: int = 0
    ssh_port: int = 0
    kind: str = "jetson"  # or "dgpu": a discrete-GPU host (jetson_hil.sim.dgpu_host)
    gpu: str = "auto"  # the agents' GPU: the host's NVIDIA GPU when it has one (auto), real, or simulated
    host_torch: str = ""  # the host python3's torch: none (""), jetson (NVIDIA's wheel) or pip (CPU-only)

    @property
    def root(self) -> Path:
        return sim_dir(self.name)

    @property
    def container(self) -> str:
        return DEVICE_PREFIX + self.name

    @property
    def release(self) -> str:
        return self.l4t or str(l4t.MODULES[self.module].default_l4t)

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sim.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, name: str) -> SimConfig | None:
        try:
            return cls(**json.loads((sim_dir(name) / "sim.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def layout(self) -> project.Layout:
        prefix = "" if self.name == "sim1" else f"{self.name}_"
        image = dgpu_host.IMAGE if self.kind == dgpu_host.KIND else rootfs.release_of(self).pytorch_image()
        return project.Layout(self.name, self.root, image, self.mqtt_port, self.encoder, self.rate,
                              images.venv_dir(), prefix, self.backend)


def _free_port(avoid: set[int]) -> int:
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise SimError("no free loopback port")


def _ports_in_use() -> set[int]:
    used = set()
    for path in (state_root() / "sim").glob("*/sim.json"):
        try:
            data = json.loads(path.read_text())
            used |= {data.get("mqtt_port", 0), data.get("ssh_port", 0)}
        except (OSError, ValueError):
            continue
    return used


def validate(cfg: SimConfig) -> None:
    if cfg.kind not in ("jetson", dgpu_host.KIND):
        raise SimError(f"--kind {cfg.kind!r}: choose jetson or {dgpu_host.KIND}")
    if cfg.module not in l4t.MODULES:
        raise SimError(f"--module {cfg.module!r}: choose one of {', '.join(l4t.MODULES)}")
    if cfg.encoder not in project.ENCODER_DIMS:
        raise SimError(f"--encoder {cfg.encoder!r}: choose one of {', '.join(project.ENCODER_DIMS)}")
    try:
        release = l4t.parse_version(cfg.release)
    except ValueError as exc:
        raise SimError(f"--l4t {cfg.release!r}: {exc}") from None
    if l4t.stack_for(release) is None:
        raise SimError(f"--l4t {cfg.release}: no known JetPack compute stack for this release")
    if cfg.backend not in project.BACKENDS:
        raise SimError(f"--backend {cfg.backend!r}: choose one of {', '.join(project.BACKENDS)}")
    if cfg.gpu not in real_gpu.MODES:
        raise SimError(f"--gpu {cfg.gpu!r}: choose one of {', '.join(real_gpu.MODES)}")
    if cfg.host_torch not in host_torch.OPTIONS:
        raise SimError(f"--host-torch {cfg.host_torch!r}: choose one of none, "
                       f"{', '.join(o for o in host_torch.OPTIONS if o)}")
    if cfg.host_torch and cfg.kind == dgpu_host.KIND:
        raise SimError("--host-torch is for a Jetson host; a dGPU host's python3 is left as it is")
    if not 0 < cfg.rate <= 100:
        raise SimError(f"--rate {cfg.rate}: must be between 0 and 100 Hz")
    unknown = [f for f in cfg.faults if f not in FAULTS]
    if unknown:
        raise SimError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
    for fault in cfg.faults:
        if why := dgpu_host.fault_conflict(cfg.kind, fault, FAULTS[fault].kind):
            raise SimError(why)


def _device_running(cfg: SimConfig) -> bool:
    try:
        return engine.client(timeout=10).containers.get(cfg.container).status == "running"
    except (docker.errors.NotFound, docker.errors.DockerException):
        return False


def _start_device_host(cfg: SimConfig) -> None:
    """Start the device-host container; a running one is kept unless it lacks a mount this version needs (it is
    then recreated: the agents, run by the engine, are not touched). The engine's calls get a loaded machine's
    time (a hang guard, not a target): a busy engine takes more than its default 30 s to start a container."""
    client = engine.client(timeout=150)
    volumes = _device_host_volumes(cfg)
    try:
        old = client.containers.get(cfg.container)
        binds = set((old.attrs.get("HostConfig") or {}).get("Binds") or [])
        wanted = {f"{src}:{v['bind']}:{v['mode']}" for src, v in volumes.items()}
        if old.status == "running" and wanted <= binds:
            return
        old.remove(force=True)
    except docker.errors.NotFound:
        pass
    _create_device_host(cfg, client, volumes)


def _device_host_volumes(cfg: SimConfig) -> dict[str, dict[str, str]]:
    r = cfg.root
    base = sys.base_prefix
    venv = images.venv_dir()
    volumes = {
        str(r / "rootfs/etc"): {"bind": "/etc", "mode": "rw"},
        str(r / "rootfs/usr"): {"bind": "/usr", "mode": "rw"},
        str(r / "rootfs/var/lib/dpkg"): {"bind": "/var/lib/dpkg", "mode": "rw"},
        "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        str(r / "project"): {"bind": str(r / "project"), "mode": "rw"},
        str(r / "gpu/state"): {"bind": "/run/jetson-sim/gpu", "mode": "rw"},
    }
    if not project.under_usr(base):  # the device's /usr is the host's: a distribution's Python is in it
        volumes[base] = {"bind": base, "mode": "ro"}
    if not project.under_usr(venv):  # the torch `--host-torch` installs for the host's python3 (sim/host_torch.py)
        volumes[venv] = {"bind": venv, "mode": "ro"}
    if cfg.kind != dgpu_host.KIND:  # the device tree (rootfs._device_tree), unmasked (Docker masks /sys/firmware)
        volumes[str(r / "rootfs/sys/firmware")] = {"bind": "/sys/firmware", "mode": "ro"}
    return volumes


def _create_device_host(cfg: SimConfig, client, volumes: dict[str, dict[str, str]]) -> None:
    # a host without an SSH server (a bare GPU server) still gets its device, only not the SSH profile's way in
    init = ("mkdir -p /run/sshd /var/log; if [ -x /usr/sbin/sshd ]; then /usr/sbin/sshd -f /etc/ssh/sshd_config "
            "-E /var/log/sshd.log || exit 1; else echo 'no sshd on this host: the SSH profile cannot connect' "
            ">&2; fi; exec sleep infinity")
    host_config = client.api.create_host_config(
        binds=volumes, network_mode="host", runtime="runc",
        # a dGPU host's nvidia-smi names the containers' processes by host pid: it shares their pid namespace
        pid_mode="host" if cfg.kind == dgpu_host.KIND else None,
    )
    if cfg.kind != dgpu_host.KIND:
        host_config["MaskedPaths"] = list(rootfs.MASKED_PATHS)
    created = client.api.create_container(
        images.DEVICE_HOST_IMAGE, ["/usr/bin/docker-init", "--", "/bin/bash", "-c", init], name=cfg.container,
        detach=True, host_config=host_config,
        labels={"org.jetson-hil.sim": cfg.name},
        environment={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    client.api.start(created["Id"])


def _prepare_models(cfg: SimConfig, log) -> None:
    """Centroids and the Plan B engine are the device's data: made once, by the agent image itself."""
    p = cfg.root / "project"
    engine_file = p / "models" / project.ENGINE_PATH.removeprefix("/mnt/ssd/models/")
    if not engine_file.exists():
        log("exporting the Plan B engine (DINOv2-S/14, 224) as ONNX")
        compose(cfg, f"run --rm --no-deps vl_jepa python3 /app/agents/vl_jepa.py --export-engine "
                     f"{project.ENGINE_PATH} --encoder dinov2-s14 --input-size 224")
    centroids = p / "data" / "centroids.json"
    try:
        have = json.loads(centroids.read_text()).get("dim")
    except (OSError, ValueError):
        have = None
    if have != cfg.layout().dim:
        log("collecting guard and location centroids (40 samples each)")
        compose(cfg, "run --rm --no-deps vl_jepa python3 /app/agents/vl_jepa.py "
                     "--collect-centroids /data/centroids.json --samples 40")


PIPELINE = ("vision/embeddings", "progress/understanding", "act/result")


def wait_for_embeddings(cfg: SimConfig, timeout: float = 90, pipeline: bool = False) -> None:
    """Until vl_jepa publishes an embedding; with `pipeline`, until every agent downstream has answered too (a
    healthy device is ready only then: the guard and scene need a few embeddings before the first
    understanding)."""
    import paho.mqtt.client as mqtt

    topics = PIPELINE if pipeline else PIPELINE[:1]
    got: set[str] = set()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda _c, _u, m: got.add(m.topic)
    c.on_connect = lambda cl, *a: cl.subscribe([(t, 0) for t in topics])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c.connect("127.0.0.1", cfg.mqtt_port, keepalive=10)
            break
        except OSError:
            time.sleep(0.5)
    else:
        raise SimError(f"the device's broker on 127.0.0.1:{cfg.mqtt_port} did not answer within {timeout:.0f} s")
    c.loop_start()
    try:
        while time.monotonic() < deadline and not got.issuperset(topics):
            time.sleep(0.1)
    finally:
        c.loop_stop()
        c.disconnect()
    if "vision/embeddings" not in got:
        logs = compose(cfg, "logs --tail 20 vl_jepa")
        raise SimError(f"no embeddings on vision/embeddings within {timeout:.0f} s; vl_jepa log tail:\n{logs}")
    if missing := [t for t in topics if t not in got]:
        logs = compose(cfg, "logs --tail 10 embedding_guard scene policy")
        raise SimError(f"embeddings flow but nothing on {', '.join(missing)} within {timeout:.0f} s; the agents' "
                       f"log tails:\n{logs}")


USER_PROFILE = "device-user.toml"  # the same device as its non-root user, sudo -n for root's commands


def _tiny_gpu_floor(cfg: SimConfig) -> str:
    """The tiny encoder on PyTorch keeps the simulated Jetson GPU only 1-3 % busy at 5 Hz (tegrastats prints whole
    percents, so a window's mean sat on the default 1 % floor and once fell to 0.92 % on a busy machine), while an
    idle GPU reads 0 %: its profile says so, as a user's profile says what their model loads."""
    if cfg.encoder != "tiny" or cfg.backend != "pytorch" or cfg.kind == dgpu_host.KIND:
        return ""
    return (
        "# the tiny encoder keeps the simulated GPU 1-3 % busy at 5 Hz; an idle GPU reads 0 %\n"
        f"gr3d_min_percent = {0.1 * cfg.rate:g}\n"
    )


def write_profiles(cfg: SimConfig) -> tuple[Path, Path]:
    layout = cfg.layout()
    dim = layout.dim
    kind = f'kind = "{dgpu_host.KIND}"\n' if cfg.kind == dgpu_host.KIND else ""
    common = f"""
[compose]
project_dir = "{cfg.root / 'project'}"
command = "docker-compose"

[containers]
agent = "{layout.container('vl_jepa')}"
guard = "{layout.container('embedding_guard')}"

[mqtt]
url = "mqtt://127.0.0.1:{cfg.mqtt_port}"

[expect]
dim = {dim}
backend = "{cfg.backend}"
fp16 = true
device = "cuda"

[limits]
min_rate_hz = {cfg.rate * 0.8:g}
# the simulated game moves to a new location every 20-35 frames (4-7 s at 5 Hz), so a short window can hold
# two or three honest changes (20/min over 6 s at 5 Hz); flapping changes on nearly every update (~100/min)
max_location_changes_per_min = {max(30.0, 6 * cfg.rate):g}
{_tiny_gpu_floor(cfg)}"""
    docker_profile = f"""# Written by `jetson-hil sim up --name {cfg.name}`: the simulated device, over docker exec.
[device]
name = "{cfg.name}"
host = "docker://{cfg.container}"
docker_url = "unix:///var/run/docker.sock"
simulator = "{cfg.name}"
{kind}{common}"""
    ssh_profile = f"""# Written by `jetson-hil sim up --name {cfg.name}`: the same device over SSH, as nightly CI uses.
[device]
name = "{cfg.name}-ssh"
host = "ssh://root@127.0.0.1:{cfg.ssh_port}"
docker_url = "ssh://root@127.0.0.1:{cfg.ssh_port}"
ssh_identity = "{cfg.root / 'ssh' / 'id_ed25519'}"
ssh_options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]
simulator = "{cfg.name}"
{kind}{common}"""
    user_profile = docker_profile.replace(f'name = "{cfg.name}"', f'name = "{cfg.name}-user"', 1).replace(
        f"docker://{cfg.container}", f"docker://{rootfs.USER}@{cfg.container}", 1)
    user_profile = user_profile.replace("over docker exec.", f"over docker exec as the non-root {rootfs.USER}.", 1)
    a, b = cfg.root / "device.toml", cfg.root / "device-ssh.toml"
    a.write_text(docker_profile)
    b.write_text(ssh_profile)
    (cfg.root / USER_PROFILE).write_text(user_profile)
    return a, b


# What the device is built from on this host (the device's /usr is the host's): tool -> Debian package
HOST_TOOLS = {"busybox": "busybox", "dpkg-deb": "dpkg", "docker": "docker.io", "docker-compose": "docker-compose",
              "mosquitto": "mosquitto"}
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])


def missing_tools() -> list[str]:
    return [f"{tool} ({pkg})" for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool, path=_SEARCH)]


def up(cfg: SimConfig, log=print) -> SimConfig:
    """Start the simulated device, or bring an existing one back to the asked state. Idempotent."""
    validate(cfg)
    if missing := missing_tools():
        raise SimError(f"this host lacks what the simulated device is built from: {', '.join(missing)}; "
                       "install those packages (.ci/run does)")
    old = SimConfig.load(cfg.name)
    if old:
        cfg.mqtt_port, cfg.ssh_port = old.mqtt_port, old.ssh_port
        if cleared := [f for f in old.faults if f not in cfg.faults]:
            log(f"clearing fault(s) {', '.join(cleared)} set on {cfg.name!r} before: `up` brings it to the asked "
                "state")
        if (old.module, old.release, old.encoder, old.backend, old.kind) != (cfg.module, cfg.release, cfg.encoder,
                                                                              cfg.backend, cfg.kind):
            raise SimError(f"simulated device {cfg.name!r} exists as {old.kind} {old.module} L4T {old.release} "
                           f"({old.encoder}, {old.backend}); run `jetson-hil sim down --name {cfg.name} --purge` "
                           "first")
    used = _ports_in_use()
    cfg.mqtt_port = cfg.mqtt_port or _free_port(used)
    cfg.ssh_port = cfg.ssh_port or _free_port(used | {cfg.mqtt_port})
    started = time.monotonic()
    engine.ensure(log=log)
    cfg.save()
    what = "a dGPU host, NVIDIA H200" if cfg.kind == dgpu_host.KIND else f"{cfg.module}, L4T {cfg.release}"
    log(f"preparing the device root ({what})")
    rootfs.prepare(cfg)
    gpu_changed = _give_gpu(cfg, log)
    images.ensure([cfg.layout().image_tag, *fault_images(cfg.faults)], images.venv_dir(), log=log)
    project.write(cfg.layout())
    apply_faults(cfg, cfg.faults, log=log, recreate=False)
    log("starting the device host")
    _start_device_host(cfg)
    set_host_torch(cfg, cfg.faults, log)
    log("building the agents' images with compose")
    compose(cfg, "build -q")
    _prepare_models(cfg, log)
    log("starting the agents")
    compose(cfg, "up -d --force-recreate" if gpu_changed else "up -d")
    if cfg.faults:
        apply_faults(cfg, cfg.faults, log=log, recreate=True, host_torch=set_host_torch)
    else:
        wait_for_embeddings(cfg, pipeline=True)
    docker_profile, ssh_profile = write_profiles(cfg)
    log(f"up in {time.monotonic() - started:.1f} s; profile: {docker_profile} (over SSH: {ssh_profile})")
    return cfg


def set_host_torch(cfg: SimConfig, faults, log=print) -> None:
    """The host python3's torch as the `--host-torch` option and the faults want it (sim/host_torch.py); a device
    host started by an older version without the virtualenv's mount is recreated first."""
    if cfg.kind == dgpu_host.KIND:
        return
    if host_torch.wanted(cfg.host_torch, faults):
        _start_device_host(cfg)
    try:
        host_torch.apply(cfg, host_torch.wanted(cfg.host_torch, faults),
                         lambda command: device_exec(cfg, command, timeout=60, check=False), log=log)
    except host_torch.HostTorchError as exc:
        raise SimError(str(exc)) from None


def _give_gpu(cfg: SimConfig, log) -> bool:
    """Give the agents the host's real GPU or the simulated one (jetson_hil.sim.real_gpu); True when that changed
    from the last start, so existing agent containers are recreated with the other GPU."""
    gpu_dir = cfg.root / "gpu"
    before = real_gpu.read_spec(gpu_dir) is not None
    try:
        gpu = real_gpu.choose(cfg.gpu, None if cfg.gpu == "simulated" else real_gpu.find(), cfg.kind)
    except ValueError as exc:
        raise SimError(str(exc)) from None
    if gpu is not None and (gpu_faults := [f for f in cfg.faults if FAULTS[f].kind == "gpu"]):
        raise SimError(_real_gpu_conflict(gpu_faults[0]))
    real_gpu.write_spec(gpu_dir, gpu)
    if gpu is None:
        _stop_gpu_reader(cfg)
    else:
        log(f"the agents compute on this host's GPU ({gpu.describe()}); only the Jetson surface is simulated, so "
            "checks of the Jetson's GPU itself (Tegra nodes, the release's CUDA, GR3D) see this one: "
            "docs/simulator-real-gpu.md")
        _start_gpu_reader(cfg)
    return before != (gpu is not None)


def _real_gpu_conflict(fault: str) -> str:
    return (f"fault {fault!r} simulates a GPU driver state, and this simulator's agents use the host's real GPU; "
            "start it with `jetson-hil sim up --gpu simulated` to inject it")


_READER = Path(__file__).parent / "nvml_clients.py"  # run by path: stdlib and pynvml only


def _reader_pid(cfg: SimConfig) -> int | None:
    try:
        pid = int((cfg.root / "gpu" / "nvml_clients.pid").read_text())
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) and _READER.name.encode() in cmd else None


def _start_gpu_reader(cfg: SimConfig) -> None:
    """The real GPU's users and load, read from NVML into the simulated GPU's state directory."""
    if _reader_pid(cfg):
        return
    gpu = cfg.root / "gpu"
    with open(gpu / "nvml_clients.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, str(_READER), "--gpu-dir", str(gpu / "state")], stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (gpu / "nvml_clients.pid").write_text(str(proc.pid))
    time.sleep(1.0)
    if proc.poll() is not None:
        raise SimError(f"the NVML reader of the real GPU exited ({proc.returncode}); see {gpu / 'nvml_clients.log'}")


def _stop_gpu_reader(cfg: SimConfig) -> None:
    pid = _reader_pid(cfg)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
    (cfg.root / "gpu" / "nvml_clients.pid").unlink(missing_ok=True)


def down(name: str, purge: bool = False, log=print) -> None:
    """Stop everything of the simulated device: its containers, mounts and processes."""
    cfg = SimConfig.load(name) or SimConfig(name=name)
    _stop_gpu_reader(cfg)
    if engine.reachable():  # a busy engine missing the quick ping would leave the device's containers running
        client = engine.client(timeout=150)
        if _device_running(cfg):
            try:
                compose(cfg, "down --remove-orphans --volumes --timeout 3", timeout=120)
            except SimError as exc:
                log(f"compose down failed ({exc}); removing containers directly")
        for row in _project_containers(name):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(row["Id"], force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(cfg.container).remove(force=True)
    rootfs.unmount(cfg)
    if purge and cfg.root.exists():
        shutil.rmtree(cfg.root)
    others = [p for p in (state_root() / "sim").glob("*/sim.json") if p.parent.name != name]
    if not any(_device_running(SimConfig(name=p.parent.name)) for p in others):
        engine.stop_ours()
    log(f"simulated device {name!r} is down")


def status(name: str) -> dict:
    cfg = SimConfig.load(name)
    if cfg is None:
        return {"name": name, "state": "absent"}
    info = {**asdict(cfg), "state": "down", "profile": str(cfg.root / "device.toml")}
    real = real_gpu.read_spec(cfg.root / "gpu")
    info["gpu_in_use"] = f"real: {real.describe()}" if real else "simulated"
    if engine.answers() and _device_running(cfg):
        info["state"] = "up"
        info["services"] = {(row.get("Labels") or {}).get("com.docker.compose.service"): row.get("State")
                            for row in _project_containers(name)}
    return info


def ensure_up(name: str, log=print) -> tuple[Path, bool]:
    """The profile of simulator `name`, started (its saved config, else the defaults) when it is not up; True
    when this call started it. One process at a time per name (pytest-xdist workers, concurrent runs)."""
    with state_lock(f"sim-{name}", timeout=3600):  # behind a first start that builds images
        state = status(name)
        was_up = state.get("state") == "up"
        if was_up and state.get("services"):
            return Path(state["profile"]), False
        log("starting (the first start builds images: minutes)")
        cfg = up(SimConfig.load(name) or SimConfig(name=name), log=log)
        return cfg.root / "device.toml", not was_up


def _project_containers(name: str) -> list[dict]:
    """The compose project's containers from one list call: no per-container inspect for a concurrent
    `compose up` (or a killed run's leftovers being removed) to race into a 404."""
    return engine.client().api.containers(all=True, filters={"label": f"com.docker.compose.project={name}"})


def set_fault(name: str, fault: str, on: bool, log=print) -> SimConfig:
    cfg = SimConfig.load(name)
    if cfg is None:
        raise SimError(f"no simulated device {name!r}: run `jetson-hil sim up --name {name}` first")
    if fault not in FAULTS:
        raise SimError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    if on and (why := dgpu_host.fault_conflict(cfg.kind, fault, FAULTS[fault].kind)):
        raise SimError(why)
    return set_faults(name, [f for f in cfg.faults if f != fault] + ([fault] if on else []), log=log)


def set_faults(name: str, faults: list[str], log=print) -> SimConfig:
    """Make the device show exactly these faults (clearing the others) in one rebuild/recreate."""
    cfg = SimConfig.load(name)
    if cfg is None:
        raise SimError(f"no simulated device {name!r}: run `jetson-hil sim up --name {name}` first")
    if not (cfg.root / "project" / "docker-compose.yml").exists():
        raise SimError(f"simulated device {name!r} never finished starting: run `jetson-hil sim up --name {name}`")
    gpu_faults = [f for f in faults if f in FAULTS and FAULTS[f].kind == "gpu"]
    if gpu_faults and real_gpu.read_spec(cfg.root / "gpu"):
        raise SimError(_real_gpu_conflict(gpu_faults[0]))
    running = _device_running(cfg)
    apply_faults(cfg, faults, log=log, recreate=running, host_torch=set_host_torch)
    cfg.faults = faults
    cfg.save()
    if running and any(FAULTS[f].quiet for f in faults):
        time.sleep(2.0)  # the fault stops the embeddings by design: nothing to wait for
    elif running:
        settle(cfg)
    return cfg


def settle(cfg: SimConfig, timeout: float = 30) -> bool:
    """Wait until the agents publish again after a change, so evidence taken next is of the new state.

    Returns False when nothing arrives within the timeout, which some faults cause by design.
    """
    try:
        wait_for_embeddings(cfg, timeout=timeout, pipeline=not cfg.faults)
    except SimError:
        return False
    if cfg.faults:
        time.sleep(2.0)  # one understanding/actuation cycle downstream of the first embedding
    return True


