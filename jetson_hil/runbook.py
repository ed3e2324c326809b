"""The runbook's decisions as code: which path Task 2's evidence puts the device on, and what that skips.

The runbook (Jetson GPU Embeddings Reliability Plan) branches once, after Task 2 runs
``check_torch_cuda.py`` inside the running ``vl_jepa_agent``:

* CUDA works in the container                     -> **Plan A success**: Task 3 (GPU embeddings);
* CUDA fails in the container                     -> **Plan A failure**: Task 4 (align the container)
  is the remedy, Task 3 cannot pass until it is done;
* ``VL_JEPA_BACKEND=tensorrt`` in config/jetson.env -> **Plan B**: Task 5 (TensorRT embeddings), the
  fallback the device has already switched to.

`decide` turns that evidence into a `Plan`; `Plan.skip_reason(task)` says why a task is off the path
(naming the evidence and what decided it, `decided_by`: the deciding check where the suite names it), or None
when it runs. `outcome` turns the plan and the run's test outcomes into the runbook's end state (`END_STATES`),
which is the run's verdict (docs/runbook-outcomes.md). Tasks 1, 2, 4 and 6 run on every path: 1 and 2 are the
diagnostics the decision rests on, 4 guards the alignment that Plan A needs (on the failure path it names what to
fix), and 6 is the end-to-end verdict.

>>> ev = ContainerCuda(container="vl_jepa_agent", ran=True, passed=False, failures=("cuda_available False",))
>>> plan = decide(ev, backend="pytorch")
>>> plan.path, plan.next_task
('plan_a_failure', 4)
>>> plan.skip_reason(3).split(":")[0]
'Task 3 is on the Plan A success path, but the device is on the Plan A failure path'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "BACKENDS",
    "DECIDED_BY",
    "END_STATES",
    "REQUIRED_PATHS",
    "EndState",
    "Outcome",
    "outcome",
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
# who decided, in a skip reason: the pytest layer names its deciding check (marked `decides_path`) instead
DECIDED_BY = "Task 2's check_torch_cuda.py in the agent container"
_NEXT_TASK = {PLAN_A_SUCCESS: 3, PLAN_A_FAILURE: 4, PLAN_B: 5}
_TITLES = {PLAN_A_SUCCESS: "Plan A success path", PLAN_A_FAILURE: "Plan A failure path", PLAN_B: "Plan B path"}
# [expect] path in the device profile: the path a team requires ("any": the runbook's own rule, either plan)
REQUIRED_PATHS = ("any", "plan_a", "plan_b")
_REQUIRED_TITLE = {"plan_a": "Plan A", "plan_b": "Plan B"}


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
    decided_by: str = DECIDED_BY
    notes: tuple[str, ...] = field(default=())
    required: str = "any"

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

    def path_refusal(self) -> str | None:
        """One line when the profile's ``[expect] path`` requires the other plan than the device is on, else None."""
        return _path_refusal(self.required, self.path, self.reason)

    def expected_cuda_failure(self) -> str | None:
        """On the Plan B path with PyTorch CUDA failing in the container (and Plan B allowed): why a failing
        Task 2 PyTorch CUDA check is the runbook's expected finding, not a red run; else None."""
        if self.path != PLAN_B or self.evidence.passed or self.required == "plan_a":
            return None
        diagnosis = f" {self.evidence.diagnosis}" if self.evidence.diagnosis else ""
        return (
            f"the finding that led to Plan B: PyTorch CUDA fails in {self.evidence.container} "
            f"({recorded_failure(self.evidence)}), so the device runs the TensorRT engine "
            f'(VL_JEPA_BACKEND=tensorrt, Task 5).{diagnosis} (A profile with [expect] path = "plan_a" fails this.)'
        )

    def skip_reason(self, task: int) -> str | None:
        """Why `task` is off this path (a sentence naming the evidence and `decided_by`), or None."""
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
            "required": self.required,
            "evidence": asdict(self.evidence),
        }


