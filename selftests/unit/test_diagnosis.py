"""jetson_hil.diagnosis: every failure signature of the facts (section 6, plus 5 and 8) found in its exact error
text, the runbook-level ones, ordering, superseding and the hint's wording."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.diagnosis import CATALOGUE, Diagnosis, Signature, diagnose, format_hint, signature

PROBE = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "probe"

# jetson-facts section 6, each exact text with the signature it must give (first = most specific).
FACTS_SECTION_6 = [
    ("OSError: libcurand.so.10: cannot open shared object file: No such file or directory", "cuda_libs_not_mounted"),
    (
        "ImportError: libnvToolsExt.so.1: cannot open shared object file: No such file or directory",
        "cuda_libs_not_mounted",
    ),
    ("OSError: libcublas.so.10: cannot open shared object file: No such file or directory", "cuda_libs_not_mounted"),
    ("NvRmMemInitNvmap failed with No such file or directory", "nvmap_missing"),
    ("356: Memory Manager Not supported", "nvmap_missing"),
    ("****NvRmMemMgrInit failed**** error type: 196626", "nvmap_missing"),
    ("NvRmMemInitNvmap failed with Permission denied", "nvmap_permission_denied"),
    ("549: Memory Manager Not supported", "nvmap_permission_denied"),
    ("****NvRmMemInit failed**** error type: 196626", "nvmap_permission_denied"),
    (
        ">>> torch.cuda.is_available()\nFalse\n>>> torch.version.cuda\n>>> print(torch.version.cuda)\nNone",
        "torch_cpu_build",
    ),
    ("cuda_available False\ncuda_version None", "torch_cpu_build"),
    ("torch.cuda.is_available() -> False", "cuda_unavailable"),
    ("RuntimeError: CUDA error: no kernel image is available for execution on the device", "no_kernel_image"),
    ("Error named symbol not found at line 62 in file /src/csrc/ops.cu", "no_kernel_image"),
    ("cudaGetDeviceCount returned 35", "cuda_driver_insufficient"),
    ("-> CUDA driver version is insufficient for CUDA runtime version", "cuda_driver_insufficient"),
    ("RuntimeError: CUDA error code=35(b'cudaErrorInsufficientDriver')", "cuda_driver_insufficient"),
    ("RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", "cublas_alloc_failed"),
    (
        "CUDA error: the resource allocation failed\n  current device: 0, in function ggml_cuda_op at ggml-cuda.cu:1\n"
        "  cublasCreate_v2(&cublas_handles[device])",
        "cublas_alloc_failed",
    ),
    (
        'RuntimeError: NVML_SUCCESS == r INTERNAL ASSERT FAILED at "/opt/pytorch/pytorch/c10/cuda/'
        'CUDACachingAllocator.cpp":838, please report a bug to PyTorch.',
        "nvml_assert_oom",
    ),
    ("Error code: 801\nError text: operation not supported", "cuda_malloc_async_unsupported"),
    (
        "[defaultAllocator.cpp::deallocateAsync::64] Error Code 1: Cuda Runtime (operation not supported)",
        "cuda_malloc_async_unsupported",
    ),
    ("ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory", "libcudnn_missing"),
    ("ImportError: libcudss.so.0: cannot open shared object file: No such file or directory", "libcudss_missing"),
    ("ValueError: Unknown CUDA arch (8.7+PTX) or GPU not supported", "unknown_cuda_arch"),
    (
        "nvidia-container-cli: mount error: stat failed: /dev/nvidiactl: no such file or directory",
        "nvidiactl_mount_error",
    ),
]

# jetson-facts sections 5 and 8, and the runbook's own failure texts.
OTHER_TEXTS = [
    (
        "invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is not "
        "supported. Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead.",
        "gpus_flag_hook",
    ),
    ("failed to generate CDI spec: ... error getting GPU device minor number: Not Supported", "cdi_generate_nvml"),
    (" Runtimes: io.containerd.runc.v2 runc\n Default Runtime: runc", "nvidia_runtime_missing"),
    (" Runtimes: io.containerd.runc.v2 nvidia runc\n Default Runtime: runc", "default_runtime_runc"),
    ("vl_jepa runtime is 'runc'; expected 'nvidia'", "container_runtime_runc"),
    (
        "AttributeError: 'tensorrt.tensorrt.ICudaEngine' object has no attribute 'binding_is_input'",
        "trt_binding_api_removed",
    ),
    (
        "[TRT] [E] 6: The engine plan file is not compatible with this version of TensorRT, expecting library "
        "version 8.2.3 got 8.2.1, please rebuild.\n4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: "
        "Internal Error (Engine deserialization failed.)",
        "trt_engine_version_mismatch",
    ),
    (
        "[TRT] [E] 1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: Serialization (Serialization "
        "assertion stdVersionRead == serializationVersion failed.Version tag does not match. Note: Current "
        "Version: 213, Serialized Engine Version: 205)",
        "trt_engine_version_mismatch",
    ),
    (
        "The engine plan file is generated on an incompatible device, expecting compute 8.6 got compute 7.5, "
        "please rebuild.",
        "trt_engine_wrong_device",
    ),
    ("deserialize_cuda_engine returned None for /mnt/ssd/models/x.engine", "trt_deserialize_failed"),
    (
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine'",
        "engine_missing",
    ),
    ("engine /mnt/ssd/models/vl_jepa/dinov2_small_224_f1_fp16.engine not found", "engine_missing"),
    ("embedding_guard: expected dim 768 got 384", "embedding_dim_mismatch"),
    ("VL_JEPA_DEVICE is 'cpu' in config/jetson.env; Task 3 needs 'cuda'", "config_device_cpu"),
    ("VL_JEPA_DEVICE=cpu", "config_device_cpu"),
    ("VL_JEPA_FP16=0", "config_fp16_off"),
    (
        "python3: can't open file '/app/tools/jetson/check_torch_cuda.py': [Errno 2] No such file or directory",
        "probe_missing",
    ),
    ("Error response from daemon: No such container: vl_jepa_agent", "container_not_running"),
    ("Error response from daemon: Container 3f2a9c is not running", "container_not_running"),
    (
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
        "docker_socket_permission",
    ),
    ("sudo: a password is required", "sudo_password_required"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB", "cuda_oom"),
    ("ModuleNotFoundError: No module named 'torch'", "torch_not_installed"),
    ("sm_supported False", "sm_not_in_arch_list"),
    ("cuda_matmul_ok False", "cuda_numeric_mismatch"),
]


@pytest.mark.parametrize(("text", "expected"), FACTS_SECTION_6 + OTHER_TEXTS)
def test_exact_text_gives_its_signature(text, expected):
    found = diagnose(text)
    assert found, f"nothing matched {text!r}"
    assert found[0].id == expected, [d.id for d in found]


def test_catalogue_covers_the_facts():
    ids = {s.id for s in CATALOGUE}
    assert {expected for _, expected in FACTS_SECTION_6} <= ids
    assert len({expected for _, expected in FACTS_SECTION_6}) == 14
    assert len(ids) == len(CATALOGUE)


@pytest.mark.parametrize("sig", CATALOGUE, ids=lambda s: s.id)
def test_every_signature_is_complete_and_actionable(sig: Signature):
    assert re.fullmatch(r"[a-z0-9_]+", sig.id)
    re.compile(sig.pattern)
    assert sig.cause and sig.fix and sig.source
    assert not sig.cause.endswith(".") and not sig.fix.endswith(".")
    assert set(sig.supersedes) <= {s.id for s in CATALOGUE}
    assert sig.id not in sig.supersedes
    # Fixes name something to change or run on the device, not just a diagnosis.
    assert re.search(r"`|/|=|rebuild|install|run|set|use|add|start|stop|free|upgrade|copy|delete", sig.fix)


def test_l4t_mismatch_fix_names_the_host_release():
    fix = signature("cuda_unavailable").fix
    assert fix.startswith(
        "rebuild vl_jepa FROM an l4t-pytorch image whose tag targets the host's L4T release (e.g. r36.x on JetPack 6"
    )


def test_specific_signature_hides_the_generic_one():
    cpu = (PROBE / "crafted_cpu_wheel_aarch64.txt").read_text()
    assert [d.id for d in diagnose(cpu)] == ["torch_cpu_build"]
    mismatch = (PROBE / "crafted_l4t_mismatch_r35_on_r36.txt").read_text()
    assert [d.id for d in diagnose(mismatch)] == ["cuda_unavailable"]
    nvmap = (PROBE / "crafted_nvmap_missing_generic_base.txt").read_text()
    assert [d.id for d in diagnose(nvmap)] == ["nvmap_missing"]
    driver = (PROBE / "crafted_driver_insufficient_cu128.txt").read_text()
    assert [d.id for d in diagnose(driver)] == ["cuda_driver_insufficient"]
    curand = (PROBE / "crafted_libcurand_r32_image.txt").read_text()
    assert [d.id for d in diagnose(curand)] == ["cuda_libs_not_mounted"]
    kernel = (PROBE / "crafted_no_kernel_image_orin.txt").read_text()
    assert [d.id for d in diagnose(kernel)] == ["no_kernel_image"]
    cublas = (PROBE / "crafted_cublas_alloc_failed_orin_nx.txt").read_text()
    assert [d.id for d in diagnose(cublas)] == ["cublas_alloc_failed"]
    nvml = (PROBE / "crafted_nvml_assert_orin_nano.txt").read_text()
    assert [d.id for d in diagnose(nvml)] == ["nvml_assert_oom"]


def test_real_captures():
    cpu_here = (PROBE / "cpu_torch213_devcontainer.txt").read_text()
    assert [d.id for d in diagnose(cpu_here)] == ["torch_cpu_build"]
    no_torch = (PROBE / "no_torch_python311.txt").read_text()
    assert [d.id for d in diagnose(no_torch)] == ["torch_not_installed"]
    hidden = (PROBE / "cuda_hidden_h200_torch211_cu130.txt").read_text()
    assert [d.id for d in diagnose(hidden)] == ["cuda_unavailable"]
    assert diagnose((PROBE / "pass_h200_torch211_cu130.txt").read_text()) == []
    injected = (PROBE / "injected_fp16_error_h200.txt").read_text()
    assert [d.id for d in diagnose(injected)] == ["no_kernel_image"]


def test_several_texts_each_signature_once_in_catalogue_order():
    logs = "OSError: libcurand.so.10: cannot open shared object file\nVL_JEPA_DEVICE=cpu\n"
    info = " Runtimes: io.containerd.runc.v2 nvidia runc\n Default Runtime: runc\n"
    found = diagnose(None, "", info, logs, logs)
    assert [d.id for d in found] == ["cuda_libs_not_mounted", "default_runtime_runc", "config_device_cpu"]
    assert found[0] == Diagnosis(
        signature("cuda_libs_not_mounted"), "libcurand.so.10: cannot open shared object file", text_index=3,
        line=1, evidence="OSError: libcurand.so.10: cannot open shared object file",
    )
    assert found[1].text_index == 2 and found[1].line == 2 and found[1].evidence == "Default Runtime: runc"
    assert diagnose() == [] and diagnose(None, "") == []


def test_match_groups_carry_the_numbers():
    (d,) = diagnose("embedding_guard: expected dim 768 got 384")
    assert d.groups == ("768", "384")


def test_format_hint_wording():
    (d,) = diagnose("VL_JEPA_DEVICE=cpu")
    assert format_hint([d]) == (
        "Likely cause: config/jetson.env asks vl_jepa for CPU embeddings (VL_JEPA_DEVICE=cpu)  "
        "Fix: set VL_JEPA_DEVICE=cuda and VL_JEPA_FP16=1 in config/jetson.env, then "
        "sudo -n docker compose up -d --force-recreate vl_jepa embedding_guard scene policy"
    )
    two = diagnose("VL_JEPA_DEVICE=cpu\nVL_JEPA_FP16=0")
    assert format_hint(two).split("\n") == [d.hint() for d in two]
    assert all(line.startswith("Likely cause: ") and "  Fix: " in line for line in format_hint(two).split("\n"))
    assert format_hint([]) == ""


def test_unknown_signature_id():
    with pytest.raises(KeyError, match="no signature 'nope'"):
        signature("nope")


@given(st.text())
def test_arbitrary_text_never_raises(text):
    found = diagnose(text)
    assert len({d.id for d in found}) == len(found)


# The simulator faults' real error texts (jetson_hil.sim.fault_docs.ERROR_TEXT): each keeps the diagnosis its row
# shows; texts no signature explains are listed so a new one is a conscious addition.
FAULT_TEXT_DIAGNOSIS = {
    "no_nvidia_runtime": "nvmap_missing",
    "cuda_driver_insufficient": "cuda_driver_insufficient",
    "no_kernel_image": "no_kernel_image",
    "cublas_alloc_failed": "cublas_alloc_failed",
    "libcudnn_missing": "libcudnn_missing",
    "cpu_only_torch": "torch_cpu_build",
    "requirements_override_torch": "torch_cpu_build",
    "l4t_mismatch": "cuda_unavailable",
    "tegrastats_needs_root": "sudo_password_required",
    "dgpu_driver_not_loaded": "cuda_no_device",
    "dgpu_driver_library_mismatch": "nvml_driver_mismatch",
    "dgpu_driver_too_old": "cuda_driver_insufficient",
}


def test_fault_matrix_error_texts_keep_their_diagnosis():
    from jetson_hil.sim.fault_docs import ERROR_TEXT

    got = {fault: [d.id for d in diagnose(text)] for fault, text in ERROR_TEXT.items()}
    for fault, expected in FAULT_TEXT_DIAGNOSIS.items():
        assert got[fault][:1] == [expected], (fault, got[fault])
    unexplained = sorted(f for f, ids in got.items() if not ids)
    assert unexplained == ["broker_down", "cuda_init_crash", "dgpu_mig_no_utilisation", "jetpack_package_missing",
                           "tegra_release_missing", "tegrastats_missing"]


def test_as_dict_is_the_structured_form():
    (d,) = diagnose("ok\nImportError: libcudnn.so.8: cannot open shared object file", sources=["docker logs vl_jepa"])
    assert d.as_dict() == {
        "id": "libcudnn_missing",
        "family": "CUDA libraries missing",
        "cause": d.cause,
        "fix": d.fix,
        "evidence": "ImportError: libcudnn.so.8: cannot open shared object file",
        "match": "libcudnn.so.8: cannot open shared object file",
        "where": "docker logs vl_jepa",
        "line": 2,
        "explains": ["cuda_libs_not_mounted"],
        "source": d.source,
    }


def test_agent_startup_race_with_the_broker_is_healthy():
    race = (
        "2026-02-01T10:00:00.125Z vl_jepa: MQTT connecting to 127.0.0.1:1883\n"
        "2026-02-01T10:00:00.126Z vl_jepa: MQTT broker 127.0.0.1:1883 unreachable; retrying with backoff\n"
        "2026-02-01T10:00:01.200Z vl_jepa: MQTT connected to 127.0.0.1:1883\n"
    )
    assert diagnose(race) == []
    down = race.rsplit("\n", 2)[0] + "\n"
    assert [d.id for d in diagnose(down)] == ["mqtt_connection_refused"]
    refused = "2026-02-01T10:00:00.126Z scene: MQTT 127.0.0.1:1883 refused the connection: Not authorized\n"
    assert [d.id for d in diagnose(refused)] == ["mqtt_not_authorised"]
