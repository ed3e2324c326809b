"""Agents that run as host processes (profile ``[agents] mode = "process"``), not in compose containers.

Some devices run vl_jepa, embedding_guard, scene and policy as systemd services, without Docker. The runbook's
evidence still exists there, it is only found elsewhere: Task 2's probe runs on the host with the agents' own
python, and the agent's GPU use is judged by its host pid, found by a pattern on the command lines. Checks that
look at a container (its runtime, device nodes, restarts, image) have nothing to look at and skip, saying so,
rather than pass on nothing. Pure functions over text, unit-tested; the fixtures run the commands.

>>> agent_pids("12 /usr/bin/python3 /opt/agents/vl_jepa.py\\n13 /usr/bin/python3 scene.py\\n", r"vl_jepa\\.py")
{12}
"""

from __future__ import annotations

import re
import shlex

__all__ = [
    "CONTAINER_ONLY_REASON",
    "ENGINE_NOT_USED",
    "PROCESS_LIST_COMMAND",
    "agent_pids",
    "container_check_skip",
    "probe_command",
    "probe_where",
]

CONTAINER_ONLY_REASON = "the agents run as host processes: no container to check"
"""The skip reason of every container-only check in process mode (profile ``[agents] mode = "process"``)."""
ENGINE_NOT_USED = (
    'the agents run as host processes ([agents] mode = "process"): no container engine is used; a check that '
    "needs one is a suite bug"
)
PROCESS_LIST_COMMAND = (
    'for d in /proc/[0-9]*; do [ -r "$d/cmdline" ] || continue; '
    "printf '%s ' \"${d#/proc/}\"; tr '\\000' ' ' < \"$d/cmdline\" 2>/dev/null; echo; done"
)
"""Prints ``PID COMMAND LINE`` for every process on the host, from /proc (no ps needed)."""


def container_check_skip(mode: str) -> str | None:
    """The reason a container-only check skips under the profile's ``[agents] mode``, or None (it runs)."""
    return CONTAINER_ONLY_REASON if mode == "process" else None


def agent_pids(text: str, pattern: str, exclude: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """Pids of the ``PID COMMAND LINE`` lines whose command line matches `pattern` (a regex, as ``pgrep -f``);
    `exclude` leaves out pids such as the reading shell's own. Lines that do not start with a pid are ignored
    (a process that ended between the listing and its read prints a bare pid, or nothing)."""
    regex = re.compile(pattern)
    found = set()
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit() and args.strip() and regex.search(args) and int(pid) not in exclude:
            found.add(int(pid))
    return found


def probe_where(python: str) -> str:
    """What the probe's messages call the place it ran (they say 'in <this>')."""
    return f"{python} on the host"


def probe_command(python: str, timeout_s: float) -> str:
    """How ``check_torch_cuda.py`` runs with the agents' python: the `run` of `jetson_hil.device.temp_script_command`
    (``{script}`` stands for the copied script)."""
    quoted = shlex.quote(python).replace("{", "{{").replace("}", "}}")
    return f"{quoted} {{script}} --timeout {timeout_s:g}"
