"""The fault matrix: for every simulator fault, which acceptance checks must fail and what they must say.

The checks declare it where they are written, with markers (registered in pyproject.toml):

- `@pytest.mark.proven_by(row, ..., says=TEXT)`: under each named row the check must fail, its message containing
  TEXT (the diagnosis, cause or fix, not a number). With `one_of=True`, at least one of the row's `one_of` checks
  must fail, each that fails with its text: a race between the fault and the checks decides which sees it first
  (a crash-looping container is seen "restarting" by one check, or "running" and then restarted by another).
- `@pytest.mark.may_fail_under(row, ..., why=REASON)`: a knock-on failure the fault causes on some runs and not
  others (timing of a recreated container against the evidence window): allowed, never required.

Every check a row does not name must pass or skip with a stated reason. This module holds the rows (the fault,
the simulated device it runs on and the run's settings) and joins them with the markers of the collected
acceptance checks. `test_fault_matrix.py` beside it proves every row against live simulators;
`bench/fault_matrix.py` times it; `python selftests/meta/faultmatrix.py --write-docs` writes docs/fault-matrix.md
and docs/faults.md (`--check` exits 1 when either is out of date). Keep it short: a check that only sometimes
fails under its own fault is not proven by that fault.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from jetson_hil.sim import fault_docs  # noqa: E402
from jetson_hil.sim.faults import FAULTS  # noqa: E402
from jetson_hil.sim.simulator import USER_PROFILE  # noqa: E402

PLAN_A = "plan_a"  # the pytorch simulator (Plan A success path: Task 3 runs, Task 5 skips)
PLAN_B = "plan_b"  # the tensorrt simulator (Plan B: Task 5 runs, Task 3 skips)
PLAN_DGPU = "plan_dgpu"  # the discrete-GPU host simulator (Plan A path; Task 1's dGPU checks run, L4T ones skip)
SCENARIOS = {
    PLAN_A: {"backend": "pytorch", "encoder": "tiny"},
    PLAN_B: {"backend": "tensorrt", "encoder": "tiny"},
    PLAN_DGPU: {"backend": "pytorch", "encoder": "tiny", "kind": "dgpu"},
}
WINDOW_S = 6.0  # the evidence window the matrix runs the suite with (`--window`)
# The acceptance suite the matrix proves (tests/perf measures against baselines; it is not a pass/fail check).
ACCEPTANCE_PATHS = ("tests/host", "tests/container", "tests/mqtt")
CHECKS_ENV = "JETSON_HIL_MATRIX_CHECKS"  # where this module, as a pytest plugin, writes the collected checks
# the matrix markers and the arguments each takes besides the rows
ALLOWED = {"proven_by": {"says", "one_of"}, "may_fail_under": {"why"}}
REWRITE = ".venv/bin/python selftests/meta/faultmatrix.py --write-docs"
COLLECT_TIMEOUT_S = 300  # a hang guard: collection takes seconds


@dataclass(frozen=True)
class Row:
    fault: str
    scenario: str
    note: str = ""
    window_s: float | None = None  # a longer window where the fault's check needs one (else WINDOW_S)
    profile: str = ""  # the simulator's profile to run with (`USER_PROFILE`: as its non-root user), else device.toml
    name: str = ""  # the row's own name where one fault has several rows (else the fault's)
    expect_path: str = ""  # the profile's [expect] path for this row's run ("" leaves the simulator's profile as is)
    passes: bool = False  # the run passes: an accepted end state under the fault (no check may fail)
    # from the checks' markers (`matrix()`): test id -> the text its failure message must contain, or why it may fail
    expected: dict[str, str] = field(default_factory=dict)
    any_of: dict[str, str] = field(default_factory=dict)
    tolerated: dict[str, str] = field(default_factory=dict)

    @property
    def window(self) -> float:
        return self.window_s or WINDOW_S

    @property
    def key(self) -> str:
        """The row's name in the matrix (and the selftest's parameter id): its own name, else its fault's."""
        return self.name or self.fault

    def profile_text(self, base: str) -> str:
        """The simulator's profile text `base`, with this row's ``[expect] path`` when it sets one."""
        if not self.expect_path:
            return base
        line = f'path = "{self.expect_path}"'
        if re.search(r"^\[expect\]\s*$", base, flags=re.M):
            return re.sub(r"^\[expect\]\s*$", f"[expect]\n{line}", base, count=1, flags=re.M)
        return base.rstrip("\n") + f"\n\n[expect]\n{line}\n"


