"""The fault matrix: for every simulator fault, which acceptance checks must fail and what they must say.

One source of truth for `selftests/meta/` (which runs the acceptance suite under each fault and compares),
`bench/fault_matrix.py` and the generated `docs/fault-matrix.md` and `docs/faults.md`
(`python -m jetson_hil.sim.faultmatrix --write-docs`; `--check` exits 1 when either is out of date).

A row's `expected` maps each test id that must fail (exactly as pytest prints it) to a short, distinctive
text its failure message must contain: the diagnosis (cause or fix), not a number. Every test not in
`expected` must pass or skip with a stated reason. Expectations were taken from real runs of the suite
against the simulator at the matrix's window (`WINDOW_S`), keeping only effects seen on every run.

`any_of` names checks of which at least one must fail (each one that fails with its text), where a race
between the fault and the check decides which one sees it first. `tolerated` lists knock-on failures that
a fault causes on some runs and not others (timing of a recreated container against the evidence window);
they are allowed, never required, and each says why.
Keep it short: a check that only sometimes fails under its own fault is not proven by that fault.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jetson_hil.sim.faults import FAULTS
from jetson_hil.sim.simulator import USER_PROFILE

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

_T1 = "tests/host/test_task1_gpu_diag.py::"
_T2 = "tests/container/test_task2_container_cuda.py::"
_T3 = "tests/mqtt/test_task3_gpu_embeddings.py::"
_T4 = "tests/container/test_task4_image_alignment.py::"
_T5 = "tests/container/test_task5_tensorrt.py::"
_T6 = "tests/mqtt/test_task6_success.py::"
_STACK = "tests/mqtt/test_task6_whole_stack.py::"
_T1P = "tests/host/test_task1_host_probe.py::"
IMAGE_PROBE = _T2 + "test_image_carries_the_runbooks_probe"
GUARD_JOB = _STACK + "test_guard_classifies_the_embeddings"
SCENE_KEEPS_UP = _STACK + "test_scene_keeps_up_with_the_embeddings"


def service_check(service: str) -> str:
    """The whole-stack check of one compose service's container (running, not paused, not restarting)."""
    return _STACK + f"test_service_is_running_and_not_restarting[{service}]"


GUARD_SILENT = "embedding_guard published nothing on vision/guard"
SCENE_DOWN = {
    _T6 + "test_understanding_arrives": "the scene agent is down",
    _T6 + "test_location_updates_keep_coming": "scene stalls or stops locating",
    _T6 + "test_actuation_results_arrive": "nothing on act/result",
}

MATMUL = _T2 + "test_gpu_computes_correctly[cuda_matmul_ok-an fp32 matmul on the GPU equals the CPU's]"
FP16 = _T2 + "test_gpu_computes_correctly[cuda_fp16_ok-an fp16 matmul on the GPU is close to the CPU's]"
CONV = _T2 + "test_gpu_computes_correctly[cudnn_conv_ok-a cuDNN Conv2d forward on the GPU equals the CPU's]"
GROUPS = ("nvidia-jetpack", "cuda", "cudnn", "tensorrt")  # Task 1's package groups, in its parametrize order
GPU_IDLE = "the GPU is idle during the window"
GPU_UNUSED = "CUDA working in the container"  # the fix test_agent_*_on_the_gpu names when vl_jepa computes elsewhere
STILL_ON_GPU = _T6 + "test_agent_still_computes_on_the_gpu"
# A crash-looping vl_jepa: which check meets it running, restarting, or mid-restart is a race
CRASHLOOP_RACES = {
    _T2 + "test_probe_runs_in_the_container": "the container restarts between the status check and the probe's exec",
    IMAGE_PROBE: "the container restarts between the status check and this check's exec",
    STILL_ON_GPU: "a restarting vl_jepa holds a CUDA context for a moment before it exits",
}
# A scene recreated by the switch to a crash-looping row has seen no embedding (rows that stop vl_jepa for good
# expect these failures)
SCENE_NEVER_FED = {
    check: "scene, recreated when the switch to this row cleared the previous row's fault, has seen no embedding "
    "from a vl_jepa that crashes on start"
    for check in (_T6 + "test_understanding_carries_an_embeddings_block", _T6 + "test_location_updates_keep_coming")
}
# A scene recreated by the switch to the row has no location yet, and finds none in NaN or absent embeddings
SCENE_NOT_LOCATED = {
    _T6 + "test_location_updates_keep_coming": "scene, recreated when the switch to this row cleared the previous "
    "row's fault, has no location yet and cannot find one without finite embeddings",
}
NO_RELEASE = "Task 1 needs the L4T release"
MIXED = "Mixed JetPack releases break CUDA in containers"
NO_SAMPLE = "tegrastats gave no sample to identify it by"
# the dGPU checks that read nvidia-smi, and what they say when the driver fails (nvidia-smi's own texts)
DGPU_SMI_CHECKS = (
    "test_dgpu_nvidia_smi_lists_the_gpus",
    "test_dgpu_driver_version_is_one_driver",
    "test_dgpu_driver_reports_its_cuda_version",
    "test_dgpu_driver_supports_the_cuda_toolkit",
    "test_dgpu_driver_supports_the_container_cuda",
)
NO_DRIVER = "couldn't communicate with the NVIDIA driver"
MISMATCH = "Driver/library version mismatch"
SAMPLER_DOWN = "the NVML sampler (tools/jetson/gpu_sampler.py) does not run on the device"
CUDA_FALSE = "torch.cuda.is_available() is False"


