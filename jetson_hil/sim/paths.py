"""Where the simulator keeps its state: one directory per simulated device, under one root."""

from __future__ import annotations

import os
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
