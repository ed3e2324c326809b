"""Writing the design doc's section and copying report.html beside it: a local file, or one on the device
through its shell. A backup (``PATH.bak``) is made before the doc changes; files are written to a temporary
name and moved in place, so an interrupted write never leaves half a doc."""

from __future__ import annotations

import posixpath
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jetson_hil.device import write_commands
from jetson_hil.report import doc


def write_local(path: Path, section: str) -> str:
    """The section spliced into the local doc `path` (created when missing); what was done, in one line."""
    before = path.read_bytes() if path.exists() else b""
    after = doc.splice(before.decode("utf-8"), section).encode("utf-8")
    if after == before:
        return f"design doc {path} already up to date"
    if path.exists():
        path.with_name(path.name + ".bak").write_bytes(before)
    tmp = path.with_name(path.name + ".jetson-hil.tmp")
    tmp.write_bytes(after)
    tmp.replace(path)
    return f"design doc {path} updated (backup {path}.bak)"


def write_on_device(facts: Any, path: str, section: str) -> str:
    """The section spliced into the doc `path` on the device (`facts`: jetson_hil.device.DeviceFacts)."""
    before = facts.read_file(path)
    if before is None:
        return f"design doc {path} not readable on the device: not updated"
    after = doc.splice(before, section)
    if after == before:
        return f"design doc {path} on the device already up to date"
    q = shlex.quote(path)
    for command in [f"cp -p {q} {q}.bak", *write_commands(path, after.encode(), keep_mode=True)]:
        out = facts.run(command)
        if not out.ok:
            return f"design doc {path} on the device not updated: {out.tail(3)}"
    return f"design doc {path} on the device updated (backup {path}.bak)"


def copy_report(html: Path, copy: dict[str, Any], run: Callable[[str], Any] | None = None) -> str:
    """Copies report.html to `copy["dest"]`: a local path, or on the device through `run` (a shell command
    runner returning an object with ``ok``/``tail``), written in chunks to a temporary file and moved in place."""
    dest = copy["dest"]
    if not html.is_file():
        return f"report not copied to {dest}: {html} was not written"
    if not copy.get("on_device"):
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, dest)
        return f"report copied to {dest}"
    commands = [f"mkdir -p {shlex.quote(posixpath.dirname(dest))}", *write_commands(dest, html.read_bytes())]
    for command in commands:
        out = run(command)
        if not out.ok:
            return f"report not copied to {dest} on the device: {out.tail(3)}"
    return f"report copied to {dest} on the device"
