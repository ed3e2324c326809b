"""Where the simulator keeps its state: one directory per simulated device, under one root."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent.parent


def state_root() -> Path:
    """`$JETSON_HIL_HOME`, else /var/lib/jetson-hil as root, else ~/.local/state/jetson-hil."""
    env = os.environ.get("JETSON_HIL_HOME")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/jetson-hil")
    return Path.home() / ".local" / "state" / "jetson-hil"


def sim_dir(name: str) -> Path:
    return state_root() / "sim" / name


def engine_dir() -> Path:
    return state_root() / "engine"


@contextlib.contextmanager
def state_lock(name: str, timeout: float = 900):
    """Hold the host-wide lock `name` (e.g. the engine, the image builds): two processes that start simulators
    at once (pytest-xdist workers, two shells) take turns instead of sharing a build directory or a dockerd."""
    path = state_root() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} still held after {timeout:g} s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
