"""A torch for the simulated Jetson host's own python3 (`sim up --host-torch`, and the host-torch faults).

Runbook Task 1 step 4 runs check_torch_cuda.py with the host's python3. Many Jetson hosts have no torch (the
simulator's default); others have NVIDIA's Jetson wheel for their JetPack (``jetson``), pip's CPU-only aarch64
wheel (``pip``, fault ``host_pip_torch``), or a wheel built for a newer CUDA than the JetPack's driver
(fault ``host_torch_cuda_too_new``).

The simulator's torch (the virtualenv the agent images carry, mounted read-only on the device host) is installed
into the device's ``/usr/local/lib/python3.X/dist-packages`` as pip would lay it out: one link per top-level
package of torch and of what it requires. The simulated GPU's shim (jetson_hil/sim/gpu) is installed beside it
with a ``.pth`` hook, and ``/etc/jetson-sim/host-torch.env`` says which build this torch is, as an image's
``image.env`` does for the agents: the same torch on the same simulated GPU. Only the device's overlay of /usr
and its own /etc change; this machine's /usr is never touched.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from .paths import PACKAGE_DIR

NONE, JETSON, PIP, CUDA_TOO_NEW = "", "jetson", "pip", "cuda_too_new"
OPTIONS = (NONE, JETSON, PIP)  # `sim up --host-torch` (none is "")
FAULT_STATES = {"host_torch_cuda_too_new": CUDA_TOO_NEW, "host_pip_torch": PIP}
ENV_FILE = "etc/jetson-sim/host-torch.env"  # under the device's root
DEV_DIR = "etc/jetson-sim/dev"  # the Tegra GPU nodes the shim looks for, as the host's /dev has them
HOOK = "jetson_sim_torch_hook"  # gpu/sitecustomize.py under another name: the device's python has its own
PTH = "jetson-sim-torch.pth"
SHIM_FILES = {f"{HOOK}.py": "sitecustomize.py", "jetson_sim_cuda.py": "jetson_sim_cuda.py"}
NEWER_TORCH = "2.8.0"  # the Jetson AI Lab index's cu128 wheel version


class HostTorchError(RuntimeError):
    """The host's torch cannot be installed on this simulated device; the message says why."""


def wanted(option: str, faults: list[str] | set[str]) -> str:
    """The host torch the device should show: a host-torch fault's, else the `--host-torch` option's."""
    for fault, state in FAULT_STATES.items():
        if fault in faults:
            return state
    return option


def build_facts(state: str, release, driver_cuda: str, pip_version: str = "") -> dict[str, str]:
    """What the shim reads about the host's torch build (the keys of an image's image.env); `pip_version` is
    the version pip's wheel reports (the virtualenv's, without a local ``+cpu`` part).

    >>> from jetson_hil.sim.jetson_release import Release
    >>> build_facts("cuda_too_new", Release("36.4.0", "orin-nano"), "12.6")["TORCH_CUDA"]
    '12.8'
    >>> build_facts("pip", Release("36.4.0", "orin-nano"), "12.6")["TORCH_CUDA"]
    ''
    """
    from .images import image_facts

    facts = image_facts(release.pytorch_image())  # NVIDIA's Jetson wheel: the torch its l4t-pytorch image carries
    if state == PIP:
        version = {"TORCH_VERSION": pip_version} if pip_version else {}
        return {**version, "TORCH_CUDA": "", "TORCH_CUDNN": "", "TORCH_ARCH_LIST": "", "IMAGE_L4T": ""}
    if state == CUDA_TOO_NEW:
        return {**facts, "TORCH_VERSION": NEWER_TORCH, "TORCH_CUDA": newer_cuda(driver_cuda)}
    return facts


def newer_cuda(driver_cuda: str) -> str:
    """A CUDA newer than the driver's: 12.8 (the cu128 wheels) below it, else the next major.

    >>> newer_cuda("12.6"), newer_cuda("11.4"), newer_cuda("13.0")
    ('12.8', '12.8', '14.0')
    """
    parts = tuple(int(p) for p in re.findall(r"\d+", driver_cuda)[:2]) or (0, 0)
    return "12.8" if parts < (12, 8) else f"{parts[0] + 1}.0"


