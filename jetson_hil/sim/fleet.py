"""A fleet of simulated Jetsons: ``jetson-hil sim up --devices N`` and the inventory written for them.

Each device is a whole simulated Jetson of its own (device-host container, broker on its own loopback port,
compose project; the engine is shared), started one after another so each picks ports the others hold.
The demo fleet (``--fleet-demo``) sets one fault on the last device, so a fleet run has a device that fails.
The inventory (`inventory_path`, a fleet TOML) lists every device up, for ``pytest --inventory``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from . import simulator
from .paths import sim_dir, state_root

DEMO_FAULT = "nan_embeddings"


def names(count: int, first: int = 1) -> list[str]:
    """sim<first> .. sim<first+count-1>."""
    if count < 1 or first < 1:
        raise simulator.SimError(f"--devices {count} --first {first}: both must be at least 1")
    return [f"sim{i}" for i in range(first, first + count)]


def inventory_path() -> Path:
    return state_root() / "sim" / "fleet.toml"


def write_inventory(devices: list[str]) -> Path:
    """The fleet TOML of `devices` (their docker:// profiles), replacing the previous one."""
    lines = ["# Written by `jetson-hil sim up --devices N`: the simulated fleet, for `pytest --inventory`.", ""]
    for name in devices:
        lines += [f"[devices.{name}]", f'profile = "{sim_dir(name) / "device.toml"}"', ""]
    path = inventory_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def up(
    base: simulator.SimConfig, devices: list[str], demo_fault: str | None = None, log: Callable[[str], None] = print
) -> Path:
    """Starts each device like `base` (module, L4T, encoder, backend, rate, faults), the last one with
    `demo_fault` added; writes and returns the inventory."""
    for i, name in enumerate(devices):
        faults = list(base.faults)
        if demo_fault and i == len(devices) - 1 and demo_fault not in faults:
            faults.append(demo_fault)
        cfg = dataclasses.replace(base, name=name, faults=faults, mqtt_port=0, ssh_port=0)
        log(f"{name}: starting ({cfg.module}, L4T {cfg.release}{', fault ' + ', '.join(faults) if faults else ''})")
        simulator.up(cfg, log=lambda m, name=name: log(f"{name}: {m}"))
    return write_inventory(devices)


def down(devices: list[str], purge: bool = False, log: Callable[[str], None] = print) -> None:
    for name in devices:
        simulator.down(name, purge=purge, log=log)