def decide(
    evidence: ContainerCuda, backend: str | None, decided_by: str = DECIDED_BY, required: str = "any"
) -> Plan:
    """The runbook path for Task 2's `evidence` and the env file's ``VL_JEPA_BACKEND`` (`backend`).

    A missing backend counts as pytorch (the agents' default, and the runbook's Plan A starting point);
    that assumption is written into the plan's notes. A backend other than pytorch or tensorrt leaves
    the path undecided: no runbook step covers it. `required` is the profile's ``[expect] path``.
    """
    plan = _decide(evidence, backend, decided_by)
    return replace(plan, required=required)


def _decide(evidence: ContainerCuda, backend: str | None, decided_by: str) -> Plan:
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
        found = evidence.summary()
        if evidence.ran and not evidence.passed:
            found = f"PyTorch CUDA fails in {evidence.container}: {recorded_failure(evidence)}"
        reason = f"VL_JEPA_BACKEND=tensorrt in the env file; Task 2: {found}"
        return Plan(PLAN_B, reason, backend, evidence, decided_by, tuple(notes))
    if evidence.ran and evidence.passed:
        return Plan(PLAN_A_SUCCESS, evidence.summary(), backend, evidence, decided_by, tuple(notes))
    reason = evidence.summary()
    if evidence.diagnosis:
        reason += f". {evidence.diagnosis}"
    return Plan(PLAN_A_FAILURE, reason, backend, evidence, decided_by, tuple(notes))


# ------------------------------------------------------------------------------------- the end states

TASK_TITLES = {
    1: "GPU diagnostics",
    2: "CUDA inside the running container",
    3: "GPU embeddings (Plan A success)",
    4: "container aligned with JetPack (Plan A failure)",
    5: "TensorRT fallback (Plan B)",
    6: "success validation",
}
PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"
PLAN_A_HEALTHY = "plan_a_healthy"
PLAN_A_ALIGNED = "plan_a_aligned"
PLAN_B_ACCEPTED = "plan_b_accepted"
PLAN_B_UNNEEDED = "plan_b_unneeded"
NOT_RECOVERED = "not_recovered"
CHECKS_PASSED = "checks_passed"
NOTHING_CHECKED = "not_run"
ALIGN_FIX = (
    "Task 4: align the container with the host's JetPack (an l4t-pytorch base image for this L4T release, torch "
    "kept out of requirements.txt), rebuild, recreate, and re-run Tasks 2 and 3; if PyTorch CUDA cannot be "
    "fixed, Task 5 (Plan B: VL_JEPA_BACKEND=tensorrt)"
)


@dataclass(frozen=True)
class EndState:
    """One of the runbook's end states: what shows it, its verdict, and the checks that decide it."""

    key: str
    title: str
    evidence: str
    verdict: str
    decided_by: str


END_STATES: dict[str, EndState] = {
    s.key: s
    for s in (
        EndState(
            PLAN_A_HEALTHY,
            "Plan A, healthy",
            "CUDA works in the container; Tasks 3 and 6 pass",
            PASSED,
            "Task 2's probe checks pass (test_runbook_path_decided: plan_a_success); every task3 and task6 check "
            "passes or skips with a reason; Task 4 did not run",
        ),
        EndState(
            PLAN_A_ALIGNED,
            "Plan A, after alignment",
            "as Plan A, healthy, and Task 4 shows the image aligned with the host's L4T",
            PASSED,
            "as Plan A, healthy, and the task4 checks pass (base image tag, torch a CUDA build matching the host, "
            "requirements keep NVIDIA's torch)",
        ),
        EndState(
            PLAN_B_ACCEPTED,
            "Plan B, accepted",
            "PyTorch CUDA fails in the container (recorded cause), VL_JEPA_BACKEND=tensorrt, Tasks 5 and 6 pass",
            PASSED,
            "test_runbook_path_decided: plan_b with Task 2's probe failing (its PyTorch CUDA checks are reported "
            "as xfail carrying the recorded failure); every task5 and task6 check passes",
        ),
        EndState(
            PLAN_B_UNNEEDED,
            "Plan B while Plan A would serve",
            "VL_JEPA_BACKEND=tensorrt, PyTorch CUDA works in the container",
            PASSED,
            "test_runbook_path_decided: plan_b with Task 2's probe passing; Tasks 5 and 6 pass; the verdict "
            "carries a note (the runbook takes Plan B only if Plan A fails)",
        ),
        EndState(
            NOT_RECOVERED,
            "not recovered",
            "anything else: a check fails, the profile requires the other path, or a task the end state needs "
            "checked nothing",
            FAILED,
            "the first failing check in runbook task order names the task where the runbook stops and its fix; "
            "test_runbook_path_is_the_required_one for [expect] path",
        ),
        EndState(
            CHECKS_PASSED,
            "selected checks passed",
            "nothing failed, but the selection did not include what an end state needs (Task 2's decision, "
            "or the tasks of its path)",
            PASSED,
            "the run's selection (-m / -k)",
        ),
        EndState(
            NOTHING_CHECKED,
            "not run",
            "no check passed or failed: every selected check skipped",
            NOT_RUN,
            "every test's outcome; exit status 5 unless nothing selected applies to the device (then 0)",
        ),
    )
}


