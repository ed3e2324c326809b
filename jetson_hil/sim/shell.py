"""Commands on the simulated device host, run as a user's shell on the Jetson would run them (docker exec into the
device-host container); the simulator and its faults both change the device through here."""

from __future__ import annotations

import subprocess


class SimError(RuntimeError):
    """The simulated device could not be started, reached or changed; the message says why."""


def device_exec(cfg, command: str, timeout: float = 600, check: bool = True) -> str:
    """Run a shell command on the simulated device host (`cfg` is a SimConfig)."""
    proc = subprocess.run(
        ["docker", "exec", cfg.container, "/bin/sh", "-c", command],
        capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SimError(f"on the device: `{command}` exited {proc.returncode}: " + " | ".join(tail))
    return proc.stdout


def compose(cfg, args: str, timeout: float = 600) -> str:
    """docker-compose in the device's project directory, on the device."""
    return device_exec(cfg, f"cd {cfg.root / 'project'} && docker-compose {args}", timeout=timeout)
