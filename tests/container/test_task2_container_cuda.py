"""Runbook Task 2: CUDA inside the running vl_jepa container, and the decision it leads to.

``tools/jetson/check_torch_cuda.py`` is copied into the running agent container and run there once, in
the background from the session's start (the runbook's `docker exec ... check_torch_cuda.py`); each
of its findings is a check here. A failed check carries the container's last 200 log lines and the
probe output, and ends with the diagnosis when a known failure signature matches.
"""

from __future__ import annotations

import signal

import pytest

from jetson_hil import runbook

pytestmark = [pytest.mark.jetson, pytest.mark.container, pytest.mark.task2]

ALIGN = "align the container with the host's JetPack (Task 4: an l4t-pytorch base image for this L4T release)"
CAUSES = (
    f"the diagnosis below names the cause when it is a known one; otherwise: {ALIGN}, and run it with the "
    f"nvidia runtime"
)
TEGRA_NODES = ("nvmap", "nvhost-gpu", "nvhost-ctrl-gpu", "nvgpu")
DGPU_NODES = ("nvidiactl", "nvidia0")


@pytest.mark.proven_by("agent_stopped", says="is exited, not running")
@pytest.mark.proven_by("container_crashloop", says="VL_JEPA_INPUT_SIZE", one_of=True)
@pytest.mark.proven_by("libcudnn_missing", says="libcudnn.so.9", one_of=True)
@pytest.mark.proven_by("unknown_backend", says="invalid VL_JEPA_BACKEND", one_of=True)
def test_agent_container_is_running(container_only, agent_container):
    agent_container.require_running()


@pytest.mark.proven_by("agent_restarted", says="crashed and was restarted by Docker")
@pytest.mark.proven_by(
    "libcudnn_missing", "container_crashloop", "unknown_backend",
    says="crashed and was restarted by Docker",
    one_of=True,
)
def test_agent_container_is_not_restarting(container_only, agent_container, measure):
    state = agent_container.state
    assert not state.get("Restarting"), (
        f"container {agent_container.name} is restarting (exit code {state.get('ExitCode')}): it crashed and was "
        f"restarted by Docker, and crashes on start. Fix: read its log (attached)"
    )
    measure(
        "agent.restart_count",
        agent_container.restart_count,
        "restarts",
        high=0,
        doc="restarts by Docker's restart policy since the container was created (each one is a crash)",
        fix=f"{agent_container.name} crashed and was restarted by Docker (last exit code {state.get('ExitCode')}, "
        f"started at {state.get('StartedAt')}); its log (attached) says why",
    )


@pytest.mark.proven_by("no_nvidia_runtime", "default_runtime_runc", says="runtime 'runc'")
def test_agent_uses_the_nvidia_runtime(container_only, agent_container, docker_client, profile):
    runtime = agent_container.runtime
    default = docker_client.info().get("DefaultRuntime")
    gpu_requests = [
        r for r in agent_container.device_requests if any("gpu" in caps for caps in (r.get("Capabilities") or []))
    ]
    effective = runtime or default
    assert effective == "nvidia" or gpu_requests, (
        f"{agent_container.name} runs with runtime {effective!r} (its own: {runtime!r}, engine default: {default!r}) "
        f"and no GPU device request: no GPU inside it. Fix: `runtime: nvidia` for vl_jepa in the compose file (or "
        f'"default-runtime": "nvidia" in /etc/docker/daemon.json), then `{profile.compose.command} up -d '
        f"--force-recreate vl_jepa`"
    )


@pytest.mark.proven_by("no_nvidia_runtime", "default_runtime_runc", says="has no /dev/nvmap")
@pytest.mark.proven_by("container_crashloop", "unknown_backend", says="is restarting, not running", one_of=True)
@pytest.mark.proven_by("libcudnn_missing", says="cuDNN is missing from the image", one_of=True)
def test_agent_sees_the_gpu_device_nodes(container_only, agent_container, profile):
    out = agent_container.exec(["ls", "-1", "/dev"], timeout_s=20)
    assert out.ok, f"`ls /dev` failed in {agent_container.name} (exit {out.rc}): {out.stderr.strip()}"
    nodes = set(out.stdout.split())
    wanted = TEGRA_NODES if profile.device.kind == "jetson" else DGPU_NODES
    found = [n for n in wanted if n in nodes]
    first = wanted[0]
    assert first in nodes and found, (
        f"{agent_container.name} has no /dev/{first} (GPU nodes seen: {found or 'none'}): the NVIDIA runtime did not "
        f"inject the GPU. Fix: run it with the nvidia runtime (see test_agent_uses_the_nvidia_runtime) and check "
        f"nvidia-container-toolkit's CSV files on the host"
    )


