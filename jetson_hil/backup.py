"""What a remediation run backs up before it changes a device, and what putting it back takes.

A `Snapshot` is the device state a remediation may touch: the bytes of each file it touches (None when
the file did not exist), which image every compose service's container runs (image id, environment
digest, running or not), and which image id each service's image reference names. The pure parts
decide what a restore must do (`restore_plan`) and whether a restore worked (`differences`); the
journal (`to_json` / `from_json`) keeps a backup on disk so that a run killed outright (SIGKILL, power)
is restored by the next run that is allowed to change the device.

>>> before = Snapshot(files={"/p/config/jetson.env": b"VL_JEPA_DEVICE=cpu\\n"})
>>> now = Snapshot(files={"/p/config/jetson.env": b"VL_JEPA_DEVICE=cuda\\n"})
>>> restore_plan(before, now).write
{'/p/config/jetson.env': b'VL_JEPA_DEVICE=cpu\\n'}
>>> differences(before, now)
['/p/config/jetson.env: 20 bytes (sha256 4fde74634762) where 19 bytes (sha256 b0c61cb74c5c) were backed up']
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "JOURNAL_VERSION",
    "RestorePlan",
    "ServiceState",
    "Snapshot",
    "differences",
    "env_digest",
    "from_json",
    "journal_dir",
    "journal_path",
    "restore_plan",
    "to_json",
]

JOURNAL_VERSION = 1


def env_digest(env: list[str] | None) -> str:
    """A short digest of a container's environment (Config.Env), order-independent.

    >>> env_digest(["B=2", "A=1"]) == env_digest(["A=1", "B=2"])
    True
    """
    return hashlib.sha256("\n".join(sorted(env or [])).encode()).hexdigest()[:16]


def _describe(data: bytes | None) -> str:
    if data is None:
        return "absent"
    return f"{len(data)} bytes (sha256 {hashlib.sha256(data).hexdigest()[:12]})"


@dataclass(frozen=True)
class ServiceState:
    """One compose service's container as the engine reports it."""

    service: str
    container: str
    image_ref: str
    image_id: str
    running: bool
    env: str = ""  # env_digest of Config.Env

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        return f"{self.container} {state} on {self.image_ref} ({self.image_id[7:19] or self.image_id})"


@dataclass
class Snapshot:
    """Files (path on the device -> bytes, None = absent), services and image tags at one moment."""

    files: dict[str, bytes | None] = field(default_factory=dict)
    services: dict[str, ServiceState] = field(default_factory=dict)
    images: dict[str, str | None] = field(default_factory=dict)  # image ref -> image id it names
    project: str = ""


@dataclass
class RestorePlan:
    """What it takes to bring `now` back to `before`, in the order a restore does it."""

    stop: list[str] = field(default_factory=list)  # services to stop before files are written
    write: dict[str, bytes] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    retag: dict[str, str] = field(default_factory=dict)  # image ref -> image id to point it at again
    recreate: list[str] = field(default_factory=list)
    stop_after: list[str] = field(default_factory=list)  # services that were stopped before the change

    @property
    def empty(self) -> bool:
        return not (self.write or self.delete or self.retag or self.recreate or self.stop_after)

    def describe(self) -> list[str]:
        lines = [f"write back {p} ({_describe(d)})" for p, d in self.write.items()]
        lines += [f"remove {p} (it did not exist before)" for p in self.delete]
        lines += [f"tag {i[7:19] or i} as {r} again" for r, i in self.retag.items()]
        if self.recreate:
            lines.append(f"recreate {' '.join(self.recreate)} on their former images")
        if self.stop_after:
            lines.append(f"stop {' '.join(self.stop_after)} (stopped before the change)")
        return lines


