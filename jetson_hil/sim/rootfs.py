"""The simulated device's root: its own /etc and dpkg database, and the host's /usr under an overlay.

The overlay lets the Jetson's files (tegrastats, the CUDA version file) live in /usr as on a real
device while the host's /usr stays untouched; the JetPack packages are real .deb packages built
here and installed with the real dpkg into the device's own database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from jetson_hil import l4t

from . import dgpu_host
from .debs import build, install, run_tool
from .jetson_release import Release, cuda_device_name
from .paths import PACKAGE_DIR

SSHD_CONFIG = """# sshd of the simulated Jetson: key-only root login on loopback
Port {port}
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
PidFile /run/sshd.pid
PrintMotd no
Subsystem sftp internal-sftp
"""


def release_of(cfg) -> Release:
    return Release(cfg.release, cfg.module)


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/mounts") as f:
        return any(line.split()[1] == target for line in f)


def _etc(cfg, etc: Path) -> None:
    if not etc.exists():
        shutil.copytree("/etc", etc, symlinks=True, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns("ssh_host_*", "machine-id", "docker"))
    (etc / "hostname").write_text(f"{cfg.name}\n")
    ssh = etc / "ssh"
    ssh.mkdir(exist_ok=True)
    (ssh / "sshd_config").write_text(SSHD_CONFIG.format(port=cfg.ssh_port))
    if shutil.which("ssh-keygen"):  # a host without OpenSSH (a bare GPU server): no SSH way in, the rest works
        _ssh_keys(cfg, ssh)
    sim = etc / "jetson-sim"
    sim.mkdir(exist_ok=True)
    # A real tegrastats runs for any user and leaves out what needs root (clocks, EMC, engines); on this device it
    # needs root only while the tegrastats_needs_root fault has moved the suite user's sudo rule aside (that fault
    # is "lost sudo, on a device whose tegrastats needs root").
    (sim / "module.json").write_text(json.dumps({"module": cfg.module, "family": cfg.module, "l4t": cfg.release,
                                                 "needs_root_while": f"/etc/{SUDOERS_RULE}.removed"}))
    _user(etc)
    (etc / "docker").mkdir(exist_ok=True)
    (etc / "docker" / "daemon.json").write_text(json.dumps(
        {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}},
         "default-runtime": "nvidia"}, indent=4) + "\n")


DEVICE_TREE = "sys/firmware/devicetree/base"  # /proc/device-tree on a real device links here
# Docker's default masked paths less /sys/firmware, where the device host mounts the device tree.
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/devices/virtual/powercap")


def _device_tree(cfg, root: Path) -> None:
    """The device tree's model file, the real module's exact bytes (NUL-terminated) from the capture corpus.

    The device host bind-mounts ``root/sys/firmware`` at /sys/firmware (a container's /proc takes no mounts, so
    /proc/device-tree/model, the first file the suite reads, is absent, as in a container on a real Jetson)."""
    base = root / DEVICE_TREE
    model = release_of(cfg).device_tree_model()
    if model is None:
        (base / "model").unlink(missing_ok=True)
        return
    base.mkdir(parents=True, exist_ok=True)
    (base / "model").write_bytes(model.encode())


def _ssh_keys(cfg, ssh: Path) -> None:
    """The device's host key, and the key pair the SSH profile logs in with."""
    if not (ssh / "ssh_host_ed25519_key").exists():
        run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "ssh_host_ed25519_key"))
    keys = cfg.root / "ssh"
    keys.mkdir(exist_ok=True)
    if not (keys / "id_ed25519").exists():
        run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jetson-hil@{cfg.name}",
             "-f", str(keys / "id_ed25519"))
    (ssh / "authorized_keys").mkdir(exist_ok=True)
    shutil.copy2(keys / "id_ed25519.pub", ssh / "authorized_keys" / "root")


USER = "jetson"  # the device's login user, as on a flashed Jetson; the suite's user-profile logs in as it
USER_ID = 1500  # clear of the host's own users, whose /etc the device's is copied from
SUDOERS_RULE = "sudoers.d/jetson-hil"