ROWS: tuple[Row, ...] = (
    # --- config faults (Plan A) ---
    Row("config_cpu", PLAN_A),
    Row("fp16_off", PLAN_A),
    Row("wrong_dim", PLAN_A),
    Row("l4t_mismatch", PLAN_A),
    Row("cuda_driver_insufficient", PLAN_A),
    Row("requirements_override_torch", PLAN_A),
    Row("cpu_only_torch", PLAN_A),
    Row("no_kernel_image", PLAN_A),
    Row("libcudnn_missing", PLAN_A),
    Row("no_nvidia_runtime", PLAN_A),
    Row("container_crashloop", PLAN_A),
    # --- gpu fault ---
    Row("cublas_alloc_failed", PLAN_A),
    # --- device faults ---
    Row(
        "broker_down",
        PLAN_A,
        note="the broker is the session's MQTT transport: the first MQTT check fails, every later one skips naming it",
    ),
    Row("jetpack_package_missing", PLAN_A),
    # --- agent faults (read live by the agents) ---
    Row("nan_embeddings", PLAN_A),
    Row("constant_embeddings", PLAN_A),
    Row("stalled_publisher", PLAN_A),
    Row("slow_rate", PLAN_A),
    Row("malformed_payload", PLAN_A),
    Row("flapping_locations", PLAN_A),
    Row("no_actuation", PLAN_A),
    Row("actuation_failures", PLAN_A),
    # --- the device host (Task 1) ---
    Row("tegra_release_missing", PLAN_A),
    Row("l4t_partial_upgrade", PLAN_A),
    Row("unknown_l4t_release", PLAN_A),
    Row("cuda_toolkit_mismatch", PLAN_A),
    Row("compute_packages_missing", PLAN_A),
    Row("mixed_jetpack_packages", PLAN_A),
    Row("tegrastats_missing", PLAN_A),
    Row(
        "tegrastats_needs_root",
        PLAN_A,
        profile=USER_PROFILE,
        note="run as the device's non-root user (the simulator's device-user.toml), whose sudo rule the fault removes",
    ),
    Row("custom_carrier_minimal_image", PLAN_A),
    Row("no_bash", PLAN_A),
    Row(
        "nvidia_runtime_unregistered",
        PLAN_A,
        note="engine-wide; the running agents keep the runtime they were created with",
    ),
    Row("default_runtime_runc", PLAN_A, note="engine-wide"),
    # --- the agents' containers (Task 2) ---
    Row("cuda_init_crash", PLAN_A),
    Row(
        "agent_stopped",
        PLAN_A,
        note="the agent is a session link: the first check that needs it fails, later ones skip naming it",
    ),
    Row("agent_restarted", PLAN_A),
    Row(
        "unknown_backend",
        PLAN_A,
        note="vl_jepa refuses the backend and exits, so it crash-loops as under container_crashloop",
    ),
    # --- the flow (Tasks 3 and 6) ---
    Row("exploding_embeddings", PLAN_A),
    Row("seq_gaps", PLAN_A),
    Row("scene_down", PLAN_A),
    # --- the whole stack: every service the runbook restarts, stopped, killed, paused or silent ---
    Row("scene_killed", PLAN_A),
    Row("scene_silent", PLAN_A),
    Row("scene_stale_embeddings", PLAN_A),
    Row("guard_stopped", PLAN_A),
    Row("guard_paused", PLAN_A),
    Row("guard_silent", PLAN_A),
    Row("env_not_recreated", PLAN_A),
    Row("runbook_probe_missing", PLAN_A),
    Row("gpu_diag_missing", PLAN_A),
    Row(
        "host_torch_cuda_too_new",
        PLAN_A,
        note="Task 1 step 4 with the host's python3: a CUDA build of torch that cannot use the GPU fails",
    ),
    Row(
        "host_pip_torch",
        PLAN_A,
        passes=True,
        note="a healthy device whose host python3 has pip's CPU-only torch: the run passes (Task 1 step 4's host "
        "check skips, naming the container's torch as the pipeline's)",
    ),
    Row("policy_stopped", PLAN_A),
    # --- Plan B (tensorrt simulator) ---
    Row(
        "cublas_alloc_failed",
        PLAN_B,
        name="plan_b_accepted",
        passes=True,
        note="the runbook's Plan B end state (PyTorch CUDA broken, TensorRT serves): the run passes, "
        "headline 'recovered via Plan B'; Task 2's PyTorch CUDA checks are xfail carrying CUBLAS_STATUS_ALLOC_FAILED",
    ),
    Row(
        "cublas_alloc_failed",
        PLAN_B,
        name="plan_a_required",
        expect_path="plan_a",
        note='the Plan B accepted device with [expect] path = "plan_a" in its profile: the run fails, naming the path',
    ),
    Row("missing_engine", PLAN_B),
    Row("engine_input_mismatch", PLAN_B),
    Row("guard_dim_stale", PLAN_B),
    Row("engine_path_unset", PLAN_B),
    Row("few_centroid_samples", PLAN_B),
    Row("identical_centroids", PLAN_B),
    Row("stale_centroids", PLAN_B),
    # --- a discrete-GPU host's driver (the dGPU simulator; Task 1's dGPU checks) ---
    Row(
        "dgpu_driver_not_loaded",
        PLAN_DGPU,
        note="Task 2 fails, so Task 3 is off the runbook's path (Plan A failure) and skips",
    ),
    Row(
        "dgpu_driver_library_mismatch",
        PLAN_DGPU,
        note="vl_jepa keeps the context it made before the upgrade; the Task 2 probe, a new process, gets error 803",
    ),
    Row(
        "dgpu_driver_too_old",
        PLAN_DGPU,
        note="the sampler still reads the idle GPU: its load is reported, not judged, on a dGPU (gr3d_min_percent 0)",
    ),
    Row("dgpu_mig_no_utilisation", PLAN_DGPU),
    Row("dgpu_toolkit_newer_than_driver", PLAN_DGPU),
)