@pytest.mark.proven_by("cuda_init_crash", says="killed by SIGSEGV")
@pytest.mark.may_fail_under(
    "libcudnn_missing", "container_crashloop", "unknown_backend",
    why="the container restarts between the status check and the probe's exec",
)
def test_probe_runs_in_the_container(container_probe, diagnose, attach):
    attach("check_torch_cuda.py output", container_probe.output)
    assert container_probe.rc not in (124, 137), diagnose(
        f"check_torch_cuda.py did not finish in {container_probe.container}: a CUDA call hangs. Fix: reboot the "
        f"device; if it persists, {ALIGN}",
        container_probe.stderr,
    )
    signal_name = _signal_name(container_probe.rc)
    how = (
        f": the probe was killed by {signal_name} (exit {container_probe.rc}) before it printed one, a crash in "
        f"torch or the CUDA driver, not in the probe. Fix: reboot the device; if it persists, {ALIGN}"
        if signal_name
        else f" (exit {container_probe.rc}): python3 is missing or the probe crashed"
    )
    assert "result" in container_probe.stdout, diagnose(
        f"check_torch_cuda.py printed no result line{how}: {container_probe.stderr.strip()[-300:]}",
        container_probe.stderr,
    )


def _signal_name(rc: int | None) -> str | None:
    """The signal behind an exit status (139 from a shell, -11 from a direct exec: SIGSEGV), else None."""
    number = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and 128 < rc < 160 else None)
    if number in (None, 9):  # 137: killed by the suite's own exec timeout (reported above) or the OOM killer
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def _crashed(container_probe, torch_probe) -> str:
    """Why a probe step has no result: the probe ended before it (name the signal), or ''."""
    if "result" in container_probe.stdout:
        return ""
    return (
        f"the probe ended before this step (exit {container_probe.rc}"
        f"{', ' + _signal_name(container_probe.rc) if _signal_name(container_probe.rc) else ''}; "
        f"test_probe_runs_in_the_container reports it)"
    )


@pytest.mark.proven_by("cuda_driver_insufficient", says="newer than the host's L4T driver supports")
@pytest.mark.proven_by(
    "default_runtime_runc", "dgpu_driver_not_loaded", "dgpu_driver_library_mismatch", "dgpu_driver_too_old",
    says="torch.cuda.is_available() is False",
)
@pytest.mark.proven_by("l4t_mismatch", says="L4T major release differs from the host's")
@pytest.mark.proven_by("no_nvidia_runtime", says="Tegra GPU device nodes are not in the container")
@pytest.mark.proven_by("requirements_override_torch", "cpu_only_torch", says="torch is a CPU-only wheel")
def test_cuda_is_available(container_probe, torch_probe, diagnose):
    assert torch_probe.torch_version is not None, diagnose(
        f"torch cannot be imported in {container_probe.container}: {'; '.join(torch_probe.errors) or 'no torch'}. "
        f"Fix: {ALIGN}",
        container_probe.stderr,
    )
    assert torch_probe.cuda_available is True, diagnose(
        f"torch.cuda.is_available() is {torch_probe.cuda_available} in {container_probe.container} "
        f"(torch {torch_probe.torch_version}, built for CUDA {torch_probe.cuda_version}). Fix: {CAUSES}",
        container_probe.stderr,
    )


@pytest.mark.proven_by("requirements_override_torch", "cpu_only_torch", says="torch.version.cuda is None")
def test_torch_reports_its_cuda_version(container_probe, torch_probe, diagnose):
    assert torch_probe.cuda_version is not None, diagnose(
        f"torch.version.cuda is None in {container_probe.container}: torch {torch_probe.torch_version} is a "
        f"CPU-only build (a PyPI wheel replaced NVIDIA's Jetson wheel?). Fix: {ALIGN}; keep torch out of "
        f"requirements.txt",
        container_probe.stderr,
    )


@pytest.mark.proven_by("requirements_override_torch", "cpu_only_torch", says="no cuDNN for torch")
def test_cudnn_is_available(container_probe, torch_probe, diagnose):
    assert torch_probe.cudnn is not None, diagnose(
        f"torch.backends.cudnn.version() is {torch_probe.fields.get('cudnn')!r} in {container_probe.container}: "
        f"no cuDNN for torch. Fix: {ALIGN} (l4t-pytorch images carry cuDNN)",
        container_probe.stderr,
    )