def _user(etc: Path) -> None:
    """The device's non-root user (uid 1000) with the passwordless sudo rule the suite documents."""
    for name, line in (("passwd", f"{USER}:x:{USER_ID}:{USER_ID}:Jetson:/tmp:/bin/bash"),
                       ("group", f"{USER}:x:{USER_ID}:"),
                       ("shadow", f"{USER}:*:20000:0:99999:7:::")):
        path = etc / name
        text = path.read_text() if path.exists() else ""
        if not any(row.startswith(f"{USER}:") for row in text.splitlines()):
            path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")
    sudoers = etc / "sudoers"
    if not sudoers.exists():
        sudoers.write_text("root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n")
        sudoers.chmod(0o440)
    rule = etc / SUDOERS_RULE
    rule.parent.mkdir(exist_ok=True)
    if not rule.exists() and not (etc / (SUDOERS_RULE + ".removed")).exists():
        rule.write_text(f"{USER} ALL=(ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)


def _packages(cfg, root: Path) -> None:
    dpkg = root / "var/lib/dpkg"
    for d in ("info", "updates", "triggers"):
        (dpkg / d).mkdir(parents=True, exist_ok=True)
    (dpkg / "status").touch()
    if getattr(cfg, "kind", "jetson") == "dgpu":
        return dgpu_host.install_packages(cfg, root)
    release = release_of(cfg)
    tegrastats = (PACKAGE_DIR / "device" / "tegrastats").read_text().replace(
        "#!/usr/bin/env python3", f"#!{Path(sys.base_prefix) / 'bin' / 'python3'}", 1)
    stamp = cfg.root / "debs" / ".sources"
    digest = hashlib.sha256((tegrastats + repr(release.packages()) + repr(release.cuda_version_files())).encode()
                            ).hexdigest()[:16]
    if "Package: nvidia-l4t-core" in (dpkg / "status").read_text() and stamp.exists() \
            and stamp.read_text() == digest:
        return
    cuda_files = release.cuda_version_files()
    cuda_dir = next(iter(cuda_files)).rsplit("/", 1)[0]
    contents = {
        "nvidia-l4t-core": {"etc/nv_tegra_release": release.release_file()},
        "nvidia-l4t-tools": {"usr/bin/tegrastats": tegrastats},
    }
    store = cfg.root / "debs"
    if store.exists():
        shutil.rmtree(store)
    store.mkdir()
    debs = []
    for name, version, description in release.packages():
        files = contents.get(name, {})
        if name.startswith("cuda-toolkit-"):
            files = {**cuda_files, "usr/local/cuda": (cuda_dir.removeprefix("usr/local/"),)}
        debs.append(build(store, name, version, description, files))
    install(root, *debs)
    stamp.write_text(digest)


def _usr_overlay(cfg) -> None:
    merged = cfg.root / "rootfs" / "usr"
    upper, work = cfg.root / "usr-upper", cfg.root / "usr-work"
    for d in (merged, upper, work):
        d.mkdir(parents=True, exist_ok=True)
    if not _mounted(merged):
        _hide_host_cuda(upper)
        run_tool("mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir=/usr,upperdir={upper},workdir={work}", str(merged))


def _hide_host_cuda(upper: Path) -> None:
    """Whiteouts (0/0 character devices) over this machine's own CUDA toolkit in the device's /usr.

    The overlay's lower layer is the host's /usr; a CUDA toolkit installed there (/usr/local/cuda*, nvcc) is not
    the device's. Made before mounting, in the upper layer only: the host's /usr is never touched. Entries the
    device's own packages put in the upper layer are left alone.
    """
    local = Path("/usr/local")
    names = [p.name for p in local.iterdir() if p.name.startswith("cuda")] if local.is_dir() else []
    for rel in [f"local/{n}" for n in names] + ["local/bin/nvcc"]:
        target = upper / rel
        if (Path("/usr") / rel).exists() and not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))


def _gpu(cfg) -> None:
    gpu = cfg.root / "gpu"
    for d in (gpu / "dev", gpu / "state" / "clients"):
        d.mkdir(parents=True, exist_ok=True)
    dgpu = getattr(cfg, "kind", "jetson") == "dgpu"
    for node in ("nvidiactl", "nvidia0", "nvidia-uvm", "nvidia-uvm-tools") if dgpu else ("nvmap", "nvhost-gpu"):
        (gpu / "dev" / node).touch()
    module = l4t.MODULES[cfg.module]
    stack = release_of(cfg).stack
    device = gpu / "state" / "device.json"
    faults = json.loads(device.read_text()).get("faults", []) if device.exists() else []
    if getattr(cfg, "kind", "jetson") == "dgpu":
        device.write_text(json.dumps(dgpu_host.device_state(faults), indent=2))
        (cfg.root / "faults").touch()
        return
    device.write_text(json.dumps({
        "name": cuda_device_name(cfg.module),
        "capability": list(module.cuda_capability),
        "driver_cuda": ".".join((stack.cuda or "10.2").split(".")[:2]) if stack else "10.2",
        "total_memory": module.ram_mb * 1024 * 1024,
        "faults": faults,
    }, indent=2))
    (cfg.root / "faults").touch()


def prepare(cfg) -> None:
    if os.geteuid() != 0:
        raise PermissionError("the simulated device's root needs an overlay mount: run `jetson-hil sim up` as root")
    root = cfg.root / "rootfs"
    _etc(cfg, root / "etc")
    _usr_overlay(cfg)
    _packages(cfg, root)
    if getattr(cfg, "kind", "jetson") != "dgpu":
        _device_tree(cfg, root)
    _gpu(cfg)


def unmount(cfg) -> None:
    merged = cfg.root / "rootfs" / "usr"
    mounted = merged.exists() and _mounted(merged)
    if mounted and subprocess.run(["umount", str(merged)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(merged)], capture_output=True)
