"""The Docker engine under the simulator: the user's when one answers, else one we start as root.

Ours runs with vfs storage and no bridge (containers use host networking), and registers the
simulator's `nvidia` runtime as the default, as JetPack's daemon.json does on a real Jetson.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import docker.errors

from jetson_hil.lease import pid_alive

from .paths import PACKAGE_DIR, engine_dir, state_lock


class EngineError(RuntimeError):
    """The Docker engine cannot be reached or prepared; the message says why and what to do."""


def client(timeout: float = 30) -> docker.DockerClient:
    return docker.from_env(timeout=timeout)


def answers(timeout: float = 3) -> bool:
    try:
        return bool(docker.from_env(timeout=timeout).ping())
    except (docker.errors.DockerException, OSError):
        return False


def runtimes() -> dict:
    return client().info().get("Runtimes", {})


def _pidfile() -> Path:
    return engine_dir() / "dockerd.pid"


def ours_running() -> int | None:
    """The pid of the dockerd this module started, if it still runs."""
    try:
        pid = int(_pidfile().read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def install_runtime() -> Path:
    """Copy the simulated nvidia-container-runtime where dockerd can exec it, with an absolute python."""
    target = engine_dir() / "bin" / "nvidia-container-runtime"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = (PACKAGE_DIR / "runtime" / "nvidia-container-runtime").read_text()
    python = Path(sys.base_prefix) / "bin" / "python3"
    text = source.replace("#!/usr/bin/env python3", f"#!{python}", 1)
    if not target.exists() or target.read_text() != text:
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(target)
    return target


def _daemon_config(runtime: Path) -> dict:
    return {
        "runtimes": {"nvidia": {"path": str(runtime), "runtimeArgs": []}},
        "default-runtime": "nvidia",
        "storage-driver": "vfs",
        "bridge": "none",
        "iptables": False,
        "ip6tables": False,
    }


def configure_runtimes(nvidia: bool, default: str, timeout: float = 20) -> bool:
    """Rewrite our dockerd's runtimes and default runtime and reload them (SIGHUP, as `systemctl reload docker`).

    Both are reloadable without a restart, so running containers keep running. True when anything changed;
    an engine we did not start is not ours to reconfigure.
    """
    info = client().info()
    if ("nvidia" in (info.get("Runtimes") or {})) == nvidia and info.get("DefaultRuntime") == default:
        return False
    pid = ours_running()
    if not pid:
        raise EngineError("the simulator's engine faults need its own dockerd (another Docker engine answers here)")
    config = engine_dir() / "daemon.json"
    data = json.loads(config.read_text())
    wanted = dict(data)
    wanted["runtimes"] = _daemon_config(install_runtime())["runtimes"] if nvidia else {}
    wanted["default-runtime"] = default
    if wanted == data:
        return False
    config.write_text(json.dumps(wanted, indent=2))
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client().info()
        if ("nvidia" in (info.get("Runtimes") or {})) == nvidia and info.get("DefaultRuntime") == default:
            return True
        time.sleep(0.3)
    raise EngineError(f"dockerd did not reload {config} within {timeout:.0f} s; see {engine_dir() / 'dockerd.log'}")


def start_dockerd(timeout: float = 60) -> None:
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise EngineError("no Docker engine answers and dockerd is not installed: install docker.io")
    config = engine_dir() / "daemon.json"
    config.write_text(json.dumps(_daemon_config(install_runtime()), indent=2))
    log = open(engine_dir() / "dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    proc = subprocess.Popen(
        [dockerd, "--config-file", str(config)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    _pidfile().write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"dockerd exited with {proc.returncode}; see {engine_dir() / 'dockerd.log'}")
        if answers(timeout=2):
            return
        time.sleep(0.3)
    raise EngineError(f"dockerd did not answer within {timeout:.0f} s; see {engine_dir() / 'dockerd.log'}")


def stop_ours(timeout: float = 20) -> None:
    pid = ours_running()
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # started by this process: reap it, or it lingers
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    _pidfile().unlink(missing_ok=True)


def ensure(log=print) -> None:
    """Make sure an engine answers and knows the `nvidia` runtime, starting or restarting ours if needed (one
    process at a time: two would start two daemons)."""
    engine_dir().mkdir(parents=True, exist_ok=True)
    with state_lock("engine"):
        _ensure(log)


def _busy_engine() -> bool:
    """A dockerd runs (its pid file names a live process) though it did not answer a quick ping: a loaded machine.
    Starting another would only fail on that pid file."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


def reachable() -> bool:
    """The engine answers, given a minute when a dockerd runs but misses the quick ping (a loaded machine)."""
    return answers() or (_busy_engine() and answers(timeout=60))


def _ensure(log) -> None:
    if reachable():
        if "nvidia" in runtimes():
            install_runtime()
            return
        if ours_running():
            log("restarting the simulator's Docker engine to register the nvidia runtime")
            stop_ours()
        else:
            raise EngineError(
                "the Docker engine has no 'nvidia' runtime; the simulator needs one: add "
                f'"runtimes": {{"nvidia": {{"path": "{install_runtime()}"}}}} to /etc/docker/daemon.json '
                "and restart dockerd"
            )
    elif os.geteuid() != 0:
        raise EngineError("no Docker engine answers at DOCKER_HOST or /var/run/docker.sock; start one")
    log("starting a Docker engine (vfs storage, host networking)")
    start_dockerd()