ROW_KEYS = {row.key: row for row in ROWS}


# ---------------------------------------------------------------- the checks' markers


@dataclass(frozen=True)
class Check:
    """One collected acceptance check: its pytest id, its markers' names, and what its matrix markers declare."""

    test_id: str
    markers: frozenset[str]
    proofs: tuple[dict, ...]  # {"marker": name, "args": the rows, "kwargs": says / one_of / why}

    @property
    def dgpu_only(self) -> bool:
        """Runs only on a discrete-GPU host: the dGPU scenario proves it."""
        return "dgpu_only" in self.markers


def pytest_collection_finish(session) -> None:
    """As a pytest plugin (`-p faultmatrix`, with CHECKS_ENV set): write every collected check's markers."""
    path = os.environ.get(CHECKS_ENV)
    if not path:
        return
    checks = []
    for item in session.items:
        proofs = [
            {"marker": m.name, "args": m.args, "kwargs": m.kwargs} for m in item.iter_markers() if m.name in ALLOWED
        ]
        checks.append({"id": item.nodeid, "markers": sorted({m.name for m in item.iter_markers()}), "proofs": proofs})
    Path(path).write_text(json.dumps(checks, default=repr))


@functools.cache
def _collected() -> tuple[tuple[Check, ...], str]:
    """The checks, or why they could not be collected (kept too: every row asks once, not once per row)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-p", "faultmatrix", "-p", "no:randomly", "--collect-only", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "checks.json"
        try:
            proc = subprocess.run(
                [*command, *ACCEPTANCE_PATHS],
                cwd=REPO,
                env={**env, CHECKS_ENV: str(out)},
                capture_output=True,
                text=True,
                timeout=COLLECT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return (), f"collecting the acceptance checks took over {COLLECT_TIMEOUT_S} s"
        if proc.returncode != 0 or not out.exists():
            tail = f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            return (), f"collecting the acceptance checks failed (exit {proc.returncode}):\n{tail}"
        found = json.loads(out.read_text())
    return tuple(Check(c["id"], frozenset(c["markers"]), tuple(c["proofs"])) for c in found), ""


def checks() -> tuple[Check, ...]:
    """The checks under ACCEPTANCE_PATHS, in collection order, with their markers; RuntimeError if none."""
    found, error = _collected()
    if error:
        raise RuntimeError(error)
    return found


def _joined(found: tuple[Check, ...]) -> dict[str, Row]:
    parts: dict[str, tuple[dict, dict, dict]] = {key: ({}, {}, {}) for key in ROW_KEYS}
    for check in found:
        for proof in check.proofs:
            kwargs = proof["kwargs"]
            for key in proof["args"]:
                if key not in parts:
                    continue
                expected, any_of, tolerated = parts[key]
                if proof["marker"] == "may_fail_under":
                    tolerated[check.test_id] = kwargs.get("why")
                elif kwargs.get("one_of"):
                    any_of[check.test_id] = kwargs.get("says")
                else:
                    expected[check.test_id] = kwargs.get("says")
    return {
        key: replace(row, expected=parts[key][0], any_of=parts[key][1], tolerated=parts[key][2])
        for key, row in ROW_KEYS.items()
    }


def problems(found: tuple[Check, ...]) -> list[str]:
    """Markers that make no sense (a row that is not in the matrix, a missing text, an unknown argument, a check
    declared twice under a row, a marker outside the acceptance suite) and rows no check declares."""
    out = []
    for check in found:
        seen: set[str] = set()
        for proof in check.proofs:
            name, rows, kwargs = proof["marker"], proof["args"], proof["kwargs"]
            where = f"{check.test_id}: @{name}"
            text = kwargs.get("why" if name == "may_fail_under" else "says")
            if "jetson" not in check.markers:
                out.append(f"{where} on a test outside the acceptance suite (not marked jetson)")
            if set(kwargs) - ALLOWED[name] or not isinstance(kwargs.get("one_of", False), bool):
                out.append(f"{where} takes rows and {', '.join(sorted(ALLOWED[name]))} only: {kwargs}")
            if not rows or not isinstance(text, str) or not text:
                out.append(f"{where} needs rows and a text: {proof}")
            for key in rows:
                if not isinstance(key, str) or key not in ROW_KEYS:
                    out.append(f"{where} names {key!r}, which is no row of the matrix")
                elif key in seen:
                    out.append(f"{check.test_id}: declared twice under {key!r}")
                seen.add(key)
    for key, row in _joined(found).items():
        if row.passes and (row.expected or row.any_of):
            out.append(f"row {key} passes (passes=True), but checks declare failures under it")
        elif not row.passes and not (row.expected or row.any_of):
            out.append(f"row {key}: no check declares a failure under it (proven_by), and it is not marked passes")
    return out


@functools.cache
def matrix() -> dict[str, Row]:
    """Each row with the checks whose markers name it; ValueError when a marker or a row makes no sense."""
    found = checks()
    bad = problems(found)
    if bad:
        raise ValueError("the fault matrix and the acceptance checks' markers:\n  " + "\n  ".join(bad))
    return _joined(found)


def covered(scenario: str | None = None) -> dict[str, list[str]]:
    """Test id -> the rows expected to fail it (in one scenario, or in all)."""
    out: dict[str, list[str]] = {}
    for row in matrix().values():
        if scenario is None or row.scenario == scenario:
            for test_id in row.expected:
                out.setdefault(test_id, []).append(row.key)
    return out


# ---------------------------------------------------------------- docs

MATRIX_DOC = REPO / "docs" / "fault-matrix.md"
FAULTS_DOC = REPO / "docs" / "faults.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_matrix() -> str:
    lines = [
        "# The fault matrix",
        "",
        fault_docs.GENERATED,
        "",
        "For every simulator fault: the scenario it runs in (`plan_a`: the PyTorch simulator, Task 3 on the path; "
        "`plan_b`: the TensorRT simulator, Task 5 on the path; `plan_dgpu`: the discrete-GPU host simulator, "
        "`sim up --kind dgpu`, where Task 1's dGPU checks run and the L4T ones skip), the acceptance checks that "
        "must fail and the text "
        "each failure message must contain. Every other check must pass or skip with a stated reason, and no "
        "check may error. `selftests/meta/test_fault_matrix.py` proves each row against a live simulator "
        f"(`--window {WINDOW_S:g}`); `bench/fault_matrix.py` times it (docs/performance.md).",
        "",
        "| fault | scenario | expected failing checks | their messages contain |",
        "|---|---|---|---|",
    ]
    for row in matrix().values():
        tests = "<br>".join(f"`{_cell(t)}`" for t in row.expected)
        texts = "<br>".join(f"`{_cell(x)}`" if x else "(any)" for x in row.expected.values())
        if row.any_of:
            sep = "<br>" if row.expected else ""
            tests += sep + "at least one of: " + ", ".join(f"`{_cell(t)}`" for t in row.any_of)
            texts += sep + "resp. " + ", ".join(f"`{_cell(x)}`" for x in row.any_of.values())
        extra = ""
        if row.tolerated:
            extra = "<br>may also fail: " + "; ".join(
                f"`{_cell(t.split('::')[1])}` ({_cell(w)})" for t, w in row.tolerated.items()
            )
        if row.window_s:
            extra += f"<br>window: {row.window_s:g} s"
        if row.note:
            extra += f"<br>note: {_cell(row.note)}"
        if row.expect_path:
            extra += f'<br>profile: [expect] path = "{row.expect_path}"'
        fault = f"`{row.fault}`" if not row.name else f"`{row.fault}` (row `{row.name}`)"
        if not tests:
            tests, texts = "none: the run passes", ""
        lines.append(f"| {fault} | {row.scenario} | {tests}{extra} | {texts} |")
    missing = sorted(set(FAULTS) - {row.fault for row in ROWS})
    if missing:
        lines += [
            "",
            "Faults in the catalogue without a row (the matrix selftest fails until they have one): "
            + ", ".join(f"`{m}`" for m in missing),
        ]
    lines += ["", "## Checks by the faults that fail them", ""]
    cov = covered()
    for test_id in sorted(cov):
        lines.append(f"- `{_cell(test_id)}`: " + ", ".join(f"`{f}`" for f in cov[test_id]))
    return "\n".join(lines) + "\n"


def docs() -> dict[Path, str]:
    scenarios = {}
    for row in ROWS:
        scenarios.setdefault(row.fault, row.scenario)
    return {MATRIX_DOC: render_matrix(), FAULTS_DOC: fault_docs.render(scenarios)}


def stale_docs() -> list[Path]:
    return [path for path, text in docs().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python selftests/meta/faultmatrix.py", description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="write docs/fault-matrix.md and docs/faults.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the generated docs are out of date")
    args = parser.parse_args(argv)
    try:
        if args.write_docs:
            for path, text in docs().items():
                path.write_text(text)
                print(f"wrote {path.relative_to(REPO)}")
            return 0
        if args.check:
            stale = stale_docs()
            for path in stale:
                print(f"{path.relative_to(REPO)} is out of date: {REWRITE}")
            return 1 if stale else 0
        sys.stdout.write(render_matrix())
    except (ValueError, RuntimeError) as exc:
        print(f"faultmatrix: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
