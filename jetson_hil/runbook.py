"""The runbook's decisions as code: which path Task 2's evidence puts the device on, and what that skips.

The runbook (Jetson GPU Embeddings Reliability Plan) branches once, after Task 2 runs
``check_torch_cuda.py`` inside the running ``vl_jepa_agent``:

* CUDA works in the container                     -> **Plan A success**: Task 3 (GPU embeddings);
* CUDA fails in the container                     -> **Plan A failure**: Task 4 (align the container)
  is the remedy, Task 3 cannot pass until it is done;
* ``VL_JEPA_BACKEND=tensorrt`` in config/jetson.env -> **Plan B**: Task 5 (TensorRT embeddings), the
  fallback the device has already switched to.

`decide` turns that evidence into a `Plan`; `Plan.skip_reason(task)` says why a task is off the path
(naming the evidence and the test that decided it), or None when it runs. Tasks 1, 2, 4 and 6 run
on every path: 1 and 2 are the diagnostics the decision rests on, 4 guards the alignment that Plan A
needs (on the failure path it names what to fix), and 6 is the end-to-end verdict.

>>> ev = ContainerCuda(container="vl_jepa_agent", ran=True, passed=False, failures=("cuda_available False",))
>>> plan = decide(ev, backend="pytorch")
>>> plan.path, plan.next_task
('plan_a_failure', 4)
>>> plan.skip_reason(3).split(":")[0]
'Task 3 is on the Plan A success path, but the device is on the Plan A failure path'
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "BACKENDS",
    "DECIDING_TEST",
    "PATHS",
    "PLAN_A_FAILURE",
    "PLAN_A_SUCCESS",
    "PLAN_B",
    "UNDECIDED",
    "ContainerCuda",
    "Plan",
    "JETSON_TORCH_INDEXES",
    "TORCH_PACKAGES",
    "TorchRequirement",
    "base_image",
    "decide",
    "torch_requirements",
]

PLAN_A_SUCCESS = "plan_a_success"
PLAN_A_FAILURE = "plan_a_failure"
PLAN_B = "plan_b"
UNDECIDED = "undecided"
PATHS = {
    PLAN_A_SUCCESS: "Plan A success: CUDA works in the container, Task 3 verifies GPU embeddings",
    PLAN_A_FAILURE: "Plan A failure: CUDA fails in the container, Task 4 (align the container stack) is the remedy",
    PLAN_B: "Plan B: VL_JEPA_BACKEND=tensorrt, Task 5 verifies the TensorRT encoder",
    UNDECIDED: "undecided: the evidence does not select a runbook path",
}
BACKENDS = ("pytorch", "tensorrt")
DECIDING_TEST = "tests/container/test_task2_container_cuda.py::test_runbook_path_decided"
_NEXT_TASK = {PLAN_A_SUCCESS: 3, PLAN_A_FAILURE: 4, PLAN_B: 5}
_TITLES = {PLAN_A_SUCCESS: "Plan A success path", PLAN_A_FAILURE: "Plan A failure path", PLAN_B: "Plan B path"}


@dataclass(frozen=True)
class ContainerCuda:
    """Task 2's evidence: did ``check_torch_cuda.py`` pass inside the agent container?

    `ran` is False when the probe could not be run at all (container absent or stopped, exec
    refused); `failures` names each failed probe line ('cuda_available False', 'error RuntimeError: ...');
    `output` and `log_tail` are kept verbatim for the report, `diagnosis` is the hint matched on them.
    """

    container: str
    ran: bool
    passed: bool
    failures: tuple[str, ...] = ()
    output: str = ""
    log_tail: str = ""
    diagnosis: str = ""
    not_run_reason: str = ""

    def summary(self) -> str:
        """One line: what Task 2 found."""
        if not self.ran:
            return f"check_torch_cuda.py could not run in {self.container}: {self.not_run_reason or 'unknown reason'}"
        if self.passed:
            return f"check_torch_cuda.py passed in {self.container} (CUDA available, matmul correct)"
        shown = "; ".join(self.failures[:3]) or "non-zero exit status"
        more = f" (+{len(self.failures) - 3} more)" if len(self.failures) > 3 else ""
        return f"check_torch_cuda.py failed in {self.container}: {shown}{more}"


@dataclass(frozen=True)
class Plan:
    """The runbook path and the evidence it was decided on."""

    path: str
    reason: str
    backend: str
    evidence: ContainerCuda
    decided_by: str = DECIDING_TEST
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        return _TITLES.get(self.path, "no runbook path")

    @property
    def next_task(self) -> int | None:
        """The runbook task this path leads to (3, 4 or 5), None when undecided."""
        return _NEXT_TASK.get(self.path)

    @property
    def on_plan_a(self) -> bool:
        return self.path in (PLAN_A_SUCCESS, PLAN_A_FAILURE)

    def skip_reason(self, task: int) -> str | None:
        """Why `task` is off this path (a sentence naming the evidence and the deciding test), or None."""
        by = f"(decided by {self.decided_by})"
        if self.path == UNDECIDED and task in (3, 5):
            return f"Task {task} needs a runbook path, but none was decided: {self.reason} {by}"
        if task == 3 and self.path != PLAN_A_SUCCESS:
            return f"Task 3 is on the Plan A success path, but the device is on the {self.title}: {self.reason} {by}"
        if task == 5 and self.path != PLAN_B:
            return (
                f"Task 5 (Plan B, TensorRT) is active only when VL_JEPA_BACKEND=tensorrt; the device is on the "
                f"{self.title}: {self.reason} {by}"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the report and summary.json."""
        return {
            "path": self.path,
            "title": self.title,
            "description": PATHS.get(self.path, ""),
            "next_task": self.next_task,
            "reason": self.reason,
            "backend": self.backend,
            "decided_by": self.decided_by,
            "notes": list(self.notes),
            "evidence": asdict(self.evidence),
        }