@dataclass(frozen=True)
class Outcome:
    """The run's end state: its verdict, a one-line headline, and where the runbook stops when it fails."""

    state: str
    verdict: str
    headline: str
    reason: str = ""
    stops_at: int | None = None
    fix: str = ""
    notes: tuple[str, ...] = ()
    exit_status: int = 0

    @property
    def title(self) -> str:
        return END_STATES[self.state].title

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "title": self.title,
            "verdict": self.verdict,
            "headline": self.headline,
            "reason": self.reason,
            "stops_at_task": self.stops_at,
            "fix": self.fix,
            "notes": list(self.notes),
            "exit_status": self.exit_status,
        }


def recorded_failure(evidence: ContainerCuda | Mapping[str, Any]) -> str:
    """The error Task 2 recorded (the first raised one, e.g. 'RuntimeError: CUDA error:
    CUBLAS_STATUS_ALLOC_FAILED ...'), else its first failed line, else why the probe could not run.

    >>> recorded_failure({"failures": ["cuda_matmul_ok is False", "error in step cuda_matmul: RuntimeError: boom"]})
    'RuntimeError: boom'
    """
    data = asdict(evidence) if isinstance(evidence, ContainerCuda) else evidence
    failures = [str(f) for f in data.get("failures") or ()]
    for line in failures:
        if line.startswith("error"):
            return re.sub(r"^error(?: in step \w+)?:?\s*", "", line)
    if failures:
        return failures[0]
    return str(data.get("not_run_reason") or "the probe did not run")


def _path_refusal(required: str, path: str, reason: str) -> str | None:
    on_a = path in (PLAN_A_SUCCESS, PLAN_A_FAILURE)
    if required == "plan_a" and path == PLAN_B:
        fix = (
            "Fix: bring PyTorch CUDA back in the container (Tasks 2-4) and set VL_JEPA_BACKEND=pytorch, or "
            'allow Plan B in the profile ([expect] path = "any")'
        )
    elif required == "plan_b" and on_a:
        fix = (
            "Fix: switch to the TensorRT engine (Task 5: VL_JEPA_BACKEND=tensorrt, engine, EMBEDDING_GUARD_DIM, "
            'centroids), or allow Plan A in the profile ([expect] path = "any")'
        )
    else:
        return None
    on = "Plan B" if path == PLAN_B else "Plan A"
    return (
        f'the profile requires {_REQUIRED_TITLE[required]} ([expect] path = "{required}"), but the device is on '
        f"{on}: {reason}. {fix}"
    )


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _fix_of(message: str) -> str:
    m = re.search(r"\bFix:\s*(.*)$", message or "", re.DOTALL)
    return _first_line(m.group(1)) if m else _first_line(message)


def _task_numbers(test: Mapping[str, Any]) -> list[int]:
    return sorted(int(t[4:]) for t in test.get("tasks", ()) if re.fullmatch(r"task\d", str(t)))


