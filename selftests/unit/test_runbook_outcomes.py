"""jetson_hil.runbook.outcome: the runbook's end states are the run's verdict (docs/runbook-outcomes.md)."""

from __future__ import annotations

import pytest

from jetson_hil import runbook
from jetson_hil.report import summary
from jetson_hil.runbook import ContainerCuda, decide, outcome

CUBLAS = "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
WORKS = ContainerCuda(container="vl_jepa_agent", ran=True, passed=True)
BROKEN = ContainerCuda(
    container="vl_jepa_agent",
    ran=True,
    passed=False,
    failures=("cuda_matmul_ok is False; expected True", f"error in step cuda_matmul: {CUBLAS}"),
    diagnosis="Likely cause: shared memory exhausted  Fix: stop other GPU users",
)


def t(task: int | None, outcome: str = "passed", message: str = "", applies: bool = True, name: str = "") -> dict:
    nodeid = name or f"tests/x/test_task{task}.py::test_{outcome}_{message[:8]}"
    return {
        "nodeid": nodeid,
        "outcome": outcome,
        "tasks": [f"task{task}"] if task else [],
        "message": message,
        "applies": applies,
    }


def plan(evidence: ContainerCuda, backend: str, required: str = "any") -> dict:
    return decide(evidence, backend, required=required).as_dict()


FULL = [t(1), t(2), t(3), t(4), t(5, "skipped", "off path", applies=False), t(6)]
PLAN_B_RUN = [t(1), t(2), t(2, "xfailed", "led to Plan B"), t(3, "skipped", "off", applies=False), t(4), t(5), t(6)]


def test_every_end_state_has_a_verdict_and_the_deciding_checks():
    for state in runbook.END_STATES.values():
        assert state.verdict in ("passed", "failed", "not run")
        assert state.evidence and state.decided_by and state.title


def test_plan_a_with_task4_passing_is_plan_a_after_alignment():
    end = outcome(plan(WORKS, "pytorch"), FULL)
    assert (end.state, end.verdict, end.exit_status) == (runbook.PLAN_A_ALIGNED, "passed", 0)
    assert end.headline.startswith("Plan A, after alignment: PyTorch CUDA works in vl_jepa_agent")


def test_plan_a_without_task4_is_plan_a_healthy():
    end = outcome(plan(WORKS, "pytorch"), [x for x in FULL if x["tasks"] != ["task4"]])
    assert end.state == runbook.PLAN_A_HEALTHY and end.verdict == "passed"


def test_plan_b_with_cuda_broken_is_recovered_naming_the_recorded_failure():
    end = outcome(plan(BROKEN, "tensorrt"), PLAN_B_RUN)
    assert (end.state, end.verdict, end.exit_status) == (runbook.PLAN_B_ACCEPTED, "passed", 0)
    assert end.headline.startswith("recovered via Plan B: PyTorch CUDA fails in vl_jepa_agent")
    assert "CUBLAS_STATUS_ALLOC_FAILED" in end.headline
    assert end.notes == ("1 Task 2 PyTorch CUDA checks reported as the expected finding (xfail)",)


def test_plan_b_while_plan_a_would_serve_passes_with_a_note():
    end = outcome(plan(WORKS, "tensorrt"), [x for x in PLAN_B_RUN if x["outcome"] != "xfailed"])
    assert (end.state, end.verdict) == (runbook.PLAN_B_UNNEEDED, "passed")
    assert end.notes and "only if Plan A fails" in end.notes[0] and "note:" in end.headline


def test_plan_b_failing_task5_is_not_recovered_at_task5_with_its_fix():
    tests = [*PLAN_B_RUN, t(5, "failed", "engine does not load. Fix: rebuild it with trtexec")]
    end = outcome(plan(BROKEN, "tensorrt"), tests)
    assert (end.state, end.verdict, end.stops_at, end.exit_status) == (runbook.NOT_RECOVERED, "failed", 5, 1)
    assert end.fix == "rebuild it with trtexec"
    assert "Task 5 (TensorRT fallback (Plan B))" in end.headline


def test_the_first_failing_task_in_runbook_order_is_where_it_stops():
    tests = [t(6, "failed", "nothing on act/result"), t(1, "failed", "no tegrastats. Fix: install it"), *FULL]
    end = outcome(plan(WORKS, "pytorch"), tests)
    assert end.stops_at == 1 and end.fix == "install it" and "(+1 more failing checks)" in end.headline


def test_plan_a_failure_stops_at_task2_and_names_task4():
    tests = [t(1), t(2, "failed", "cuda_matmul_ok is False"), t(4)]
    end = outcome(plan(BROKEN, "pytorch"), tests)
    assert end.stops_at == 2 and end.fix.startswith("Task 4: align the container")
    assert "CUBLAS_STATUS_ALLOC_FAILED" in end.headline


