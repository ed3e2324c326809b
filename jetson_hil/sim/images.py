"""Local images: no registry is reachable, so every image the simulated device uses is built here.

The l4t-pytorch tags users write in their Dockerfile exist locally under their real names, each
FROM scratch with the host's Python and libraries bind-mounted at run time; what differs between
tags is what the simulated GPU reads from the image (its L4T release, torch's CUDA build, arch list).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import docker.errors

from jetson_hil import l4t

from . import dgpu_host, engine
from .jetson_release import L4T_BASE_IMAGES, PYTORCH_IMAGE_R36_EARLY, PYTORCH_IMAGES
from .paths import PACKAGE_DIR, state_lock, state_root

DEVICE_HOST_IMAGE = "jetson-hil/device-host:3"
BUSYBOX_APPLETS = ("sh", "sed", "tr", "echo", "printf", "cat", "mkdir", "ls", "cp", "rm", "mv", "grep", "env")
ARCHES = {32: "sm_53 sm_62 sm_72", 34: "sm_72 sm_87", 35: "sm_72 sm_87", 36: "sm_87", 38: "sm_87 sm_110"}
# torch.__version__ of NVIDIA's Jetson wheels in those images (facts section 6: `.nvYY.MM` local versions).
JETSON_TORCH = {32: "1.10.0", 34: "1.12.0a0+2c916ef.nv22.3", 35: "2.0.0+nv23.05",
                36: "2.5.0a0+872d972e41.nv24.08", 38: "2.5.0a0+872d972e41.nv24.08"}


def base_tags() -> list[str]:
    return sorted({*PYTORCH_IMAGES.values(), PYTORCH_IMAGE_R36_EARLY, *L4T_BASE_IMAGES})


def _nearest_stack(release):
    """The release's compute stack, else the closest known one of the same L4T major (e.g. 36.2 -> 36.3)."""
    exact = l4t.stack_for(release)
    if exact and exact.cuda:
        return exact
    known = sorted((l4t.parse_version(v), row) for row in l4t.COMPUTE_STACKS for v in row.l4t
                   if not v.endswith(".x") and row.cuda and l4t.parse_version(v).major == release.major)
    if not known:
        return exact
    below = [row for v, row in known if v <= release]
    return below[-1] if below else known[0][1]


def image_facts(tag: str) -> dict[str, str]:
    """What torch in the image with this tag is built for, as the tag and the L4T tables say."""
    if tag == dgpu_host.IMAGE:  # the dGPU host's NGC image: no L4T in its tag, facts from its release notes
        return dict(dgpu_host.IMAGE_FACTS)
    ref = l4t.parse_image_ref(tag)
    release = ref.l4t
    stack = _nearest_stack(release) if release else None
    cuda = ref.cuda or (stack.cuda if stack and stack.cuda else "")
    cuda = ".".join(cuda.split(".")[:2])
    cudnn = ""
    if stack and stack.cudnn:
        parts = [int(p) for p in stack.cudnn.split(".")] + [0, 0]
        cudnn = str(parts[0] * 10000 + parts[1] * 100 + parts[2]) if parts[0] >= 9 else \
            str(parts[0] * 1000 + parts[1] * 100 + parts[2])
    if "l4t-base" in ref.repository:
        cudnn = ""
    major = release.major if release else 36
    torch_version = f"{ref.torch}.0" if ref.torch and ref.repository.endswith("/pytorch") else JETSON_TORCH.get(major)
    return {
        "TORCH_VERSION": torch_version or JETSON_TORCH[36],
        "IMAGE_L4T": str(release) if release else "",
        "TORCH_CUDA": cuda,
        "TORCH_CUDNN": cudnn,
        "TORCH_ARCH_LIST": ARCHES.get(major, "sm_87"),
    }


def _skeleton(root: Path) -> None:
    """A merged-/usr root: the top-level links that make the host's /usr usable when mounted."""
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        (root / link).symlink_to(target)
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "tmp", "run", "root", "var/lib", "opt",
              "proc", "sys", "dev", "app", "data"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nvideo:x:44:\nnogroup:x:65534:\n")


