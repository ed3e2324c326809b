"""The simulated device's packages: .deb files built with the real dpkg-deb and installed with the real dpkg into
the device's own database (never the host's). Used by the Jetson root (rootfs), the dGPU host (dgpu_host) and the
faults that remove or add packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class RootfsError(RuntimeError):
    """The device root could not be built on this host; the message says which tool failed and why."""


def run_tool(*cmd: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise RootfsError(f"{cmd[0]} is not installed on this host; the simulated device's root needs it") from None
    if proc.returncode != 0:
        raise RootfsError(f"{' '.join(cmd)}: {(proc.stderr or proc.stdout).strip()}")


def build(workdir: Path, name: str, version: str, description: str, files: dict[str, str | tuple],
          arch: str = "arm64") -> Path:
    """workdir/name.deb holding `files` (relative path -> text, or (target,) for a symlink)."""
    pkg = workdir / name
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: NVIDIA Corporation\nSection: misc\nPriority: optional\nDescription: {description}\n"
    )
    for rel, content in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            path.symlink_to(content[0])
        else:
            path.write_text(content)
            if rel.startswith("usr/bin/"):
                path.chmod(0o755)
    out = workdir / f"{name}.deb"
    try:
        run_tool("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(out))
    finally:
        shutil.rmtree(pkg)
    return out


def install(root: Path, *debs: Path) -> None:
    """Install packages into the device's own dpkg database with the real dpkg."""
    run_tool("dpkg", f"--root={root}", "--force-architecture", "--force-bad-path", "--force-not-root",
             "--force-depends", "-i", *map(str, debs))
