"""jetson_hil.probe on real captures of tools/jetson/check_torch_cuda.py (CPU torch here, a CUDA GPU host) and on
outputs crafted around the facts' exact error texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.errors import ParseError
from jetson_hil.probe import CHECKS, ProbeError, parse_probe

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "probe"
HEADER = ("# source:", "# note:")


def load(name: str) -> str:
    lines = (DATA / name).read_text().splitlines()
    assert lines[0].startswith("# source: "), f"{name} must name its source on line 1"
    return "\n".join(line for line in lines if not line.startswith(HEADER)) + "\n"


def test_real_cpu_torch_capture():
    r = parse_probe(load("cpu_torch213_devcontainer.txt"))
    assert r.torch_version == "2.13.0+cpu"
    assert r.fields["python"] == "3.11.7"
    assert r.cuda_available is False
    assert r.cuda_version is None
    assert r.cudnn is None
    assert r.device_count == 0
    assert r.device is None
    assert r.capability is None
    assert r.arch_list == []
    assert r.sm_supported is None
    assert r.checks == {}
    assert r.errors == []
    assert r.result == "fail"
    assert r.passed is False
    assert r.other_lines == []
    assert r.failures() == [
        "cuda_available is False; expected True (torch.version.cuda is None: a CPU-only torch build)"
    ]


def test_real_cuda_pass_capture():
    r = parse_probe(load("pass_h200_torch211_cu130.txt"))
    assert (r.torch_version, r.cuda_available, r.cuda_version, r.cudnn) == ("2.11.0+cu130", True, "13.0", 91900)
    assert (r.device_count, r.device, r.capability) == (1, "NVIDIA H200", (9, 0))
    assert r.arch_list == ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert r.sm_supported is True
    assert r.checks == {name: True for name in CHECKS}
    assert r.max_errors["cuda_matmul"] == 0.0
    assert 0 < r.max_errors["cuda_fp16"] < 0.01
    assert r.max_errors["cudnn_conv"] < 1e-5
    assert (r.result, r.passed, r.failures()) == ("pass", True, [])
    assert r.fields["dev_nvmap"] == "False"


def test_real_json_capture_reads_the_same():
    lines = parse_probe(load("pass_h200_torch211_cu130.txt"))
    js = parse_probe(load("pass_h200_torch211_cu130_json.txt"))
    assert js.passed is True
    for attr in (
        "torch_version",
        "cuda_available",
        "cuda_version",
        "cudnn",
        "device",
        "capability",
        "arch_list",
        "checks",
    ):
        assert getattr(js, attr) == getattr(lines, attr), attr


def test_real_cuda_build_without_gpu():
    r = parse_probe(load("cuda_hidden_h200_torch211_cu130.txt"))
    assert (r.cuda_available, r.cuda_version, r.cudnn, r.device_count) == (False, "13.0", 91900, 0)
    assert r.fields["checks_skipped"] == "cuda not available"
    assert r.failures() == ["cuda_available is False; expected True (torch is built for CUDA 13.0 but sees no GPU)"]


def test_real_missing_torch_with_traceback_lines():
    r = parse_probe(load("no_torch_python311.txt"))
    assert r.fields["torch"] == "None" and r.torch_version is None
    assert r.step_errors == [ProbeError("import_torch", "ImportError", "No module named 'torch'")]
    assert r.errors == ["ImportError: No module named 'torch'"]
    assert r.other_lines[0] == "Traceback (most recent call last):"
    assert r.other_lines[-1] == "ModuleNotFoundError: No module named 'torch'"
    assert r.passed is False
    assert r.failures() == [
        "torch could not be imported; expected an importable CUDA build of torch",
        "cuda_available is not reported; expected True",
        "error in step import_torch: ImportError: No module named 'torch'",
    ]


def test_real_watchdog_timeout():
    r = parse_probe(load("watchdog_timeout_devcontainer.txt"))
    assert r.step_errors == [ProbeError("watchdog", "TimeoutError", "probe did not finish within 0.05s")]
    assert r.result == "fail"


def test_real_step_error_on_a_gpu():
    r = parse_probe(load("injected_fp16_error_h200.txt"))
    assert r.checks == {"cuda_matmul_ok": True, "cuda_fp16_ok": False, "cudnn_conv_ok": True}
    assert r.step_errors == [
        ProbeError("cuda_fp16", "RuntimeError", "CUDA error: no kernel image is available for execution on the device")
    ]
    assert "cuda_fp16_max_err" not in r.fields
    assert r.other_lines[0] == "Traceback (most recent call last):"
    assert r.other_lines[-1] == "CUDA kernel errors might be asynchronously reported at some other API call"
    assert (r.result, r.passed) == ("fail", False)
    assert r.failures() == [
        "cuda_fp16_ok is False; expected True",
        "error in step cuda_fp16: RuntimeError: CUDA error: no kernel image is available for execution on the device",
    ]


def test_crafted_no_kernel_image():
    r = parse_probe(load("crafted_no_kernel_image_orin.txt"))
    assert (r.device, r.capability, r.sm_supported) == ("Orin", (8, 7), False)
    assert r.checks == {"cuda_matmul_ok": False, "cuda_fp16_ok": False, "cudnn_conv_ok": False}
    assert [e.step for e in r.step_errors] == ["cuda_matmul", "cuda_fp16", "cudnn_conv"]
    assert r.errors[0] == "RuntimeError: CUDA error: no kernel image is available for execution on the device"
    assert "Traceback (most recent call last):" in r.other_lines
    assert r.other_lines[-1].startswith("CUDA kernel errors might be asynchronously reported")
    failures = r.failures()
    assert (
        failures[0]
        == "sm_87 not in arch_list [sm_50 sm_80 sm_86 sm_89 sm_90 sm_90a]; expected the wheel to include sm_87"
    )
    assert "cuda_matmul_ok is False; expected True" in failures
    assert failures[-1] == (
        "error in step cudnn_conv: RuntimeError: CUDA error: no kernel image is available for execution on the device"
    )


def test_crafted_partial_failure_keeps_passing_checks():
    r = parse_probe(load("crafted_nvml_assert_orin_nano.txt"))
    assert r.checks == {"cuda_matmul_ok": False, "cuda_fp16_ok": True, "cudnn_conv_ok": True}
    assert r.step_errors[0].message.startswith("NVML_SUCCESS == r INTERNAL ASSERT FAILED at ")
    assert r.passed is False
    assert [f for f in r.failures() if f.startswith("cuda_")] == ["cuda_matmul_ok is False; expected True"]


def test_crafted_cublas_message_keeps_backticks():
    r = parse_probe(load("crafted_cublas_alloc_failed_orin_nx.txt"))
    assert r.errors[0] == "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
    assert r.torch_version == "2.5.0a0+872d972e41.nv24.08"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (
            "crafted_libcurand_r32_image.txt",
            "OSError: libcurand.so.10: cannot open shared object file: No such file or directory",
        ),
        (
            "crafted_libcudnn8_jp6.txt",
            "ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory",
        ),
        (
            "crafted_libcudss_jp6_cu126.txt",
            "ImportError: libcudss.so.0: cannot open shared object file: No such file or directory",
        ),
    ],
)
def test_crafted_import_failures(name, error):
    r = parse_probe(load(name))
    assert r.errors == [error]
    assert r.step_errors[0].step == "import_torch"
    assert (r.torch_version, r.cuda_available, r.passed) == (None, None, False)


def test_crafted_stderr_lines_are_kept_in_order():
    r = parse_probe(load("crafted_nvmap_missing_generic_base.txt"))
    assert r.other_lines == [
        "NvRmMemInitNvmap failed with No such file or directory",
        "356: Memory Manager Not supported",
        "****NvRmMemMgrInit failed**** error type: 196626",
    ]
    assert (r.cuda_available, r.cuda_version, r.fields["dev_nvmap"]) == (False, "11.4", "False")
    r = parse_probe(load("crafted_driver_insufficient_cu128.txt"))
    assert r.other_lines == [
        "cudaGetDeviceCount returned 35",
        "-> CUDA driver version is insufficient for CUDA runtime version",
    ]


def test_crafted_truncated_output_has_no_result():
    r = parse_probe(load("crafted_truncated_killed.txt"))
    assert (r.cuda_available, r.result, r.passed) == (True, None, False)
    assert r.failures() == [
        "cuda_matmul_ok not reported; expected True",
        "cuda_fp16_ok not reported; expected True",
        "cudnn_conv_ok not reported; expected True",
        "no 'result' line; expected 'result pass' (the probe did not finish)",
    ]


def test_result_pass_alone_is_not_a_pass():
    assert parse_probe("result pass\n").passed is False
    assert parse_probe("cuda_available True\nresult pass\n").passed is False


def test_capability_and_arch_list_derive_sm_supported():
    r = parse_probe("capability 8.7\narch_list sm_72 sm_87\n")
    assert (r.capability, r.sm_supported) == ((8, 7), True)
    assert parse_probe("capability 8.7\narch_list sm_72\n").sm_supported is False


def test_bad_json_shape_is_a_parse_error():
    with pytest.raises(ParseError):
        parse_probe('{"result": "fail", "errors": "not a list"}')


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text):
    try:
        r = parse_probe(text)
    except ParseError:
        return
    _read_everything(r)


def _read_everything(r) -> None:
    """Every accessor works on whatever was parsed."""
    assert isinstance(r.passed, bool)
    assert all(isinstance(line, str) for line in r.failures())
    assert r.cuda_available in (True, False, None) and r.sm_supported in (True, False, None)
    assert r.cudnn is None or isinstance(r.cudnn, int)
    assert r.device_count is None or isinstance(r.device_count, int)
    assert r.capability is None or len(r.capability) == 2
    assert isinstance(r.arch_list, list) and isinstance(r.max_errors, dict) and isinstance(r.errors, list)


JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.lists(st.text(max_size=5))
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "torch",
                "cudnn",
                "capability",
                "arch_list",
                "cuda_available",
                "device_count",
                "cuda_matmul_ok",
                "cuda_matmul_max_err",
                "errors",
                "error_steps",
                "x",
            ]
        ),
        JSON_VALUES,
    )
)
def test_arbitrary_json_objects_raise_only_parse_error(data):
    data["result"] = "fail"
    try:
        r = parse_probe(json.dumps(data))
    except ParseError:
        return
    _read_everything(r)