def _context(name: str) -> Path:
    ctx = state_root() / "build" / name
    if ctx.exists():
        shutil.rmtree(ctx)
    (ctx / "rootfs").mkdir(parents=True)
    _skeleton(ctx / "rootfs")
    return ctx


def _exists(client, tag: str, digest: str = "") -> bool:
    """The image is there and, when a digest is given, built from the same sources."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return not digest or (image.labels or {}).get("org.jetson-hil.sources") == digest


def _sources_digest(*parts: str) -> str:
    """What an image is built from: the shim, pip3 and Dockerfile sources plus the given values."""
    h = hashlib.sha256()
    for path in sorted((PACKAGE_DIR / "gpu").glob("*.py")) + [PACKAGE_DIR / "image" / "pip3",
                                                             PACKAGE_DIR / "image" / "base.Dockerfile"]:
        h.update(path.read_bytes())
    for part in parts:
        h.update(part.encode())
    return h.hexdigest()[:16]


def build_base(tag: str, venv: str, force: bool = False) -> None:
    client = engine.client(timeout=300)
    digest = _sources_digest(tag, venv)
    if _exists(client, tag, digest) and not force:
        return
    ctx = _context("base")
    root = ctx / "rootfs"
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "usr/bin/busybox")
    for applet in BUSYBOX_APPLETS:
        (root / "usr/bin" / applet).symlink_to("busybox")
    shutil.copy2(PACKAGE_DIR / "image" / "pip3", root / "usr/bin/pip3")
    (root / "usr/bin/pip3").chmod(0o755)
    (root / "usr/bin/pip").symlink_to("pip3")
    (root / "etc/jetson-sim").mkdir()
    facts = image_facts(tag)
    (root / "etc/jetson-sim/image.env").write_text("".join(f"{k}={v}\n" for k, v in facts.items()))
    shim = root / "opt/jetson-sim/python"
    shutil.copytree(PACKAGE_DIR / "gpu", shim, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(PACKAGE_DIR / "image" / "base.Dockerfile", ctx / "Dockerfile")
    client.images.build(path=str(ctx), tag=tag, buildargs={"VENV": venv}, rm=True, forcerm=True,
                        labels={"org.jetson-hil.l4t": facts["IMAGE_L4T"], "org.jetson-hil.sources": digest})


def build_device_host(force: bool = False) -> None:
    client = engine.client(timeout=300)
    if _exists(client, DEVICE_HOST_IMAGE) and not force:
        return
    ctx = _context("device-host")
    (ctx / "rootfs" / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    # only for `docker exec -u NAME`, which resolves names in the image: the device's own /etc is mounted over it
    from .rootfs import USER, USER_ID

    (ctx / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    # nobody too: mosquitto's image is built FROM this one and drops its privileges to nobody
    passwd = (f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:{USER_ID}:{USER_ID}::/tmp:/bin/sh\n"
              "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (ctx / "rootfs" / "etc" / "passwd").write_text(passwd)
    (ctx / "rootfs" / "etc" / "group").write_text(f"root:x:0:\n{USER}:x:{USER_ID}:\nnogroup:x:65534:\n")
    (ctx / "Dockerfile").write_text(
        "# The simulated Jetson's root: everything it holds is bind-mounted from the simulator's state.\n"
        "FROM scratch\nCOPY rootfs/ /\n"
    )
    client.images.build(path=str(ctx), tag=DEVICE_HOST_IMAGE, rm=True, forcerm=True)


def ensure(tags: list[str], venv: str, log=print) -> None:
    """Build the device-host image and these base tags when missing: the stand-in for `docker pull`. One
    process builds at a time (they share the build directories)."""
    with state_lock("images"):
        build_device_host()
        for tag in tags:
            if not _exists(engine.client(), tag, _sources_digest(tag, venv)):
                log(f"building image {tag}")
                build_base(tag, venv)


def venv_dir() -> str:
    """The virtualenv whose Python packages the simulated images carry (torch, numpy, paho, onnxruntime)."""
    import sys

    return os.environ.get("JETSON_SIM_VENV", sys.prefix)