@dataclass(frozen=True)
class Row:
    fault: str
    scenario: str
    expected: dict[str, str]  # test id -> text its failure message must contain
    # at least one of these must fail, each one that fails with its text: the checks a race decides between
    # (a crash-looping container is seen "restarting" by the first check, or "running" and then restarted)
    any_of: dict[str, str] = field(default_factory=dict)
    tolerated: dict[str, str] = field(default_factory=dict)  # test id -> why it may also fail
    note: str = ""
    window_s: float | None = None  # a longer window where the fault's check needs one (else WINDOW_S)
    profile: str = ""  # the simulator's profile to run with (`USER_PROFILE`: as its non-root user), else device.toml
    name: str = ""  # the row's own name where one fault has several rows (else the fault's)
    expect_path: str = ""  # the profile's [expect] path for this row's run ("" leaves the simulator's profile as is)

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
    Row(
        "config_cpu",
        PLAN_A,
        {
            _T3 + "test_env_file_asks_for_the_gpu": "VL_JEPA_DEVICE is 'cpu'",
            _T3 + "test_metadata_says_cuda_and_fp16": "device='cpu', expected 'cuda'",
            _T3 + "test_gpu_load_while_embeddings_flow": "they run on the CPU",
            _T3 + "test_agent_process_computes_on_the_gpu": GPU_UNUSED,
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "fp16_off",
        PLAN_A,
        {
            _T3 + "test_env_file_asks_for_fp16": "VL_JEPA_FP16 is '0'",
            _T3 + "test_metadata_says_cuda_and_fp16": "dtype='float32', expected float16",
        },
    ),
    Row(
        "wrong_dim",
        PLAN_A,
        {
            _T6 + "test_understanding_carries_an_embeddings_block": "guard_state is 'error'",
        },
    ),
    Row(
        "l4t_mismatch",
        PLAN_A,
        {
            _T2 + "test_cuda_is_available": "L4T major release differs from the host's",
            _T4 + "test_dockerfile_base_image_targets_the_host_l4t": "an R36 host needs an R36 container",
            _T4 + "test_running_image_targets_the_host_l4t": "built for L4T 35.2.1",
            _T4 + "test_torch_cuda_matches_the_host_cuda": "a CUDA 11 build cannot run on the host's CUDA 12 driver",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "cuda_driver_insufficient",
        PLAN_A,
        {
            _T2 + "test_cuda_is_available": "newer than the host's L4T driver supports",
            _T4 + "test_torch_cuda_matches_the_host_cuda": "error 35",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "requirements_override_torch",
        PLAN_A,
        {
            _T2 + "test_cuda_is_available": "torch is a CPU-only wheel",
            _T2 + "test_torch_reports_its_cuda_version": "torch.version.cuda is None",
            _T2 + "test_cudnn_is_available": "no cuDNN for torch",
            _T4 + "test_torch_is_a_cuda_build": "is a CPU-only build",
            _T4 + "test_requirements_keep_the_jetson_torch": "installs torch from PyPI",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "cpu_only_torch",
        PLAN_A,
        {
            _T2 + "test_cuda_is_available": "torch is a CPU-only wheel",
            _T2 + "test_torch_reports_its_cuda_version": "torch.version.cuda is None",
            _T2 + "test_cudnn_is_available": "no cuDNN for torch",
            _T4 + "test_torch_is_a_cuda_build": "is a CPU-only build",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "no_kernel_image",
        PLAN_A,
        {
            _T2 + "test_gpu_device_is_named": "no kernel image",
            MATMUL: "no kernel image is available",
            FP16: "no kernel image is available",
            CONV: "no kernel image is available",
            _T4 + "test_requirements_keep_the_jetson_torch": "installs torch from PyPI",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "libcudnn_missing",
        PLAN_A,
        {
            _T6 + "test_gpu_active": GPU_IDLE,
        },
        any_of={
            _T2 + "test_agent_container_is_running": "libcudnn.so.9",
            _T2 + "test_agent_container_is_not_restarting": "crashed and was restarted by Docker",
            _T2 + "test_agent_sees_the_gpu_device_nodes": "cuDNN is missing from the image",
        },
        tolerated={**CRASHLOOP_RACES, **SCENE_NEVER_FED},
    ),
    Row(
        "no_nvidia_runtime",
        PLAN_A,
        {
            _T2 + "test_agent_uses_the_nvidia_runtime": "runtime 'runc'",
            _T2 + "test_agent_sees_the_gpu_device_nodes": "has no /dev/nvmap",
            _T2 + "test_cuda_is_available": "Tegra GPU device nodes are not in the container",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "container_crashloop",
        PLAN_A,
        {
            _T6 + "test_understanding_carries_an_embeddings_block": "no embedding has reached scene",
            _T6 + "test_location_updates_keep_coming": "scene stalls or stops locating",
            _T6 + "test_gpu_active": GPU_IDLE,
        },
        any_of={
            _T2 + "test_agent_container_is_running": "VL_JEPA_INPUT_SIZE",
            _T2 + "test_agent_container_is_not_restarting": "crashed and was restarted by Docker",
            _T2 + "test_agent_sees_the_gpu_device_nodes": "is restarting, not running",
        },
        tolerated=CRASHLOOP_RACES,
    ),
    # --- gpu fault ---
    Row(
        "cublas_alloc_failed",
        PLAN_A,
        {
            MATMUL: "CUBLAS_STATUS_ALLOC_FAILED",
            FP16: "CUBLAS_STATUS_ALLOC_FAILED",
            CONV: "CUBLAS_STATUS_ALLOC_FAILED",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    # --- device faults ---
    Row(
        "broker_down",
        PLAN_A,
        {
            _T3 + "test_embeddings_arrive_within_the_window": "MQTT broker 127.0.0.1",
            service_check("mosquitto"): "mosquitto (",
        },
        note="the broker is the session's MQTT transport: the first MQTT check fails, every later one skips naming it",
    ),
    Row(
        "jetpack_package_missing",
        PLAN_A,
        {
            _T1 + "test_jetpack_packages_present[nvidia-jetpack]": "sudo apt install nvidia-jetpack",
        },
    ),
    # --- agent faults (read live by the agents) ---
    Row(
        "nan_embeddings",
        PLAN_A,
        {
            _T3 + "test_embedding_is_a_list_of_finite_numbers_of_the_expected_dim": "not finite numbers",
            _T6 + "test_understanding_carries_an_embeddings_block": "guard_state is 'error'",
        },
        tolerated=SCENE_NOT_LOCATED,
    ),
    Row(
        "constant_embeddings",
        PLAN_A,
        {
            _T3 + "test_embeddings_change_between_frames": "the encoder returns the same vector",
        },
    ),
    Row(
        "stalled_publisher",
        PLAN_A,
        {
            _T3 + "test_embeddings_arrive_within_the_window": "is not publishing",
            _T3 + "test_embeddings_rate": "embeddings.rate_hz = 0.00 Hz",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
        tolerated=SCENE_NOT_LOCATED,
    ),
    Row(
        "slow_rate",
        PLAN_A,
        {
            _T3 + "test_embeddings_rate": "the encoder is too slow",
        },
        tolerated={
            _T3 + "test_gpu_load_while_embeddings_flow": "GPU load at a quarter of the rate sits near the 1 % limit",
            _T6 + "test_gpu_active": "GPU load at a quarter of the rate sits near the 1 % limit",
        },
    ),
    Row(
        "malformed_payload",
        PLAN_A,
        {
            _T3 + "test_payloads_are_json_objects": "payload is invalid JSON",
        },
    ),
    Row(
        "flapping_locations",
        PLAN_A,
        {
            _T6 + "test_locations_do_not_flap": "the current location flaps",
        },
    ),
    Row(
        "no_actuation",
        PLAN_A,
        {
            _T6 + "test_actuation_results_arrive": "nothing on act/result",
        },
    ),
    Row(
        "actuation_failures",
        PLAN_A,
        {
            _T6 + "test_actuation_reports_success": "actuator timeout",
        },
    ),
    # --- the device host (Task 1) ---
    Row(
        "tegra_release_missing",
        PLAN_A,
        {
            _T1 + "test_host_is_tegra_with_a_parsed_release": NO_RELEASE,
            _T1 + "test_jetpack_known_for_the_release": NO_RELEASE,
            _T1 + "test_l4t_core_package_matches_the_release_file": NO_RELEASE,
            _T1 + "test_cuda_toolkit_consistent_with_jetpack": NO_RELEASE,
            **{_T1 + f"test_jetpack_package_versions_consistent[{g}]": NO_RELEASE for g in GROUPS},
            _T1 + "test_gpu_diag_reports_this_device": "the device has no /etc/nv_tegra_release",
            _T4 + "test_dockerfile_base_image_targets_the_host_l4t": "the host's L4T release is needed",
            _T4 + "test_running_image_targets_the_host_l4t": "the host's L4T release is needed",
        },
    ),
    Row(
        "l4t_partial_upgrade",
        PLAN_A,
        {
            _T1 + "test_l4t_core_package_matches_the_release_file": "a partial upgrade",
            _T1 + "test_jetpack_package_versions_consistent[nvidia-jetpack]": MIXED,
            # the TensorRT meta-package carries the device's JetPack (6.1), not the release file's (6.2)
            _T1 + "test_jetpack_package_versions_consistent[tensorrt]": MIXED,
        },
    ),
    Row(
        "unknown_l4t_release",
        PLAN_A,
        {
            _T1 + "test_jetpack_known_for_the_release": "is not in the JetPack table",
            _T1 + "test_l4t_core_package_matches_the_release_file": "a partial upgrade",
        },
    ),
    Row(
        "cuda_toolkit_mismatch",
        PLAN_A,
        {
            _T1 + "test_cuda_toolkit_consistent_with_jetpack": "point /usr/local/cuda at the JetPack toolkit",
            _T4 + "test_torch_cuda_matches_the_host_cuda": "cannot run on the host's CUDA 11 driver",
        },
    ),
    Row(
        "compute_packages_missing",
        PLAN_A,
        {
            _T1 + "test_cuda_toolkit_consistent_with_jetpack": "no CUDA toolkit version on the device",
            **{_T1 + f"test_jetpack_packages_present[{g}]": f"no {g} package is installed" for g in GROUPS[1:]},
        },
    ),
    Row(
        "mixed_jetpack_packages",
        PLAN_A,
        {_T1 + f"test_jetpack_package_versions_consistent[{g}]": MIXED for g in GROUPS[1:]},
    ),
    Row(
        "tegrastats_missing",
        PLAN_A,
        {
            _T1 + "test_tegrastats_runs": "install nvidia-l4t-tools",
            _T1 + "test_tegrastats_lines_parse_with_a_gpu_load": "tegrastats not found on the device",
            _T3 + "test_gpu_load_while_embeddings_flow": "tegrastats not found on the device",
            _T6 + "test_gpu_active": "tegrastats is not recording",
        },
    ),
    Row(
        "tegrastats_needs_root",
        PLAN_A,
        {
            _T1 + "test_tegrastats_runs": "a sudoers NOPASSWD rule",
            _T1 + "test_tegrastats_lines_parse_with_a_gpu_load": "sudo: a password is required",
            _T3 + "test_gpu_load_while_embeddings_flow": "sudo: a password is required",
            _T6 + "test_gpu_active": "tegrastats is not recording",
        },
        profile=USER_PROFILE,
        note="run as the device's non-root user (the simulator's device-user.toml), whose sudo rule the fault removes",
    ),
    Row(
        "custom_carrier_minimal_image",
        PLAN_A,
        {
            _T1 + "test_tegrastats_runs": "install nvidia-l4t-tools",
            _T1 + "test_tegrastats_lines_parse_with_a_gpu_load": "tegrastats not found on the device",
            _T1 + "test_module_identified": NO_SAMPLE,
            _T3 + "test_gpu_load_while_embeddings_flow": "tegrastats not found on the device",
            _T6 + "test_gpu_active": "tegrastats is not recording",
        },
    ),
    Row(
        "no_bash",
        PLAN_A,
        {
            _T1 + "test_gpu_diag_script_runs": "the device has no bash",
            _T1 + "test_gpu_diag_reports_this_device": "could not read /etc/nv_tegra_release",
        },
    ),
    Row(
        "nvidia_runtime_unregistered",
        PLAN_A,
        {
            _T1 + "test_docker_knows_the_nvidia_runtime": "containers get no GPU",
        },
        note="engine-wide; the running agents keep the runtime they were created with",
    ),
    Row(
        "default_runtime_runc",
        PLAN_A,
        {
            _T1 + "test_nvidia_runtime_is_default_or_used_by_the_agent": "the agent runs without the GPU",
            _T2 + "test_agent_uses_the_nvidia_runtime": "runtime 'runc'",
            _T2 + "test_agent_sees_the_gpu_device_nodes": "has no /dev/nvmap",
            _T2 + "test_cuda_is_available": "torch.cuda.is_available() is False",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
        note="engine-wide",
    ),
    # --- the agents' containers (Task 2) ---
    Row(
        "cuda_init_crash",
        PLAN_A,
        {
            _T2 + "test_probe_runs_in_the_container": "killed by SIGSEGV",
            _T2 + "test_gpu_device_is_named": "the probe ended before this step",
            MATMUL: "the probe ended before this step",
            FP16: "the probe ended before this step",
            CONV: "the probe ended before this step",
        },
    ),
    Row(
        "agent_stopped",
        PLAN_A,
        {
            _T2 + "test_agent_container_is_running": "is exited, not running",
            _T6 + "test_gpu_active": GPU_IDLE,
        },
        note="the agent is a session link: the first check that needs it fails, later ones skip naming it",
    ),
    Row(
        "agent_restarted",
        PLAN_A,
        {
            _T2 + "test_agent_container_is_not_restarting": "crashed and was restarted by Docker",
        },
    ),
    Row(
        "unknown_backend",
        PLAN_A,
        {
            _T2 + "test_runbook_path_decided": "neither 'pytorch' (Plan A) nor 'tensorrt'",
            _T6 + "test_understanding_carries_an_embeddings_block": "no embedding has reached scene",
            _T6 + "test_location_updates_keep_coming": "scene stalls or stops locating",
            _T6 + "test_gpu_active": GPU_IDLE,
        },
        any_of={
            _T2 + "test_agent_container_is_running": "invalid VL_JEPA_BACKEND",
            _T2 + "test_agent_container_is_not_restarting": "crashed and was restarted by Docker",
            _T2 + "test_agent_sees_the_gpu_device_nodes": "is restarting, not running",
        },
        tolerated=CRASHLOOP_RACES,
        note="vl_jepa refuses the backend and exits, so it crash-loops as under container_crashloop",
    ),
    # --- the flow (Tasks 3 and 6) ---
    Row(
        "exploding_embeddings",
        PLAN_A,
        {
            _T3 + "test_embedding_values_are_sane": "activations blew up",
        },
    ),
    Row(
        "seq_gaps",
        PLAN_A,
        {
            _T3 + "test_seq_increases_without_gaps": "frames are dropped",
        },
    ),
    Row(
        "scene_down",
        PLAN_A,
        {**SCENE_DOWN, service_check("scene"): "is exited, exit code 0, not running"},
    ),
    # --- the whole stack: every service the runbook restarts, stopped, killed, paused or silent ---
    Row(
        "scene_killed",
        PLAN_A,
        {**SCENE_DOWN, service_check("scene"): "is exited, exit code 137, not running"},
    ),
    Row("scene_silent", PLAN_A, SCENE_DOWN),
    Row(
        "scene_stale_embeddings",
        PLAN_A,
        {SCENE_KEEPS_UP: "scene's embeddings block is stale"},
    ),
    Row(
        "guard_stopped",
        PLAN_A,
        {service_check("embedding_guard"): "is exited, exit code 0, not running", GUARD_JOB: GUARD_SILENT},
    ),
    Row(
        "guard_paused",
        PLAN_A,
        {service_check("embedding_guard"): "docker unpause", GUARD_JOB: GUARD_SILENT},
    ),
    Row("guard_silent", PLAN_A, {GUARD_JOB: GUARD_SILENT}),
    Row("env_not_recreated", PLAN_A, {_STACK + "test_services_run_the_env_file": "edited without recreating"}),
    Row("runbook_probe_missing", PLAN_A, {IMAGE_PROBE: "has no /app/tools/jetson/check_torch_cuda.py"}),
    Row("gpu_diag_missing", PLAN_A, {_T1P + "test_project_carries_gpu_diag": "gpu_diag.sh is missing on the device"}),
    Row(
        "host_torch_cuda_too_new",
        PLAN_A,
        {_T1P + "test_host_python_runs_the_probe": "cudaGetDeviceCount returned 35"},
        note="Task 1 step 4 with the host's python3: a CUDA build of torch that cannot use the GPU fails",
    ),
    Row(
        "host_pip_torch",
        PLAN_A,
        {},
        note="a healthy device whose host python3 has pip's CPU-only torch: the run passes (Task 1 step 4's host "
        "check skips, naming the container's torch as the pipeline's)",
    ),
    Row(
        "policy_stopped",
        PLAN_A,
        {
            service_check("policy"): "is exited, exit code 0, not running",
            _T6 + "test_actuation_results_arrive": "nothing on act/result",
        },
    ),
    # --- Plan B (tensorrt simulator) ---
    Row(
        "cublas_alloc_failed",
        PLAN_B,
        {},
        name="plan_b_accepted",
        note="the runbook's Plan B end state (PyTorch CUDA broken, TensorRT serves): the run passes, "
        "headline 'recovered via Plan B'; Task 2's PyTorch CUDA checks are xfail carrying CUBLAS_STATUS_ALLOC_FAILED",
    ),
    Row(
        "cublas_alloc_failed",
        PLAN_B,
        {
            MATMUL: "CUBLAS_STATUS_ALLOC_FAILED",
            FP16: "CUBLAS_STATUS_ALLOC_FAILED",
            CONV: "CUBLAS_STATUS_ALLOC_FAILED",
            _T2 + "test_runbook_path_is_the_required_one": 'requires Plan A ([expect] path = "plan_a"), but the '
            "device is on Plan B",
        },
        name="plan_a_required",
        expect_path="plan_a",
        note='the Plan B accepted device with [expect] path = "plan_a" in its profile: the run fails, naming the path',
    ),
    Row(
        "missing_engine",
        PLAN_B,
        {
            _T5 + "test_engine_file_present_in_the_container": "the engine was never built",
            _T5 + "test_engine_loads": "rebuild it on this device with trtexec",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "engine_input_mismatch",
        PLAN_B,
        {
            _T5 + "test_engine_input_size_matches_the_env": "VL_JEPA_INPUT_SIZE=256",
            _T5 + "test_engine_output_dim_matches_live_embeddings": "vl_jepa is not publishing",
            _T6 + "test_understanding_carries_an_embeddings_block": "no embedding has reached scene",
            _T6 + "test_location_updates_keep_coming": "scene stalls or stops locating",
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: GPU_UNUSED,
        },
    ),
    Row(
        "guard_dim_stale",
        PLAN_B,
        {
            _T5 + "test_engine_output_dim_matches_the_guard": "the guard rejects or misclassifies every embedding",
            _T6 + "test_understanding_carries_an_embeddings_block": "guard_state is 'error'",
        },
    ),
    Row(
        "engine_path_unset",
        PLAN_B,
        {
            _T5 + "test_engine_path_is_configured": "VL_JEPA_ENGINE_PATH is None",
        },
    ),
    Row(
        "few_centroid_samples",
        PLAN_B,
        {
            _T5 + "test_centroids_have_enough_samples": "collect_game, then collect_non",
        },
    ),
    Row(
        "identical_centroids",
        PLAN_B,
        {
            _T5 + "test_centroids_are_distinct": "two classes have the same centroid",
        },
    ),
    Row(
        "stale_centroids",
        PLAN_B,
        {
            _T5 + "test_centroids_exist_at_the_engine_dim": "they were collected with the old encoder",
            _T6 + "test_understanding_carries_an_embeddings_block": "centroid dim 768 != EMBEDDING_GUARD_DIM 384",
        },
    ),
    # --- a discrete-GPU host's driver (the dGPU simulator; Task 1's dGPU checks) ---
    Row(
        "dgpu_driver_not_loaded",
        PLAN_DGPU,
        {
            **{_T1 + t: NO_DRIVER for t in DGPU_SMI_CHECKS},
            _T1 + "test_dgpu_sampler_runs_with_a_gpu_load": SAMPLER_DOWN,
            _T2 + "test_cuda_is_available": CUDA_FALSE,
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: "nvidia-smi pmon failed",
        },
        note="Task 2 fails, so Task 3 is off the runbook's path (Plan A failure) and skips",
    ),
    Row(
        "dgpu_driver_library_mismatch",
        PLAN_DGPU,
        {
            **{_T1 + t: MISMATCH for t in DGPU_SMI_CHECKS},
            _T1 + "test_dgpu_sampler_runs_with_a_gpu_load": SAMPLER_DOWN,
            _T2 + "test_cuda_is_available": CUDA_FALSE,
            _T6 + "test_gpu_active": GPU_IDLE,
            STILL_ON_GPU: "nvidia-smi pmon failed",
        },
        note="vl_jepa keeps the context it made before the upgrade; the Task 2 probe, a new process, gets error 803",
    ),
    Row(
        "dgpu_driver_too_old",
        PLAN_DGPU,
        {
            _T1 + "test_dgpu_driver_supports_the_cuda_toolkit": "below the host toolkit's CUDA 12.8",
            _T1 + "test_dgpu_driver_supports_the_container_cuda": "below the container's CUDA 12.6",
            _T2 + "test_cuda_is_available": CUDA_FALSE,
            STILL_ON_GPU: GPU_UNUSED,
        },
        note="the sampler still reads the idle GPU: its load is reported, not judged, on a dGPU (gr3d_min_percent 0)",
    ),
    Row(
        "dgpu_mig_no_utilisation",
        PLAN_DGPU,
        {
            _T1 + "test_dgpu_sampler_runs_with_a_gpu_load": "NVML gives no utilisation for this GPU",
            _T3 + "test_gpu_load_while_embeddings_flow": "gr3d_percent_during_embeddings has no value",
            _T6 + "test_gpu_active": GPU_IDLE,
        },
    ),
    Row(
        "dgpu_toolkit_newer_than_driver",
        PLAN_DGPU,
        {
            _T1 + "test_dgpu_driver_supports_the_cuda_toolkit": "below the host toolkit's CUDA 13.1",
        },
    ),
)

MATRIX: dict[str, Row] = {row.key: row for row in ROWS}


def dgpu_only(test_id: str) -> bool:
    """A check that runs only on a discrete-GPU host (Task 1's ``test_dgpu_*``): the dGPU scenario proves it."""
    return test_id.startswith(_T1 + "test_dgpu_")


def rows_for(scenario: str) -> list[Row]:
    return [row for row in ROWS if row.scenario == scenario]


def covered(scenario: str | None = None) -> dict[str, list[str]]:
    """Test id -> the faults expected to fail it (in one scenario, or in all)."""
    out: dict[str, list[str]] = {}
    for row in ROWS:
        if scenario is None or row.scenario == scenario:
            for test_id in row.expected:
                out.setdefault(test_id, []).append(row.key)
    return out


# ---------------------------------------------------------------- docs

REPO = Path(__file__).resolve().parents[2]
MATRIX_DOC = REPO / "docs" / "fault-matrix.md"
FAULTS_DOC = REPO / "docs" / "faults.md"
_GENERATED = (
    "<!-- generated by `python -m jetson_hil.sim.faultmatrix --write-docs` from jetson_hil/sim/faultmatrix.py "
    "and jetson_hil/sim/faults.py; do not edit -->"
)

HOW_BY_KIND = {
    "config": "edits the device's project files as a person would (config/jetson.env, the Dockerfile, "
    "requirements.txt or docker-compose.yml), then rebuilds the vl_jepa image when the Dockerfile or "
    "requirements changed and recreates the services (`docker-compose up -d --force-recreate`); "
    "clearing puts the pristine files back and rebuilds/recreates the same way",
    "gpu": "the simulated GPU driver's state (`/run/jetson-sim/gpu/device.json`) lists the fault and vl_jepa is "
    "recreated, so CUDA calls in the container fail as the real driver's would; refused when the agents compute "
    "on the host's real GPU (docs/simulator-real-gpu.md)",
    "device": "changed on the device host with its own tools (files moved aside, `docker-compose stop`, "
    "`dpkg -r`), and the affected service restarted",
    "engine": "the simulator's Docker engine's daemon.json rewritten and reloaded (SIGHUP, as `systemctl reload "
    "docker`): runtimes and the default runtime reload without a restart, so running containers keep theirs. "
    "Engine-wide: every simulated device on this machine shares the engine",
    "agent": "written to the agents' live-fault file (`/run/jetson-sim/faults`), re-read by the agents while "
    "they run: no restart",
}
HOW = {
    "config_cpu": "`VL_JEPA_DEVICE=cpu` in config/jetson.env",
    "fp16_off": "`VL_JEPA_FP16=0` in config/jetson.env",
    "wrong_dim": "`EMBEDDING_GUARD_DIM` doubled in config/jetson.env",
    "l4t_mismatch": "the Dockerfile's `FROM` becomes `nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3`",
    "cuda_driver_insufficient": "the Dockerfile's `FROM` becomes `dustynv/pytorch:2.8-r36.4.4-cu128-24.04`",
    "requirements_override_torch": "`torch>=2.0` appended to requirements.txt",
    "cpu_only_torch": "a `pip3 install torch` line added to the Dockerfile after the requirements install",
    "no_kernel_image": "`torch==2.5.1+cu124` appended to requirements.txt",
    "libcudnn_missing": "the Dockerfile's `FROM` becomes `nvcr.io/nvidia/l4t-base:r36.4.0`",
    "no_nvidia_runtime": "`runtime: runc` for vl_jepa in docker-compose.yml",
    "container_crashloop": "`VL_JEPA_INPUT_SIZE=224px` in config/jetson.env",
    "engine_input_mismatch": "`VL_JEPA_INPUT_SIZE=256` in config/jetson.env",
    "missing_engine": "the engine file is moved aside; vl_jepa restarted",
    "stale_centroids": "centroids.json replaced by 768-d SigLIP centroids; embedding_guard restarted",
    "broker_down": "`docker-compose stop mosquitto` on the device",
    "jetpack_package_missing": "`dpkg -r --force-depends nvidia-jetpack` on the device",
    "nvidia_runtime_unregistered": "the engine's `runtimes` emptied and `default-runtime` set to runc",
    "default_runtime_runc": "`runtime: nvidia` deleted from vl_jepa in docker-compose.yml and the engine's "
    "`default-runtime` set to runc; vl_jepa recreated",
    "no_bash": "/usr/bin/bash moved aside on the device (the simulator's own commands use /bin/sh)",
    "unknown_backend": "`VL_JEPA_BACKEND=onnxruntime` in config/jetson.env",
    "guard_dim_stale": "`EMBEDDING_GUARD_DIM=768` (384 if the engine's dim is 768) in config/jetson.env",
    "engine_path_unset": "the `VL_JEPA_ENGINE_PATH` line deleted from config/jetson.env",
    "cuda_init_crash": "the simulated GPU driver's state lists the fault; vl_jepa is not recreated (its context "
    "predates the fault), so only new CUDA processes (the Task 2 probe) crash",
    "tegra_release_missing": "/etc/nv_tegra_release moved aside on the device",
    "l4t_partial_upgrade": "/etc/nv_tegra_release rewritten in place with the next release of the device's L4T "
    "line (36.4.3 on 36.4.0); packages untouched",
    "unknown_l4t_release": "/etc/nv_tegra_release's `REVISION` rewritten in place to 9.9 (R36.9.9)",
    "cuda_toolkit_mismatch": "/usr/local/cuda repointed at a /usr/local/cuda-11.4 holding CUDA 11.4.315's version.json",
    "compute_packages_missing": "`dpkg -r --force-depends` of the device's CUDA, cuDNN and TensorRT packages",
    "mixed_jetpack_packages": "`dpkg -i` of cuda-cudart-11-4, libcudnn8 8.6 and libnvinfer8 8.5 packages",
    "tegrastats_missing": "`dpkg -r --force-depends nvidia-l4t-tools` on the device",
    "custom_carrier_minimal_image": "/sys/firmware/devicetree/base/model rewritten in place with a board name no "
    "module table knows, and `dpkg -r --force-depends nvidia-l4t-tools` on the device; clearing puts the model "
    "file back and reinstalls the package",
    "tegrastats_needs_root": "/etc/sudoers.d/jetson-hil (the `jetson` user's NOPASSWD rule) moved aside; the "
    "matrix runs this row with the simulator's device-user.toml (the non-root `jetson`)",
    "agent_stopped": "`docker-compose stop vl_jepa` on the device",
    "agent_restarted": "SIGKILL to vl_jepa's main process from the host; Docker's restart policy restarts it. "
    "Clearing recreates the container (a restart count only resets that way)",
    "scene_down": "`docker-compose stop scene` on the device",
    "scene_killed": "`docker kill` of the scene container (exit 137; a killed container stays down); clearing starts "
    "it",
    "guard_stopped": "`docker-compose stop embedding_guard` on the device",
    "guard_paused": "`docker pause` of the embedding_guard container; clearing unpauses it",
    "policy_stopped": "`docker-compose stop policy` on the device",
    "env_not_recreated": "`VL_JEPA_RATE` doubled in config/jetson.env and nothing recreated",
    "runbook_probe_missing": "`RUN rm -f /app/tools/jetson/check_torch_cuda.py` added to the Dockerfile after "
    "`COPY tools/ /app/tools/`; vl_jepa rebuilt and recreated",
    "gpu_diag_missing": "the project's tools/jetson/gpu_diag.sh moved aside on the device",
    "host_torch_cuda_too_new": "the simulator's torch linked into the device's /usr/local/lib/python3.X/dist-packages "
    "with the simulated GPU's shim, described as a torch 2.8.0 CUDA 12.8 build (/etc/jetson-sim/host-torch.env) on "
    "the JetPack's CUDA 12.6 driver; clearing removes it (or restores `sim up --host-torch`'s)",
    "host_pip_torch": "the simulator's torch linked into the device's /usr/local/lib/python3.X/dist-packages as a "
    "CPU-only build (torch.version.cuda None); clearing removes it (or restores `sim up --host-torch`'s)",
    "few_centroid_samples": "centroids.json rewritten with `samples: 5` per class; embedding_guard restarted",
    "identical_centroids": "centroids.json rewritten with every class's centroid equal to the first's; "
    "embedding_guard restarted",
    "dgpu_driver_not_loaded": "the simulated driver's state lists the fault: nvidia-smi fails with the driver's "
    "text, and vl_jepa is recreated, so its CUDA init finds no driver",
    "dgpu_driver_library_mismatch": "the simulated driver's state lists the fault: nvidia-smi and NVML fail with "
    "the mismatch text and new CUDA processes (the Task 2 probe) get error 803; vl_jepa is not recreated (its "
    "context predates the upgrade)",
    "dgpu_driver_too_old": "the simulated driver becomes 535.247.01 (CUDA 12.2) in nvidia-smi and for CUDA; vl_jepa "
    "recreated",
    "dgpu_mig_no_utilisation": "the simulated driver's state lists the fault: nvidia-smi shows MIG enabled and "
    "[N/A] for utilization.gpu; nothing recreated",
    "dgpu_toolkit_newer_than_driver": "/usr/local/cuda repointed at a /usr/local/cuda-13.1 holding CUDA 13.1.80's "
    "version.json",
}

# The error text the real failure prints (jetson_hil.diagnosis signatures, the issues the faults cite).
ERROR_TEXT = {
    "no_nvidia_runtime": "NvRmMemInitNvmap failed with No such file or directory / 356: Memory Manager Not supported",
    "cuda_driver_insufficient": "cudaGetDeviceCount returned 35: CUDA driver version is insufficient for CUDA "
    "runtime version",
    "no_kernel_image": "CUDA error: no kernel image is available for execution on the device",
    "cublas_alloc_failed": "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "libcudnn_missing": "ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory",
    "cpu_only_torch": "torch.version.cuda is None; torch.cuda.is_available() is False",
    "requirements_override_torch": "torch.version.cuda is None; torch.cuda.is_available() is False",
    "l4t_mismatch": "torch.cuda.is_available() is False (CUDA 11.4 torch on the R36 host's CUDA 12 driver)",
    "broker_down": "[Errno 111] Connection refused",
    "jetpack_package_missing": "`dpkg -l | grep nvidia-jetpack` prints nothing",
    "cuda_init_crash": "Segmentation fault (core dumped)",
    "host_torch_cuda_too_new": "cudaGetDeviceCount returned 35 -> CUDA driver version is insufficient for CUDA "
    "runtime version",
    "tegrastats_needs_root": "sudo: a password is required",
    "tegrastats_missing": "tegrastats: command not found",
    "tegra_release_missing": "cat: /etc/nv_tegra_release: No such file or directory",
    "dgpu_driver_not_loaded": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
    "sure that the latest NVIDIA driver is installed and running.",
    "dgpu_driver_library_mismatch": "Failed to initialize NVML: Driver/library version mismatch",
    "dgpu_driver_too_old": "cudaGetDeviceCount returned 35: CUDA driver version is insufficient for CUDA runtime "
    "version",
    "dgpu_mig_no_utilisation": "nvidia-smi --query-gpu=utilization.gpu: [N/A]",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_matrix() -> str:
    lines = [
        "# The fault matrix",
        "",
        _GENERATED,
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
    for row in ROWS:
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


def render_faults() -> str:
    lines = [
        "# Simulator faults",
        "",
        _GENERATED,
        "",
        "Each fault reproduces one real failure where it would really happen. Set at start "
        "(`jetson-hil sim up --fault NAME`, repeatable) or live on a running device (`jetson-hil sim fault set|clear "
        "NAME --name SIM`); `set`/`clear` return once the agents publish again. Which checks each fault fails: "
        "docs/fault-matrix.md.",
        "",
        "How a fault is applied depends on its kind:",
        "",
    ]
    for kind, how in HOW_BY_KIND.items():
        lines.append(f"- **{kind}**: {how}.")
    lines.append("")
    for name, fault in FAULTS.items():
        row = MATRIX.get(name)
        live = "yes (`sim fault set|clear`)"
        if fault.kind == "config" and fault.image:
            live += f"; needs the base image `{fault.image}`, rebuilds vl_jepa"
        elif fault.kind == "config" and name in (
            "cpu_only_torch",
            "requirements_override_torch",
            "no_kernel_image",
            "runbook_probe_missing",
        ):
            live += "; rebuilds vl_jepa"
        lines += [
            f"## `{name}`",
            "",
            f"- kind: {fault.kind}",
            f"- reproduces: {fault.reproduces}",
            *([f"- real error text: `{ERROR_TEXT[name]}`"] if name in ERROR_TEXT else []),
            f"- live: {live}",
            f"- applied: {HOW.get(name, HOW_BY_KIND[fault.kind])}",
            f"- scenario: {row.scenario if row else '(no matrix row yet)'}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def docs() -> dict[Path, str]:
    return {MATRIX_DOC: render_matrix(), FAULTS_DOC: render_faults()}


def stale_docs() -> list[Path]:
    return [path for path, text in docs().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jetson_hil.sim.faultmatrix", description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="write docs/fault-matrix.md and docs/faults.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the generated docs are out of date")
    args = parser.parse_args(argv)
    if args.write_docs:
        for path, text in docs().items():
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
        return 0
    if args.check:
        stale = stale_docs()
        for path in stale:
            print(f"{path.relative_to(REPO)} is out of date: python -m jetson_hil.sim.faultmatrix --write-docs")
        return 1 if stale else 0
    sys.stdout.write(render_matrix())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
