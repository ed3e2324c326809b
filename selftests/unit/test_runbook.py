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
    assert runbook.DECIDED_BY in reason
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
    assert data["decided_by"] == runbook.DECIDED_BY


def test_summary_shortens_long_failure_lists():
    ev = ContainerCuda("c", True, False, failures=tuple(f"f{i}" for i in range(6)))
    assert ev.summary().endswith("f0; f1; f2 (+3 more)")
    assert ABSENT.summary() == "check_torch_cuda.py could not run in vl_jepa_agent: container is exited"


# ------------------------------------------------------------------------------------ Task 4 helpers


@pytest.mark.parametrize(
    ("dockerfile", "image"),
    [
        ("FROM dustynv/l4t-pytorch:r36.4.0\nWORKDIR /app\n", "dustynv/l4t-pytorch:r36.4.0"),
        (
            "# comment\nFROM --platform=linux/arm64 nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3 AS run\n",
            "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3",
        ),
        ("ARG BASE=dustynv/pytorch:2.1-r36.2.0\nFROM ${BASE}\n", "dustynv/pytorch:2.1-r36.2.0"),
        ("ARG TAG\nFROM nvcr.io/nvidia/l4t-base:$TAG\n", None),  # no default: cannot say
        (
            "FROM nvcr.io/nvidia/l4t-jetpack:r36.4.0 AS build\nRUN make\nFROM build\nCOPY . /app\n",
            "nvcr.io/nvidia/l4t-jetpack:r36.4.0",
        ),
        (
            "FROM python:3.10 AS wheels\nFROM dustynv/l4t-pytorch:r36.4.0\nCOPY --from=wheels /w /w\n",
            "dustynv/l4t-pytorch:r36.4.0",
        ),
        ("FROM \\\n  dustynv/l4t-pytorch:r36.4.0\n", "dustynv/l4t-pytorch:r36.4.0"),
        ("RUN true\n", None),
    ],
)
def test_base_image(dockerfile, image):
    assert runbook.base_image(dockerfile) == image


def test_base_image_of_the_simulators_fault_edit():
    """The l4t_mismatch fault rewrites the first FROM line; the final stage is what runs."""
    text = (
        "FROM nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3\nWORKDIR /app\nRUN pip3 install -r /app/requirements.txt\n"
    )
    assert runbook.base_image(text) == "nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3"


@pytest.mark.parametrize(
    ("requirements", "found"),
    [
        ("# torch comes with the base image: never list it here\nnumpy\npaho-mqtt>=2\nonnxruntime\n", []),
        ("numpy\ntorch>=2.0\n", [("torch", False)]),
        ("torchvision==0.20.0  # pulls torch from PyPI\n", [("torchvision", False)]),
        ("Torch_Audio\ntorch-tensorrt\n", []),  # other projects whose names start alike
        ("--index-url https://pypi.jetson-ai-lab.io/jp6/cu126\ntorch==2.5.0\n", [("torch", True)]),
        ("--extra-index-url https://pypi.jetson-ai-lab.io/jp6/cu126\ntorch\n", [("torch", False)]),
        (
            "https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/"
            "torch-2.5.0a0+872d972e41.nv24.08.17622132-cp310-cp310-linux_aarch64.whl\n",
            [("torch", True)],
        ),
        (
            "torch @ https://download.pytorch.org/whl/cpu/torch-2.5.0-cp310-cp310-linux_aarch64.whl\n",
            [("torch", False)],
        ),
        ("-r base.txt\n-c constraints.txt\n", []),
    ],
)
def test_torch_requirements(requirements, found):
    assert [(r.package, r.jetson_source) for r in runbook.torch_requirements(requirements)] == found


def test_torch_requirement_names_its_line():
    (req,) = runbook.torch_requirements("numpy\n\ntorch>=2.0\n")
    assert req.describe() == "line 3: 'torch>=2.0'"
