"""jetson_hil.runbook: Task 2's evidence chooses the runbook path; off-path tasks say why they skip."""

from __future__ import annotations

import json

import pytest

from jetson_hil import runbook
from jetson_hil.runbook import ContainerCuda, decide

HEALTHY = ContainerCuda(container="vl_jepa_agent", ran=True, passed=True, output="cuda_available True\n")
BROKEN = ContainerCuda(
    container="vl_jepa_agent",
    ran=True,
    passed=False,
    failures=("cuda_available False", "error RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED"),
    diagnosis="Likely cause: GPU memory exhausted.  Fix: free memory",
)
ABSENT = ContainerCuda(container="vl_jepa_agent", ran=False, passed=False, not_run_reason="container is exited")


def test_cuda_works_leads_to_task3():
    plan = decide(HEALTHY, "pytorch")
    assert plan.path == runbook.PLAN_A_SUCCESS
    assert plan.next_task == 3
    assert plan.skip_reason(3) is None
    assert "passed in vl_jepa_agent" in plan.reason


@pytest.mark.parametrize("evidence", [BROKEN, ABSENT])
def test_cuda_fails_leads_to_task4_and_task3_skips_with_the_evidence(evidence):
    plan = decide(evidence, "pytorch")
    assert plan.path == runbook.PLAN_A_FAILURE
    assert plan.next_task == 4
    reason = plan.skip_reason(3)
    assert reason is not None
    assert "Plan A failure path" in reason
    assert runbook.DECIDING_TEST in reason
    assert evidence.summary() in reason
    assert plan.skip_reason(4) is None


def test_failure_reason_carries_the_diagnosis():
    plan = decide(BROKEN, "pytorch")
    assert "cuda_available False" in plan.reason
    assert plan.reason.endswith("Fix: free memory")


@pytest.mark.parametrize("evidence", [HEALTHY, BROKEN])
def test_tensorrt_backend_is_plan_b_whatever_task2_found(evidence):
    plan = decide(evidence, "tensorrt")
    assert plan.path == runbook.PLAN_B
    assert plan.next_task == 5
    assert plan.skip_reason(5) is None
    assert "Plan B path" in plan.skip_reason(3)


@pytest.mark.parametrize("evidence", [HEALTHY, BROKEN])
def test_task5_skips_off_plan_b_naming_the_backend(evidence):
    reason = decide(evidence, "pytorch").skip_reason(5)
    assert reason is not None and "VL_JEPA_BACKEND=tensorrt" in reason


@pytest.mark.parametrize("task", [1, 2, 4, 6])
@pytest.mark.parametrize("evidence,backend", [(HEALTHY, "pytorch"), (BROKEN, "pytorch"), (HEALTHY, "tensorrt")])
def test_tasks_on_every_path_never_skip(task, evidence, backend):
    assert decide(evidence, backend).skip_reason(task) is None


def test_missing_backend_defaults_to_pytorch_and_says_so():
    plan = decide(HEALTHY, None)
    assert plan.backend == "pytorch"
    assert plan.path == runbook.PLAN_A_SUCCESS
    assert any("not set" in note for note in plan.notes)


def test_unknown_backend_is_undecided_and_plan_tasks_skip():
    plan = decide(HEALTHY, "onnx")
    assert plan.path == runbook.UNDECIDED
    assert plan.next_task is None
    assert "'onnx'" in plan.reason
    assert plan.skip_reason(3) is not None and plan.skip_reason(5) is not None


def test_plan_is_json_safe_for_the_report():
    data = json.loads(json.dumps(decide(BROKEN, "pytorch").as_dict()))
    assert data["path"] == "plan_a_failure"
    assert data["evidence"]["failures"][0] == "cuda_available False"
    assert data["decided_by"] == runbook.DECIDING_TEST


def test_summary_shortens_long_failure_lists():
    ev = ContainerCuda("c", True, False, failures=tuple(f"f{i}" for i in range(6)))
    assert ev.summary().endswith("f0; f1; f2 (+3 more)")
    assert ABSENT.summary() == "check_torch_cuda.py could not run in vl_jepa_agent: container is exited"