def restore_plan(before: Snapshot, now: Snapshot) -> RestorePlan:
    """The actions that make `now` equal `before` for everything `before` recorded.

    Files are compared only where `before` has them (a path it never backed up is not touched). A service
    is recreated when its container is gone, runs another image, another environment, or stopped; it is
    stopped first, so no agent writes a file while it is put back (a guard still collecting centroids
    would). An image reference is re-tagged when it names another image than before (a rebuild).
    """
    plan = RestorePlan()
    for path, data in before.files.items():
        current = now.files.get(path)
        if current == data:
            continue
        if data is None:
            plan.delete.append(path)
        else:
            plan.write[path] = data
    for ref, image_id in before.images.items():
        if image_id and now.images.get(ref) != image_id:
            plan.retag[ref] = image_id
    for name, old in before.services.items():
        new = now.services.get(name)
        if old.running:
            if new is None or (new.image_id, new.env, new.running) != (old.image_id, old.env, True):
                plan.recreate.append(name)
        elif new is not None and new.running:
            plan.stop_after.append(name)
    plan.stop = [s for s in plan.recreate if s in now.services and now.services[s].running]
    return plan


def differences(before: Snapshot, now: Snapshot) -> list[str]:
    """One line per way `now` differs from `before` (only what `before` recorded); [] when restored."""
    out = []
    for path, data in before.files.items():
        current = now.files.get(path)
        if current != data:
            out.append(f"{path}: {_describe(current)} where {_describe(data)} were backed up")
    for name, old in before.services.items():
        new = now.services.get(name)
        if new is None:
            out.append(f"service {name}: no container, where {old.describe()} was")
        elif (new.image_id, new.running) != (old.image_id, old.running):
            out.append(f"service {name}: {new.describe()}, where {old.describe()} was")
        elif new.env != old.env:
            out.append(f"service {name}: {new.container} runs with another environment than before")
    for ref, image_id in before.images.items():
        if image_id and now.images.get(ref) != image_id:
            out.append(f"image {ref} names {now.images.get(ref)}, where it named {image_id}")
    return out


# ---------------------------------------------------------------------------------------------- journal


def to_json(snapshot: Snapshot, **meta: Any) -> str:
    """The snapshot as JSON (file bytes in base64), with `meta` (device, run id, ...) beside it."""
    files = {p: None if d is None else base64.b64encode(d).decode("ascii") for p, d in snapshot.files.items()}
    body = {
        "version": JOURNAL_VERSION,
        **meta,
        "project": snapshot.project,
        "files": files,
        "services": {n: asdict(s) for n, s in snapshot.services.items()},
        "images": snapshot.images,
    }
    return json.dumps(body, indent=1, sort_keys=True)


def from_json(text: str) -> tuple[Snapshot, dict[str, Any]]:
    """The snapshot and the meta of a journal; ValueError naming what is wrong for anything else."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the journal is not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("version") != JOURNAL_VERSION:
        raise ValueError(f"the journal is not a version {JOURNAL_VERSION} remediation journal")
    try:
        files = {
            str(p): None if d is None else base64.b64decode(d, validate=True) for p, d in body["files"].items()
        }
        services = {str(n): ServiceState(**s) for n, s in body["services"].items()}
        images = {str(r): (None if i is None else str(i)) for r, i in body["images"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"the journal is damaged: {type(exc).__name__}: {exc}") from None
    meta = {k: v for k, v in body.items() if k not in ("files", "services", "images", "project", "version")}
    return Snapshot(files, services, images, str(body.get("project") or "")), meta


def journal_dir() -> Path:
    """Where journals live on the machine running the suite: `$JETSON_HIL_HOME/remediate`, else
    /var/lib/jetson-hil/remediate as root, else ~/.local/state/jetson-hil/remediate (as the simulator's)."""
    env = os.environ.get("JETSON_HIL_HOME")
    if env:
        root = Path(env)
    elif os.geteuid() == 0:
        root = Path("/var/lib/jetson-hil")
    else:
        root = Path.home() / ".local" / "state" / "jetson-hil"
    return root / "remediate"


def journal_path(device: str, directory: Path | None = None) -> Path:
    """The journal file of one device (its profile name, made safe for a file name)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device) or "device"
    return (directory or journal_dir()) / f"{safe}.json"