@pytest.mark.parametrize(
    ("required", "evidence", "backend", "on"),
    [
        ("plan_a", BROKEN, "tensorrt", "Plan B"),
        ("plan_a", WORKS, "tensorrt", "Plan B"),
        ("plan_b", WORKS, "pytorch", "Plan A"),
    ],
)
def test_a_required_path_fails_a_device_on_the_other_in_one_line(required, evidence, backend, on):
    p = plan(evidence, backend, required)
    end = outcome(p, PLAN_B_RUN if backend == "tensorrt" else FULL)
    assert (end.verdict, end.exit_status, end.stops_at) == ("failed", 1, 2)
    assert f'[expect] path = "{required}"' in end.headline and f"the device is on {on}" in end.headline
    assert "\n" not in end.headline
    assert decide(evidence, backend, required=required).path_refusal() in end.headline


@pytest.mark.parametrize("required", ["any", "plan_b"])
def test_the_cuda_failure_is_expected_on_plan_b_unless_plan_a_is_required(required):
    reason = decide(BROKEN, "tensorrt", required=required).expected_cuda_failure()
    assert reason and "CUBLAS_STATUS_ALLOC_FAILED" in reason and "Fix: stop other GPU users" in reason
    assert decide(BROKEN, "tensorrt", required="plan_a").expected_cuda_failure() is None
    assert decide(BROKEN, "pytorch", required=required).expected_cuda_failure() is None
    assert decide(WORKS, "tensorrt", required=required).expected_cuda_failure() is None


def test_a_needed_task_that_checked_nothing_is_not_recovered():
    tests = [t(1), t(2), t(3, "skipped", "no MQTT broker: connection refused"), t(4), t(6)]
    end = outcome(plan(WORKS, "pytorch"), tests)
    assert (end.verdict, end.stops_at) == ("failed", 3) and "connection refused" in end.headline


def test_a_selection_without_the_decision_or_the_path_tasks_passes_without_an_end_state():
    assert outcome(None, [t(1)]).state == runbook.CHECKS_PASSED
    end = outcome(plan(WORKS, "pytorch"), [t(2)])
    assert (end.state, end.verdict) == (runbook.CHECKS_PASSED, "passed") and "Task 3 and Task 6" in end.headline


def test_all_skipped_is_not_run_and_exits_5():
    end = outcome(None, [t(1, "skipped", "Skipped: the device does not answer")])
    assert (end.state, end.verdict, end.exit_status) == (runbook.NOTHING_CHECKED, "not run", 5)
    assert "the device does not answer" in end.headline


def test_all_skipped_as_off_path_is_not_run_but_exits_0():
    end = outcome(plan(WORKS, "pytorch"), [t(5, "skipped", "Task 5 (Plan B) is active only when", applies=False)])
    assert (end.verdict, end.exit_status) == ("not run", 0) and "nothing selected applies" in end.headline


def test_no_test_at_all_is_not_run():
    assert outcome(None, []).verdict == "not run"


def test_summary_verdict_and_headline_come_from_the_end_state():
    doc = summary.build(
        run={"id": "r"},
        device={},
        plan=plan(BROKEN, "tensorrt"),
        tests=[{**x, "duration_s": 0.1} for x in PLAN_B_RUN],
        measurements=[],
        attachments=[],
        latency_ms=[],
        message_count=0,
        telemetry_samples=0,
        files=[],
        data={},
    )
    assert doc["run"]["verdict"] == "passed" and doc["run"]["headline"].startswith("recovered via Plan B")
    assert doc["outcome"]["state"] == "plan_b_accepted"
    assert doc["tasks"]["task2"] == {"verdict": "passed", "passed": 1, "failed": 0, "skipped": 0, "xfailed": 1}


def test_recorded_failure_without_an_error_line():
    assert runbook.recorded_failure({"failures": ["cuda_available False"]}) == "cuda_available False"
    assert runbook.recorded_failure({"not_run_reason": "container is exited"}) == "container is exited"


def test_a_failing_check_outside_the_runbook_fails_the_run_but_keeps_the_end_state():
    perf = t(None, "failed", "AssertionError: perf.embeddings_hz = 2.60 Hz, below the minimum 4.00 Hz", name="perf")
    end = outcome(plan(BROKEN, "tensorrt"), [*PLAN_B_RUN, perf])
    assert (end.state, end.verdict, end.exit_status) == (runbook.PLAN_B_ACCEPTED, "failed", 1)
    assert end.headline.startswith("recovered via Plan B") and "outside the runbook failed: AssertionError: perf" in (
        end.headline
    )


def test_runbook_failures_come_before_checks_outside_it():
    perf = t(None, "failed", "perf is low", name="perf")
    end = outcome(plan(BROKEN, "tensorrt"), [*PLAN_B_RUN, perf, t(5, "failed", "no engine")])
    assert end.state == runbook.NOT_RECOVERED and end.stops_at == 5