def decide(evidence: ContainerCuda, backend: str | None, decided_by: str = DECIDING_TEST) -> Plan:
    """The runbook path for Task 2's `evidence` and the env file's ``VL_JEPA_BACKEND`` (`backend`).

    A missing backend counts as pytorch (the agents' default, and the runbook's Plan A starting point);
    that assumption is written into the plan's notes. A backend other than pytorch or tensorrt leaves
    the path undecided: no runbook step covers it.
    """
    notes: list[str] = []
    if backend is None or backend == "":
        notes.append("VL_JEPA_BACKEND is not set in the env file; the agents default to pytorch")
        backend = "pytorch"
    if backend not in BACKENDS:
        reason = (
            f"VL_JEPA_BACKEND={backend!r} in the env file is neither 'pytorch' (Plan A) nor 'tensorrt' "
            f"(Plan B); set it to one of them"
        )
        return Plan(UNDECIDED, reason, backend, evidence, decided_by, tuple(notes))
    if backend == "tensorrt":
        reason = f"VL_JEPA_BACKEND=tensorrt in the env file; Task 2: {evidence.summary()}"
        return Plan(PLAN_B, reason, backend, evidence, decided_by, tuple(notes))
    if evidence.ran and evidence.passed:
        return Plan(PLAN_A_SUCCESS, evidence.summary(), backend, evidence, decided_by, tuple(notes))
    reason = evidence.summary()
    if evidence.diagnosis:
        reason += f". {evidence.diagnosis}"
    return Plan(PLAN_A_FAILURE, reason, backend, evidence, decided_by, tuple(notes))


# ------------------------------------------------------------------------------------------------ Task 4

_ARG = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$", re.IGNORECASE)
_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _logical_lines(text: str) -> list[str]:
    """Dockerfile instructions, one per entry: comments dropped, backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((pending + line).strip())
        pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def base_image(dockerfile: str) -> str | None:
    """The image the final stage of a Dockerfile is built FROM, with ARG defaults substituted and stage
    names followed back to a real image; None when there is no FROM or an ARG has no default.

    >>> base_image("ARG L4T=r36.4.0\\nFROM dustynv/l4t-pytorch:${L4T} AS base\\nFROM base\\nRUN true")
    'dustynv/l4t-pytorch:r36.4.0'
    """
    args: dict[str, str] = {}
    stages: dict[str, str] = {}
    final: str | None = None
    for line in _logical_lines(dockerfile):
        if m := _ARG.match(line):
            if m.group(2) is not None and m.group(1) not in args:
                args[m.group(1)] = m.group(2).strip().strip('"').strip("'")
            continue
        if m := _FROM.match(line):
            image = m.group(1)
            unresolved = False

            def sub(v: re.Match[str]) -> str:
                nonlocal unresolved
                name = v.group(1) or v.group(2)
                if name not in args:
                    unresolved = True
                    return v.group(0)
                return args[name]

            image = _VAR.sub(sub, image)
            final = None if unresolved else stages.get(image.lower(), image)
            if m.group(2):
                stages[m.group(2).lower()] = final or image
    return final


TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")
# Indexes that serve NVIDIA's Jetson (aarch64 + CUDA) wheels (facts: "Wheel source facts").
JETSON_TORCH_INDEXES = (
    "pypi.jetson-ai-lab.io",
    "pypi.jetson-ai-lab.dev",
    "developer.download.nvidia.com",
    "jetson-ai-lab",
)
_REQ_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_WHEEL = re.compile(r"(?:^|/)([A-Za-z0-9_.]+?)-\d[^/]*\.whl(?:[#?].*)?$")


@dataclass(frozen=True)
class TorchRequirement:
    """A requirements line that installs torch (or torchvision/torchaudio, which pull torch in)."""

    line_number: int
    line: str
    package: str
    jetson_source: bool

    def describe(self) -> str:
        return f"line {self.line_number}: {self.line!r}"


def _jetson_url(text: str) -> bool:
    return any(host in text for host in JETSON_TORCH_INDEXES)


def torch_requirements(requirements: str) -> list[TorchRequirement]:
    """The lines of a requirements file that install torch, torchvision or torchaudio.

    pip resolves such a line from PyPI, whose aarch64 torch is a CPU-only build that replaces NVIDIA's
    Jetson wheel in the image (pytorch #168065). A line is from a Jetson source (`jetson_source`) when it
    is a wheel URL or ``name @ URL`` on a Jetson wheel host, or when the file's ``--index-url`` (which
    replaces PyPI) is one; ``--extra-index-url`` is not enough, since pip then takes the highest version
    of both indexes, often PyPI's.

    >>> [(r.package, r.jetson_source) for r in torch_requirements("numpy\\ntorch>=2.0  # encoder\\n")]
    [('torch', False)]
    """
    lines = requirements.splitlines()
    jetson_index = any(re.match(r"^(?:--index-url|-i)(?:\s+|=)", line.strip()) and _jetson_url(line) for line in lines)
    found: list[TorchRequirement] = []
    for number, raw in enumerate(lines, start=1):
        line = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        if wheel := _WHEEL.search(line.split(";")[0].strip()):
            name, url = wheel.group(1), line
        elif m := _REQ_NAME.match(line):
            name, url = m.group(1), line.split("@", 1)[1] if "@" in line else ""
        else:
            continue
        name = name.lower().replace("_", "-")
        if name in TORCH_PACKAGES:
            safe = _jetson_url(url) if url else jetson_index
            found.append(TorchRequirement(number, raw.strip(), name, safe))
    return found