@pytest.mark.proven_by("cuda_init_crash", says="the probe ended before this step")
@pytest.mark.proven_by("no_kernel_image", says="no kernel image")
def test_gpu_device_is_named(container_probe, torch_probe, diagnose):
    if torch_probe.cuda_available is not True:
        pytest.skip("CUDA is not available (test_cuda_is_available reports it)")
    assert torch_probe.device, diagnose(
        f"torch.cuda.get_device_name(0) failed in {container_probe.container}: "
        f"{'; '.join(torch_probe.errors) or _crashed(container_probe, torch_probe) or 'no device name'}",
        container_probe.stderr,
    )
    assert torch_probe.sm_supported is not False, diagnose(
        f"the GPU ({torch_probe.device}, sm_{''.join(map(str, torch_probe.capability or ()))}) is not in torch's "
        f"arch list {torch_probe.arch_list}: 'no kernel image is available'. Fix: {ALIGN}",
        container_probe.stderr,
    )


@pytest.mark.proven_by("no_kernel_image", says="no kernel image is available")
@pytest.mark.proven_by("cublas_alloc_failed", "plan_a_required", says="CUBLAS_STATUS_ALLOC_FAILED")
@pytest.mark.proven_by("cuda_init_crash", says="the probe ended before this step")
@pytest.mark.parametrize(
    ("check", "what"),
    [
        ("cuda_matmul_ok", "an fp32 matmul on the GPU equals the CPU's"),
        ("cuda_fp16_ok", "an fp16 matmul on the GPU is close to the CPU's"),
        ("cudnn_conv_ok", "a cuDNN Conv2d forward on the GPU equals the CPU's"),
    ],
)
def test_gpu_computes_correctly(container_probe, torch_probe, diagnose, check, what):
    if torch_probe.cuda_available is not True:
        pytest.skip("CUDA is not available (test_cuda_is_available reports it)")
    ok = torch_probe.checks.get(check)
    name = check.removesuffix("_ok")
    err = torch_probe.max_errors.get(name)
    errors = [f"{e.type}: {e.message}" for e in torch_probe.step_errors if e.step == name]
    if errors:
        cause = f"the GPU raised {errors[0]}. Fix: {CAUSES}"
    elif crashed := _crashed(container_probe, torch_probe):
        cause = crashed
    else:
        off_by = f" (max abs error {err:.3g} vs the CPU)" if err is not None else ""
        cause = (
            f"the GPU computed wrong numbers{off_by}: a CUDA/cuBLAS/cuDNN build that does not fit this GPU. "
            f"Fix: {ALIGN}"
        )
    assert ok is True, diagnose(
        f"{check} is {torch_probe.fields.get(check, 'not reported')} in {container_probe.container}: expected "
        f"{what}; {cause}",
        container_probe.stderr,
    )


@pytest.mark.proven_by("unknown_backend", says="neither 'pytorch' (Plan A) nor 'tensorrt'")
@pytest.mark.decides_path
def test_runbook_path_decided(plan, evidence):
    """Task 2's decision: Plan A success (Task 3), Plan A failure (Task 4) or Plan B (Task 5)."""
    evidence.data["plan"] = plan.as_dict()
    assert plan.path != runbook.UNDECIDED, f"no runbook path: {plan.reason}"


@pytest.mark.proven_by(
    "plan_a_required",
    says="requires Plan A ([expect] path = \"plan_a\"), but the device is on Plan B",
)
def test_runbook_path_is_the_required_one(plan):
    """The profile's ``[expect] path``: a team that requires one plan fails a device on the other, in one line
    that names the path the device is on and why (docs/runbook-outcomes.md)."""
    refusal = plan.path_refusal()
    assert refusal is None, refusal



@pytest.mark.proven_by("runbook_probe_missing", says="has no /app/tools/jetson/check_torch_cuda.py")
@pytest.mark.may_fail_under(
    "libcudnn_missing", "container_crashloop", "unknown_backend",
    why="the container restarts between the status check and this check's exec",
)
def test_image_carries_the_runbooks_probe(image_probe, agent_container):
    """Task 2 step 1 runs the project's own copy (`python3 /app/tools/jetson/check_torch_cuda.py`): the image
    carries it, and it agrees with the suite's probe (the same file, or the same CUDA verdict when run)."""
    assert image_probe.present, (
        f"{agent_container.name} has no {image_probe.path} ({image_probe.error}): the runbook's `docker exec "
        f"{agent_container.name} python3 {image_probe.path}` cannot run. Fix: {image_probe.fix}"
    )
    assert image_probe.agrees, f"{image_probe.disagreement}. Fix: {image_probe.fix}"