def requirement_closure(site: Path, root: str = "torch") -> list[importlib.metadata.Distribution]:
    """`root` and every distribution it requires (extras left out), as installed in `site`."""
    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    installed = {norm(d.metadata["Name"]): d for d in importlib.metadata.distributions(path=[str(site)])}
    todo, seen = [norm(root)], {}
    while todo:
        name = todo.pop()
        dist = installed.get(name)
        if dist is None or name in seen:
            continue
        seen[name] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(norm(req.name))
    return list(seen.values())


def top_level(dist: importlib.metadata.Distribution, site: Path) -> set[str]:
    """The entries a distribution installed at the top of `site` (packages, modules, its .dist-info), less any
    ``.pth`` file (those run code in every interpreter: not wanted on the device's python)."""
    names = {f.parts[0] for f in dist.files or () if f.parts and f.parts[0] != ".."}
    return {n for n in names if not n.endswith(".pth") and n != "__pycache__" and (site / n).exists()}


def apply(cfg, state: str, run: Callable[[str], str], log=print) -> bool:
    """Make the device host's python3 have this torch (`state`), or none; True when anything changed.

    `run` runs a shell command on the device host and returns its stdout (it reads the python3 version there).
    """
    root = cfg.root / "rootfs"
    env_file, dev = root / ENV_FILE, root / DEV_DIR
    version = run("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])' 2>/dev/null || true").strip()
    if not re.fullmatch(r"3\.\d+", version):
        if state:
            raise HostTorchError("the simulated device's host has no python3 to install torch for")
        return False
    site = root / "usr" / "local" / "lib" / f"python{version}" / "dist-packages"
    venv = venv_site(version)
    changed = _remove(site, env_file, dev) if not state or not (site / PTH).exists() else False
    if not state:
        if changed:
            log("removed the host's torch")
        return changed
    if venv is None:
        raise HostTorchError(
            f"the simulated device's python3 is {version}; the simulator's virtualenv has no torch for it, so the "
            "host cannot get the simulator's torch")
    facts = build_facts(state, _release(cfg), _driver_cuda(cfg), _version(venv))
    site.mkdir(parents=True, exist_ok=True)
    for dist in requirement_closure(venv) + requirement_closure(venv, "numpy"):  # numpy: torch warns without it
        for name in top_level(dist, venv):
            link = site / name
            if not link.is_symlink() and not link.exists():
                link.symlink_to(venv / name)
                changed = True
    files = {
        **{site / name: (PACKAGE_DIR / "gpu" / source).read_text() for name, source in SHIM_FILES.items()},
        site / PTH: f'import os; os.environ.setdefault("JETSON_SIM_IMAGE_ENV", "/{ENV_FILE}"); '
        f'os.environ.setdefault("JETSON_SIM_DEV_DIR", "/{DEV_DIR}"); import {HOOK}\n',
        **{dev / node: "" for node in ("nvmap", "nvhost-gpu")},
        env_file: "".join(f"{k}={v}\n" for k, v in facts.items()),
    }
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed = True
    if changed:
        log(f"the host's python3 has torch: {state} (CUDA {facts.get('TORCH_CUDA') or 'none'})")
    return changed


def venv_site(version: str) -> Path | None:
    """The simulator's virtualenv's site-packages for this python version, when torch is in it."""
    from .images import venv_dir

    site = Path(venv_dir()) / "lib" / f"python{version}" / "site-packages"
    return site if (site / "torch").is_dir() else None


def _version(site: Path) -> str:
    """torch's version in `site` without its local part (pip's aarch64 wheels have none)."""
    for dist in importlib.metadata.distributions(path=[str(site)], name="torch"):
        return dist.version.split("+", 1)[0]
    return ""


def _remove(site: Path, env_file: Path, dev: Path) -> bool:
    """Every entry `apply` made: the shim's files, the hook, links into the virtualenv, the env file, the nodes."""
    from .images import venv_dir

    venv = venv_dir().rstrip("/") + "/"
    changed = False
    if site.is_dir():
        for entry in site.iterdir():
            ours = entry.name in SHIM_FILES or entry.name == PTH
            linked = entry.is_symlink() and str(entry.readlink()).startswith(venv)
            if ours or linked:
                entry.unlink()
                changed = True
    if env_file.exists():
        env_file.unlink()
        changed = True
    if dev.exists():
        shutil.rmtree(dev)
        changed = True
    return changed


def _release(cfg):
    from .rootfs import release_of

    return release_of(cfg)


def _driver_cuda(cfg) -> str:
    try:
        return str(json.loads((cfg.root / "gpu" / "state" / "device.json").read_text()).get("driver_cuda", ""))
    except (OSError, ValueError):
        return ""
