"""The device facts a report shows: release, compute stack, Docker, the agents' services and images, their env
(secrets redacted). Each fact is read on its own, so one the device cannot give reads 'unavailable: ...'
instead of losing the report; bounded by the facts' own command timeouts."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jetson_hil.report.summary import jsonable, redact


def fact(read: Callable[[], Any]) -> Any:
    """read() as JSON-safe data, or 'unavailable: <first line of the error>'.

    >>> fact(lambda: {"a": 1}), fact(lambda: 1 / 0)
    ({'a': 1}, 'unavailable: division by zero')
    """
    try:
        return jsonable(read())
    except Exception as exc:  # a fact the device cannot give must not lose the report
        return f"unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def gather(
    profile: Any, facts: Any = None, env_file: Callable[[], Mapping[str, str]] | None = None, docker: Any = None
) -> dict[str, Any]:
    """The facts of `profile`'s device: through `facts` (jetson_hil.device.DeviceFacts; None when the host
    does not answer), `env_file` (the agents' env file, parsed) and `docker` (an engine client already open,
    or None: no new connection is made here)."""
    out: dict[str, Any] = {"profile": profile.name, "kind": profile.device.kind, "host": profile.device.host}
    if facts is not None:
        out["model"] = fact(lambda: facts.model)
        out["module"] = fact(lambda: facts.module)
        out["l4t"] = fact(lambda: str(facts.release))
        out["jetpack"] = fact(lambda: facts.jetpack)
        out["cuda_installed"] = fact(lambda: facts.cuda_version)
        out["compute_stack"] = fact(lambda: facts.stack)
        out["docker_version"] = fact(lambda: facts.docker_info.get("ServerVersion"))
        out["docker_runtimes"] = fact(lambda: facts.docker_runtimes)
        out["docker_default_runtime"] = fact(lambda: facts.docker_default_runtime)
        if env_file is not None:
            out["env"] = fact(lambda: redact(env_file()))
        commit = project_commit(facts, profile.compose.project_dir)
        if commit:
            out["project_commit"] = commit
    if docker:
        out["containers"] = fact(lambda: containers(docker, profile.containers.agent))
    return out


def containers(client: Any, agent: str) -> list[dict[str, Any]]:
    """The containers of the agent's compose project (the agent alone without one): name, service, state,
    image, image id and runtime. Only that project: inspecting every container of a busy engine takes minutes."""
    found = client.containers.get(agent)
    project = (found.attrs.get("Config", {}).get("Labels") or {}).get("com.docker.compose.project")
    wanted = {"label": f"com.docker.compose.project={project}"} if project else {"name": agent}
    rows = []
    for c in client.containers.list(all=True, filters=wanted):
        labels = c.attrs.get("Config", {}).get("Labels") or {}
        if project and labels.get("com.docker.compose.project") != project:
            continue
        rows.append(
            {
                "name": c.name,
                "service": labels.get("com.docker.compose.service"),
                "state": c.status,
                "image": c.attrs.get("Config", {}).get("Image"),
                "image_id": c.attrs.get("Image"),
                "runtime": c.attrs.get("HostConfig", {}).get("Runtime"),
            }
        )
    return rows


def project_commit(facts: Any, project_dir: str) -> str | None:
    """The agents' compose project's git commit on the device (``git rev-parse HEAD``), None when the project is
    not a git checkout, git is missing or the device does not answer: the commit is shown only where it exists."""
    try:
        out = facts.run(f"git -C {shlex.quote(project_dir)} rev-parse HEAD")
    except Exception:  # a fact the device cannot give must not lose the report
        return None
    text = out.stdout.strip() if out.ok else ""
    return text if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else None


def suite_commit(root: Path) -> str | None:
    """This suite's git commit (``git rev-parse HEAD`` in `root`), with ``-dirty`` when tracked files changed;
    None outside a git checkout (an installed wheel) or without git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)  # fmt: skip
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip()[:12] + ("-dirty" if dirty.returncode == 1 else "")