def _counts(tests: Sequence[Mapping[str, Any]], task: int) -> dict[str, int]:
    mine = [t for t in tests if task in _task_numbers(t)]
    return {k: sum(1 for t in mine if t.get("outcome") == k) for k in ("passed", "skipped", "xfailed", "failed")} | {
        "total": len(mine)
    }


def outcome(plan: Mapping[str, Any] | None, tests: Sequence[Mapping[str, Any]]) -> Outcome:
    """The runbook's end state of a run: `plan` as `Plan.as_dict` gives it (None when Task 2's decision was not
    part of the run), `tests` as summary.json lists them (nodeid, outcome: passed/failed/error/skipped/xfailed,
    tasks, message, and ``applies`` False for a skip that says the check is off this device's path)."""
    checked = [t for t in tests if t.get("outcome") in ("passed", "failed", "error", "xfailed")]
    if not checked:
        return _nothing_checked(tests)
    failed = [t for t in tests if t.get("outcome") in ("failed", "error")]
    failures = [t for t in failed if _task_numbers(t)]
    outside = [t for t in failed if not _task_numbers(t)]  # checks of no runbook task (tests/perf): they fail the run
    end = _end_state(plan, tests, checked, failures)
    if not outside or end.verdict == FAILED:
        return end
    first = _first_line(outside[0].get("message", "")) or outside[0].get("nodeid", "")
    more = f" (+{len(outside) - 1} more)" if len(outside) > 1 else ""
    return replace(
        end,
        verdict=FAILED,
        headline=f"{end.headline}; but {len(outside)} check(s) outside the runbook failed: {first}{more}",
        fix=_fix_of(outside[0].get("message", "")),
        exit_status=1,
    )


def _end_state(
    plan: Mapping[str, Any] | None,
    tests: Sequence[Mapping[str, Any]],
    checked: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
) -> Outcome:
    """The end state from the runbook tasks' checks (`failures`: the failed ones that belong to a task)."""
    refusal = _path_refusal(plan.get("required", "any"), plan.get("path", ""), plan.get("reason", "")) if plan else None
    if refusal:
        return Outcome(NOT_RECOVERED, FAILED, f"not recovered: {refusal}", refusal, 2, _fix_of(refusal), (), 1)
    if failures:
        return _stopped(plan, failures)
    if not plan or plan.get("path") in (None, UNDECIDED):
        return Outcome(
            CHECKS_PASSED,
            PASSED,
            f"selected checks passed ({len(checked)}); no end state: Task 2's decision was not part of this run",
        )
    path = plan["path"]
    needs = (3, 6) if path == PLAN_A_SUCCESS else (5, 6) if path == PLAN_B else ()
    if path == PLAN_A_FAILURE:  # Task 2 failed by definition; reached only when its checks were not selected
        reason = f"PyTorch CUDA fails in the container: {plan.get('reason', '')}"
        return Outcome(NOT_RECOVERED, FAILED, f"not recovered: {reason}", reason, 2, ALIGN_FIX, (), 1)
    for task in needs:
        c = _counts(tests, task)
        if c["total"] and not c["passed"]:
            skipped = next((t for t in tests if task in _task_numbers(t) and t.get("outcome") == "skipped"), {})
            reason = f"Task {task} ({TASK_TITLES[task]}) checked nothing: {_first_line(skipped.get('message', ''))}"
            return Outcome(NOT_RECOVERED, FAILED, f"not recovered: {reason}", reason, task, _fix_of(reason), (), 1)
    missing = [task for task in needs if not _counts(tests, task)["total"]]
    title = _TITLES.get(path, path)
    if missing:
        tasks = " and ".join(f"Task {t}" for t in missing)
        return Outcome(
            CHECKS_PASSED,
            PASSED,
            f"selected checks passed ({len(checked)}) on the {title}; {tasks} not in this selection, so no end state",
        )
    evidence = plan.get("evidence") or {}
    container = evidence.get("container", "the agent container")
    if path == PLAN_A_SUCCESS:
        aligned = _counts(tests, 4)["passed"] > 0
        state = PLAN_A_ALIGNED if aligned else PLAN_A_HEALTHY
        extra = ", the image aligned with the host's L4T (Task 4)" if aligned else ""
        return Outcome(
            state,
            PASSED,
            f"{END_STATES[state].title}: PyTorch CUDA works in {container}{extra}; Tasks 3 and 6 pass",
            plan.get("reason", ""),
        )
    if evidence.get("passed"):
        note = (
            f"Plan B while Plan A would serve: PyTorch CUDA works in {container}, and the runbook takes Plan B "
            "(TensorRT) only if Plan A fails; VL_JEPA_BACKEND=pytorch would serve (Task 3)"
        )
        return Outcome(
            PLAN_B_UNNEEDED, PASSED, f"passed on Plan B; note: {note}", plan.get("reason", ""), notes=(note,)
        )
    failure = recorded_failure(evidence)
    xfailed = _counts(tests, 2)["xfailed"]
    return Outcome(
        PLAN_B_ACCEPTED,
        PASSED,
        f"recovered via Plan B: PyTorch CUDA fails in {container} ({failure}); the TensorRT engine serves "
        f"(VL_JEPA_BACKEND=tensorrt) and Tasks 5 and 6 pass",
        plan.get("reason", ""),
        notes=(f"{xfailed} Task 2 PyTorch CUDA checks reported as the expected finding (xfail)",) if xfailed else (),
    )


