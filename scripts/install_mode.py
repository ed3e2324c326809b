"""What `scripts/bootstrap.sh` installs on this machine: the runner only, or the simulator too.

Why it matters: on a real device the simulator's apt packages would start a second mosquitto on port 1883 (the
agents' own broker's port), add system services and put a CPU torch beside the device's stack. So where the
device under test is this machine or a real device elsewhere, bootstrap installs the runner into ``.venv`` and
nothing else; the simulator's packages come only when a simulator is the target.

Modes (each includes the one before):

- ``runner``: ``pip install -e .`` into ``.venv``; no apt package, no service, no torch, nothing outside ``.venv``
- ``sim``: also the simulator's apt packages (as root) and the ``[sim]`` extras (torch, onnxruntime)
- ``dev``: also the ``[dev]`` extras the selftests use (ruff, hypothesis, vermin)

The choice, first match wins:

1. ``JETSON_HIL_INSTALL=runner|sim|dev`` (``bootstrap.sh --runner-only`` sets ``runner``)
2. the target the run names (``--device``, ``--inventory``, ``--hosts`` among the arguments, else
   ``JETSON_HIL_DEVICE``): a simulator the run starts (``sim``, ``sim:NAME``) -> ``dev``; anything else
   (``local``, a profile, an inventory, a host URL) -> ``runner``. A running simulator's own profile
   (``device-ssh.toml``) is a profile like any other: the runner reaches it without the simulator's packages
3. nothing named: this machine is a Jetson (``/etc/nv_tegra_release``) or a dGPU host (``nvidia-smi`` on PATH,
   or ``/proc/driver/nvidia/version``) -> ``runner``; otherwise the simulator is the default device -> ``dev``

Run with the system python (stdlib only, Python 3.10+); prints ``MODE: why`` on one line. With
``JETSON_HIL_PROBE_ROOT`` the machine's markers are looked up under that folder (a selftest's fake machine).

>>> decide([], {}, Machine(jetson=True, dgpu=False)).mode
'runner'
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MODES = ("runner", "sim", "dev")
TARGET_OPTIONS = ("--device", "--inventory", "--hosts")


@dataclass(frozen=True)
class Machine:
    """What this machine is, as far as installing goes."""

    jetson: bool
    dgpu: bool

    @classmethod
    def probe(cls, env: Mapping[str, str]) -> Machine:
        root = Path(env.get("JETSON_HIL_PROBE_ROOT") or "/")
        if env.get("JETSON_HIL_PROBE_ROOT"):
            smi = (root / "usr/bin/nvidia-smi").exists()
        else:
            smi = shutil.which("nvidia-smi") is not None
        return cls(
            jetson=(root / "etc/nv_tegra_release").exists(),
            dgpu=smi or (root / "proc/driver/nvidia/version").exists(),
        )


@dataclass(frozen=True)
class Decision:
    mode: str
    why: str

    def line(self) -> str:
        return f"{self.mode}: {self.why}"


def named_targets(args: Sequence[str]) -> list[tuple[str, str]]:
    """(option, value) for every target option among a run's pytest arguments (``--opt V`` and ``--opt=V``)."""
    found: list[tuple[str, str]] = []
    for i, arg in enumerate(args):
        for option in TARGET_OPTIONS:
            if arg == option and i + 1 < len(args):
                found.append((option, args[i + 1]))
            elif arg.startswith(option + "="):
                found.append((option, arg.split("=", 1)[1]))
    return found


def names_simulator(option: str, value: str) -> bool:
    """True when a target value is a simulator the run starts on this machine (``sim``, ``sim:NAME``)."""
    value = value.strip()
    return option == "--device" and (value == "sim" or value.startswith("sim:"))


def decide(args: Sequence[str], env: Mapping[str, str], machine: Machine) -> Decision:
    """The install mode for a run with these pytest arguments and environment on this machine."""
    asked = env.get("JETSON_HIL_INSTALL", "").strip()
    if asked:
        if asked not in MODES:
            raise ValueError(f"JETSON_HIL_INSTALL={asked!r}: must be one of {', '.join(MODES)}")
        return Decision(asked, "asked for (JETSON_HIL_INSTALL or --runner-only)")
    targets = named_targets(args)
    if not targets and env.get("JETSON_HIL_DEVICE", "").strip():
        targets = [("--device", env["JETSON_HIL_DEVICE"])]
    if targets:
        shown = ", ".join(f"{o} {v}" for o, v in targets)
        if any(names_simulator(o, v) for o, v in targets):
            return Decision("dev", f"the run's target is a simulator on this machine ({shown})")
        return Decision("runner", f"the run's target is a real device ({shown}); nothing is installed outside .venv")
    if machine.jetson:
        return Decision("runner", "this machine is a Jetson (/etc/nv_tegra_release); its stack is left alone")
    if machine.dgpu:
        return Decision(
            "runner",
            "this machine is a dGPU host (nvidia-smi); its stack is left alone (JETSON_HIL_INSTALL=dev installs "
            "the simulator here)",
        )
    return Decision("dev", "no device named and no Jetson or NVIDIA GPU here: the simulator is the default device")


def targets_simulator(args: Sequence[str], env: Mapping[str, str], machine: Machine) -> bool:
    """True when the run would test a simulator: one is named, or nothing is named and this is no Jetson (the
    suite's default device is then the simulator, dGPU hosts included)."""
    targets = named_targets(args)
    if not targets and env.get("JETSON_HIL_DEVICE", "").strip():
        targets = [("--device", env["JETSON_HIL_DEVICE"])]
    if targets:
        return any(names_simulator(o, v) for o, v in targets)
    return not machine.jetson


def refusal(installed: str, args: Sequence[str], env: Mapping[str, str], machine: Machine) -> str | None:
    """One line when a run would need the simulator that a runner-only .venv does not hold; None when it can go."""
    if installed != "runner" or not targets_simulator(args, env, machine):
        return None
    return (
        "jetson-hil: this .venv holds the runner only (no simulator) and the run's target is the simulator; name "
        "the device (--device PROFILE, e.g. devices/example-dgpu-local.toml on a dGPU host) or install the "
        "simulator here with JETSON_HIL_INSTALL=dev"
    )


def main(argv: Sequence[str]) -> int:
    """``install_mode.py ARGS``: print the mode; ``install_mode.py --installed MODE ARGS``: refuse a run that needs
    the simulator a runner-only install lacks (exit 2, one line)."""
    machine = Machine.probe(os.environ)
    if argv[:1] == ["--installed"]:
        line = refusal(argv[1] if len(argv) > 1 else "", argv[2:], os.environ, machine)
        if line:
            print(line, file=sys.stderr)
            return 2
        return 0
    try:
        decision = decide(argv, os.environ, machine)
    except ValueError as exc:
        print(f"[bootstrap] {exc}", file=sys.stderr)
        return 2
    print(decision.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