def _stopped(plan: Mapping[str, Any] | None, failures: Sequence[Mapping[str, Any]]) -> Outcome:
    """Not recovered: the first failing check in runbook task order is where the runbook stops."""
    first = min(failures, key=lambda t: (_task_numbers(t) or [99])[0])
    tasks = _task_numbers(first)
    task = tasks[0] if tasks else None
    message = _first_line(first.get("message", "")) or "failed"
    more = f" (+{len(failures) - 1} more failing checks)" if len(failures) > 1 else ""
    where = f"Task {task} ({TASK_TITLES[task]})" if task else first.get("nodeid", "a check")
    fix = _fix_of(first.get("message", ""))
    if plan and plan.get("path") == PLAN_A_FAILURE and task == 2:
        reason = f"PyTorch CUDA fails in the container: {recorded_failure(plan.get('evidence') or {})}"
        fix = ALIGN_FIX
        headline = f"not recovered: the runbook stops at {where}: {reason}{more}. Next: {fix}"
    else:
        reason = f"{first.get('nodeid', '')}: {message}"
        headline = f"not recovered: the runbook stops at {where}: {message}{more}"
    return Outcome(NOT_RECOVERED, FAILED, headline, reason, task, fix, (), 1)


def _nothing_checked(tests: Sequence[Mapping[str, Any]]) -> Outcome:
    """Not run: every selected check skipped. Exit 0 only when none of them applies to this device."""
    if not tests:
        return Outcome(NOTHING_CHECKED, NOT_RUN, "not run: no check was selected", "no test ran", exit_status=5)
    blocking = [t for t in tests if t.get("applies", True)]
    if not blocking:
        why = _first_line(tests[0].get("message", ""))
        return Outcome(
            NOTHING_CHECKED,
            NOT_RUN,
            f"not run: nothing selected applies to this device ({why})",
            why,
            exit_status=0,
        )
    why = _first_line(blocking[0].get("message", ""))
    return Outcome(
        NOTHING_CHECKED,
        NOT_RUN,
        f"not run: all {len(tests)} selected checks skipped, first because: {why}",
        why,
        exit_status=5,
    )


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
        if wheel := _WHEEL.search(line.split(";")[0].strip()):  # a bare wheel URL or path: not PEP 508
            name, url = wheel.group(1), line
        else:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            name, url = req.name, req.url or ""
        name = canonicalize_name(name)
        if name in TORCH_PACKAGES:
            safe = _jetson_url(url) if url else jetson_index
            found.append(TorchRequirement(number, raw.strip(), name, safe))
    return found
