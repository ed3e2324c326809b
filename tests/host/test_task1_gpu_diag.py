"""Runbook Task 1: the Jetson host's GPU stack, read through the host, tegrastats and the Docker engine.

The runbook's `gpu_diag.sh` prints release, CUDA version, JetPack packages and a few seconds of
tegrastats for a person to read; here each of those is a check with a verdict, and the script itself
is run on the device and its output attached.

A discrete-GPU host (profile ``kind = "dgpu"``, or no /etc/nv_tegra_release and nvidia-smi naming a discrete
GPU: `jetson_hil.dgpu.host_kind`) has no L4T, JetPack or tegrastats: there the ``dgpu_only`` checks read the
driver and CUDA versions from nvidia-smi and the NVML sampler instead, and the ``l4t_only`` checks skip saying so.
On a Jetson the ``dgpu_only`` checks skip. The Docker and gpu_diag.sh checks run on both.
"""

from __future__ import annotations

import pytest

from jetson_hil import dgpu, dpkg, l4t
from jetson_hil.device import PACKAGE_GROUPS, DeviceFactError, module_from_tegrastats, same_series, series_of_group
from jetson_hil.errors import ParseError
from jetson_hil.telemetry import TelemetryTimeout

pytestmark = [pytest.mark.jetson, pytest.mark.host, pytest.mark.task1]

SAMPLE_WAIT_S = 10.0
GROUPS = ("nvidia-jetpack", "cuda", "cudnn", "tensorrt")
GPU_DIAG_HEADERS = (
    "host",
    "/etc/nv_tegra_release",
    "CUDA version",
    "JetPack packages",
    "tegrastats",
    "docker runtimes",
)
REINSTALL = "reinstall JetPack's packages (`sudo apt install nvidia-jetpack`) or reflash the device with SDK Manager"
DRIVER_FIX = (
    "install or repair the NVIDIA driver for this kernel (the distribution's nvidia-driver package or NVIDIA's "
    "installer), then reboot"
)
MIXED = "Mixed JetPack releases break CUDA in containers"
# What proves the checks (the live fault matrix, selftests/meta): without the release file every check that needs
# the release fails; each mixed-release fault meets its own package groups.
NO_RELEASE = pytest.mark.proven_by("tegra_release_missing", says="Task 1 needs the L4T release")
MIXED_UNDER = {
    "nvidia-jetpack": ("l4t_partial_upgrade",),
    "cuda": ("mixed_jetpack_packages",),
    "cudnn": ("mixed_jetpack_packages",),
    "tensorrt": ("l4t_partial_upgrade", "mixed_jetpack_packages"),
}
# the dGPU checks that read nvidia-smi, and what they say when the driver fails (nvidia-smi's own texts)
NO_DRIVER = pytest.mark.proven_by("dgpu_driver_not_loaded", says="couldn't communicate with the NVIDIA driver")
DRIVER_MISMATCH = pytest.mark.proven_by("dgpu_driver_library_mismatch", says="Driver/library version mismatch")


def _removed(group: str) -> pytest.MarkDecorator:
    """The fault that removes a package group, and what the group's check then says."""
    if group == "nvidia-jetpack":
        return pytest.mark.proven_by("jetpack_package_missing", says="sudo apt install nvidia-jetpack")
    return pytest.mark.proven_by("compute_packages_missing", says=f"no {group} package is installed")


@pytest.fixture(scope="module")
def host_kind(profile, rig) -> dgpu.HostKind:
    """Jetson or dGPU host (`jetson_hil.dgpu.host_kind`); never raises: an unreachable device is reported by the
    checks that read it, and a failed detection keeps the profile's kind."""
    try:
        out = rig.facts().run(dgpu.DETECT_COMMAND, timeout_s=30)
        return dgpu.host_kind(profile.device.kind, dgpu.parse_detection(out.stdout))
    except Exception as exc:  # LinkDown, ParseError: fall back to the profile
        return dgpu.host_kind(profile.device.kind, None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@pytest.fixture(autouse=True)
def _jetson_or_dgpu_checks(request: pytest.FixtureRequest) -> None:
    """Skips the `l4t_only` checks on a dGPU host and the `dgpu_only` checks on a Jetson, with the reason."""
    l4t_only, dgpu_only = (request.node.get_closest_marker(m) is not None for m in ("l4t_only", "dgpu_only"))
    if not (l4t_only or dgpu_only):
        return
    kind: dgpu.HostKind = request.getfixturevalue("host_kind")
    if l4t_only and kind.is_dgpu:
        pytest.skip(f"an L4T/Jetson check, and this is a discrete-GPU host: {kind.reason}")
    if dgpu_only and not kind.is_dgpu:
        pytest.skip(f"a discrete-GPU check, and this is a Jetson host: {kind.reason}")


@pytest.fixture(scope="module")
def dgpu_host(device) -> dgpu.DgpuHost:
    """The dGPU host's driver facts through the host (nvidia-smi, /proc/driver/nvidia/version)."""
    return dgpu.DgpuHost(device.run)


def _release(device) -> l4t.L4TRelease:
    __tracebackhide__ = True
    try:
        return device.release
    except DeviceFactError as exc:
        pytest.fail(
            f"{exc}. Task 1 needs the L4T release; fix: run the suite on a Jetson or reinstall nvidia-l4t-core",
            pytrace=False,
        )


@pytest.mark.l4t_only
@NO_RELEASE
def test_host_is_tegra_with_a_parsed_release(device, evidence):
    release = _release(device)
    evidence.data["release"] = {"l4t": str(release), "board": release.board, "date": release.date}
    assert release.major >= 32, f"L4T R{release.major} is older than any JetPack this suite knows (R32+)"


@pytest.mark.l4t_only
@NO_RELEASE
@pytest.mark.proven_by("unknown_l4t_release", says="is not in the JetPack table")
def test_jetpack_known_for_the_release(device, evidence):
    release = _release(device)
    jetpack = device.jetpack
    evidence.data["jetpack"] = jetpack
    assert jetpack is not None, (
        f"L4T {release} is not in the JetPack table (jetson_hil.l4t.JETPACK_RELEASES): the release is unknown "
        f"or unreleased, so the matching CUDA/PyTorch stack cannot be chosen. Fix: flash a released JetPack, "
        f"or add the release to the table with its source"
    )


@pytest.mark.l4t_only
@pytest.mark.proven_by("l4t_partial_upgrade", "unknown_l4t_release", says="a partial upgrade")
@NO_RELEASE
def test_l4t_core_package_matches_the_release_file(device):
    release = _release(device)
    core = device.l4t_core_version
    assert core is not None, f"nvidia-l4t-core is not installed; fix: {REINSTALL}"
    assert core.version == release.version, (
        f"nvidia-l4t-core is {core} but /etc/nv_tegra_release says L4T {release}: a partial upgrade "
        f"(packages and release file from different L4T releases). Fix: finish it with `sudo apt full-upgrade`, "
        f"or {REINSTALL}"
    )


@pytest.mark.l4t_only
@pytest.mark.proven_by("compute_packages_missing", says="no CUDA toolkit version on the device")
@pytest.mark.proven_by("cuda_toolkit_mismatch", says="point /usr/local/cuda at the JetPack toolkit")
@NO_RELEASE
def test_cuda_toolkit_consistent_with_jetpack(device, evidence):
    release = _release(device)
    stack = device.stack
    if stack is None or stack.cuda is None:
        pytest.skip(f"no published CUDA version for L4T {release} in the compute-stack table: nothing to compare")
    cuda = device.cuda_version
    evidence.data["cuda_toolkit"] = cuda
    assert cuda is not None, (
        f"no CUDA toolkit version on the device (/usr/local/cuda/version.json, version.txt, nvcc): JetPack "
        f"{stack.jetpack} ships CUDA {stack.cuda}. Fix: `sudo apt install nvidia-jetpack` (or cuda-toolkit-"
        f"{'-'.join(stack.cuda.split('.')[:2])})"
    )
    assert same_series(cuda, stack.cuda), (
        f"/usr/local/cuda is CUDA {cuda} but JetPack {stack.jetpack} (L4T {release}) ships CUDA {stack.cuda} "
        f"({stack.source}). Fix: point /usr/local/cuda at the JetPack toolkit (update-alternatives --config cuda) "
        f"or {REINSTALL}"
    )


@pytest.mark.l4t_only
@pytest.mark.parametrize("group", [pytest.param(g, marks=_removed(g)) for g in GROUPS])
def test_jetpack_packages_present(device, group):
    packages = device.package_group(group)
    assert packages, (
        f"no {group} package is installed (dpkg -l shows none of {', '.join(PACKAGE_GROUPS[group])}); fix: {REINSTALL}"
    )


@pytest.mark.l4t_only
@NO_RELEASE
@pytest.mark.parametrize(
    "group", [pytest.param(g, marks=pytest.mark.proven_by(*MIXED_UNDER[g], says=MIXED)) for g in GROUPS]
)
def test_jetpack_package_versions_consistent(device, group):
    release = _release(device)
    stack = device.stack
    expected = {
        "nvidia-jetpack": device.jetpack,
        "cuda": stack.cuda if stack else None,
        "cudnn": stack.cudnn if stack else None,
        "tensorrt": stack.tensorrt if stack else None,
    }[group]
    if expected is None:
        pytest.skip(f"no published {group} version for L4T {release} in the knowledge tables: nothing to compare")
    installed = series_of_group(group, device.package_group(group))
    if not installed:
        pytest.skip(f"no {group} package installed (test_jetpack_packages_present[{group}] reports it)")
    # JetPack's meta-packages (nvidia-tensorrt 6.2.1+b38 beside tensorrt 10.3.0.30) carry JetPack's version
    jetpack = device.jetpack
    wrong = {}
    for name, version in installed.items():
        meta = dpkg.is_jetpack_meta_package(name)
        want = jetpack if meta else expected
        if want is not None and not same_series(version, want, len(want.split("."))):
            wrong[name] = f"{version} (a JetPack meta-package, versioned like JetPack {want})" if meta else version
    assert not wrong, (
        f"{group} packages do not match JetPack {jetpack or '?'} (L4T {release}), which ships {group} "
        f"{expected}: "
        + ", ".join(f"{n} {v}" for n, v in sorted(wrong.items()))
        + f". {MIXED}. Fix: {REINSTALL}"
    )


@pytest.mark.l4t_only
@pytest.mark.proven_by("tegrastats_missing", "custom_carrier_minimal_image", says="install nvidia-l4t-tools")
@pytest.mark.proven_by("tegrastats_needs_root", says="a sudoers NOPASSWD rule")
def test_tegrastats_runs(telemetry, evidence):
    try:
        telemetry.wait_samples(2, timeout=SAMPLE_WAIT_S)
    except TelemetryTimeout as exc:
        pytest.fail(
            f"tegrastats does not run on the device: {exc}. Fix: install nvidia-l4t-tools, and allow "
            f"`sudo -n tegrastats` for the suite's user (a sudoers NOPASSWD rule) if it needs root",
            pytrace=False,
        )
    evidence.data["tegrastats"] = {
        "command": telemetry.command,
        "sudo": telemetry.used_sudo,
        "notes": list(telemetry.notes),
    }


@pytest.mark.l4t_only
@pytest.mark.proven_by("tegrastats_missing", "custom_carrier_minimal_image", says="tegrastats not found on the device")
@pytest.mark.proven_by("tegrastats_needs_root", says="sudo: a password is required")
def test_tegrastats_lines_parse_with_a_gpu_load(telemetry, measure):
    try:
        samples = telemetry.wait_samples(2, timeout=SAMPLE_WAIT_S)
    except TelemetryTimeout as exc:
        pytest.fail(f"no tegrastats samples: {exc} (see test_tegrastats_runs)", pytrace=False)
    measure(
        "tegrastats.unparsed_lines",
        telemetry.bad_count,
        "lines",
        high=0,
        fix="the parser does not understand this tegrastats: " + "; ".join(list(telemetry.bad_lines)[:2]),
    )
    parsed = [s.sample for s in samples]
    if all(p.gpu_load_percent is None and p.gpc_freqs_mhz for p in parsed):
        pytest.skip("this module's tegrastats prints GPU clocks only (GR3D_FREQ @[...], as on Thor): no GPU load")
    without = [p.raw[:160] for p in parsed if p.gpu_load_percent is None]
    assert not without, (
        f"{len(without)} of {len(parsed)} tegrastats lines carry no GR3D_FREQ load, e.g. {without[0]!r}. "
        f"Fix: run tegrastats as root (sudo -n) or update L4T"
    )


@pytest.mark.l4t_only
@pytest.mark.proven_by("custom_carrier_minimal_image", says="tegrastats gave no sample to identify it by")
def test_module_identified(device, telemetry, evidence):
    model = device.model
    module = device.module
    how = f"device tree model {model!r}"
    if module is None:
        try:
            samples = telemetry.wait_samples(1, timeout=SAMPLE_WAIT_S)
        except TelemetryTimeout:
            samples = []
        if samples:
            s = samples[-1].sample
            module = module_from_tegrastats(len(s.cpus), s.ram_total_mb, set(s.rails))
            how = (
                f"tegrastats line ({len(s.cpus)} CPU cores, RAM {s.ram_total_mb} MB, rails "
                f"{', '.join(sorted(s.rails))})"
            )
    evidence.data["module"] = module.name if module else None
    if module is None and how.startswith("device tree"):
        pytest.fail(
            f"the Jetson module could not be identified: no known model in /proc/device-tree/model ({model!r}) and "
            f"tegrastats gave no sample to identify it by (test_tegrastats_runs says why). Fix: make tegrastats run "
            f"for the suite's user",
            pytrace=False,
        )
    assert module is not None, (
        f"the Jetson module could not be identified: no known model in /proc/device-tree/model ({model!r}) and "
        f"the tegrastats line matches no known module. Fix: add the module to jetson_hil.l4t.MODULES"
    )
    evidence.data["module_source"] = how


@pytest.mark.proven_by("nvidia_runtime_unregistered", says="containers get no GPU")
def test_docker_knows_the_nvidia_runtime(container_only, docker_client, evidence):
    info = docker_client.info()
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    evidence.data["docker_runtimes"] = {"runtimes": runtimes, "default": info.get("DefaultRuntime")}
    assert "nvidia" in runtimes, (
        f"the Docker engine knows no 'nvidia' runtime (runtimes: {', '.join(runtimes)}): containers get no GPU. "
        f"Fix: `sudo apt install nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker "
        f"&& sudo systemctl restart docker`"
    )


@pytest.mark.proven_by("default_runtime_runc", says="the agent runs without the GPU")
def test_nvidia_runtime_is_default_or_used_by_the_agent(container_only, docker_client, agent_container):
    default = docker_client.info().get("DefaultRuntime")
    used = agent_container.runtime
    assert default == "nvidia" or used == "nvidia", (
        f"the engine's default runtime is {default!r} and {agent_container.name} was created with runtime "
        f'{used!r}: the agent runs without the GPU. Fix: set "default-runtime": "nvidia" in '
        f"/etc/docker/daemon.json and restart docker, or `runtime: nvidia` for the service in the compose file"
    )


@pytest.mark.proven_by("no_bash", says="the device has no bash")
def test_gpu_diag_script_runs(gpu_diag, attach):
    attach("gpu_diag.sh output", gpu_diag.stdout + gpu_diag.stderr)
    assert gpu_diag.rc != 127, (
        f"gpu_diag.sh could not start on the device (exit 127: {gpu_diag.tail()}): the device has no bash (a minimal "
        f"rootfs such as a Yocto image). Fix: install bash on the device"
    )
    assert gpu_diag.rc == 0, (
        f"tools/jetson/gpu_diag.sh exited {gpu_diag.rc} on the device "
        f"({'timed out' if gpu_diag.rc in (124, 137) else gpu_diag.tail()}). Fix: run it by hand: "
        f"`bash tools/jetson/gpu_diag.sh`"
    )
    missing = [h for h in GPU_DIAG_HEADERS if f"--- {h}" not in gpu_diag.stdout]
    assert not missing, f"gpu_diag.sh output lacks the parts {missing}: the script was cut short or is outdated"


@pytest.mark.l4t_only
@pytest.mark.proven_by("no_bash", says="could not read /etc/nv_tegra_release")
@pytest.mark.proven_by("tegra_release_missing", says="the device has no /etc/nv_tegra_release")
def test_gpu_diag_reports_this_device(gpu_diag, device):
    release_line = (device.release_text or "").strip().splitlines()[:1]
    assert release_line, "the device has no /etc/nv_tegra_release (see test_host_is_tegra_with_a_parsed_release)"
    assert release_line[0] in gpu_diag.stdout, (
        f"gpu_diag.sh does not show the device's release line {release_line[0]!r}: it ran somewhere else or "
        f"could not read /etc/nv_tegra_release"
    )
    packages = gpu_diag.stdout.split("--- JetPack packages ---", 1)[-1].split("\n---", 1)[0]
    assert "nvidia-l4t-core" in packages or "nvidia-jetpack" in packages, (
        "gpu_diag.sh lists no JetPack package: dpkg is missing or empty on the device; fix: " + REINSTALL
    )


# --------------------------------------------------------------------------------------- dGPU hosts


def _gpus(dgpu_host: dgpu.DgpuHost) -> list[dgpu.GpuInfo]:
    __tracebackhide__ = True
    query = dgpu_host.query
    if not query.ok:
        fix = dgpu.smi_fix(query.stdout + query.stderr) or DRIVER_FIX
        pytest.fail(f"`{dgpu.QUERY_COMMAND}` failed on the device: {query.why()}. Fix: {fix}", pytrace=False)
    try:
        return dgpu.parse_query_csv(query.stdout)
    except ParseError as exc:
        pytest.fail(f"nvidia-smi's GPU list cannot be read: {exc}. Fix: {DRIVER_FIX}", pytrace=False)


def _header(dgpu_host: dgpu.DgpuHost) -> dgpu.SmiHeader:
    __tracebackhide__ = True
    banner = dgpu_host.banner
    if not banner.ok:
        fix = dgpu.smi_fix(banner.stdout + banner.stderr) or DRIVER_FIX
        pytest.fail(f"nvidia-smi failed on the device: {banner.why()}. Fix: {fix}", pytrace=False)
    try:
        return dgpu.parse_smi_header(banner.stdout)
    except ParseError as exc:
        pytest.fail(f"nvidia-smi printed no version banner: {exc}. Fix: {DRIVER_FIX}", pytrace=False)


@pytest.mark.dgpu_only
@DRIVER_MISMATCH
@NO_DRIVER
def test_dgpu_nvidia_smi_lists_the_gpus(dgpu_host, evidence):
    gpus = _gpus(dgpu_host)
    evidence.data["gpus"] = [g.fields for g in gpus]
    assert gpus, f"nvidia-smi runs but lists no GPU: the driver sees no NVIDIA GPU on this host. Fix: {DRIVER_FIX}"
    tegra = [g.name for g in gpus if g.is_tegra]
    assert not tegra, (
        f"nvidia-smi names {tegra[0]!r}, a Jetson's integrated GPU, but the checks run as for a discrete-GPU host "
        f'(kind = "dgpu" in the profile). Fix: set kind = "jetson" in the device profile\'s [device] table'
    )


@pytest.mark.dgpu_only
@DRIVER_MISMATCH
@NO_DRIVER
def test_dgpu_driver_version_is_one_driver(dgpu_host, evidence):
    header = _header(dgpu_host)
    gpus = _gpus(dgpu_host)
    module_text = dgpu_host.kernel_module_text
    module = dgpu.parse_kernel_module_version(module_text or "")
    evidence.data["driver"] = {
        "banner": header.driver_version,
        "gpus": [g.driver_version for g in gpus],
        "kernel_module": module,
        "cuda_supported": header.cuda_version,
    }
    assert header.driver_version, (
        f"nvidia-smi's banner has no 'Driver Version': {dgpu_host.banner.stdout.strip()[:200]!r}. Fix: {DRIVER_FIX}"
    )
    ok, problems = dgpu.driver_versions_agree(header.driver_version, [g.driver_version for g in gpus], module)
    assert ok, "; ".join(problems) + f". Fix: reboot (or reload the nvidia kernel modules); if it stays, {DRIVER_FIX}"


@pytest.mark.dgpu_only
@DRIVER_MISMATCH
@NO_DRIVER
def test_dgpu_driver_reports_its_cuda_version(dgpu_host, evidence):
    header = _header(dgpu_host)
    evidence.data["driver_cuda"] = header.cuda_version
    assert header.cuda_version, (
        f"nvidia-smi's banner gives no 'CUDA Version' for driver {header.driver_version}: the driver's CUDA "
        f"library (libcuda) is missing or does not load, so no CUDA program runs. Fix: {DRIVER_FIX}"
    )


@pytest.mark.dgpu_only
@DRIVER_MISMATCH
@NO_DRIVER
@pytest.mark.proven_by("dgpu_driver_too_old", says="below the host toolkit's CUDA 12.8")
@pytest.mark.proven_by("dgpu_toolkit_newer_than_driver", says="below the host toolkit's CUDA 13.1")
def test_dgpu_driver_supports_the_cuda_toolkit(dgpu_host, device, evidence):
    header = _header(dgpu_host)
    toolkit = device.cuda_version
    evidence.data["cuda_toolkit"] = toolkit
    if toolkit is None:
        pytest.skip(
            "no CUDA toolkit on the host (/usr/local/cuda, nvcc): the containers bring their own CUDA runtime, "
            "checked against this driver by test_dgpu_driver_supports_the_container_cuda"
        )
    assert header.cuda_version, "the driver reports no CUDA version (see test_dgpu_driver_reports_its_cuda_version)"
    verdict = dgpu.driver_supports(header.cuda_version, toolkit, "the host toolkit's CUDA")
    if not verdict:  # pytest.fail: the Jetson-worded diagnosis of this error text does not apply here
        pytest.fail(
            f"the host's CUDA toolkit is {toolkit} and driver {header.driver_version}: {verdict.reason}. Fix: upgrade "
            f"the driver to one whose CUDA is >= {toolkit}, or install the toolkit release that matches it",
            pytrace=False,
        )


@pytest.mark.dgpu_only
@DRIVER_MISMATCH
@NO_DRIVER
@pytest.mark.proven_by("dgpu_driver_too_old", says="below the container's CUDA 12.6")
def test_dgpu_driver_supports_the_container_cuda(dgpu_host, evidence, request):
    from jetson_hil.probe import parse_probe

    header = _header(dgpu_host)
    # asked for here, not as an argument: a session fixture would be set up (and fail on a stopped agent) before
    # the autouse fixture skips this check on a Jetson
    container_probe = request.getfixturevalue("container_probe")
    probe = parse_probe(container_probe.stdout)
    evidence.data["container_cuda"] = {"torch": probe.torch_version, "cuda": probe.cuda_version}
    if probe.cuda_version is None:
        pytest.skip(
            f"torch in {container_probe.container} is {probe.torch_version or 'not importable'} with no CUDA "
            f"version (a CPU build): Task 2 and Task 4 report it"
        )
    assert header.cuda_version, "the driver reports no CUDA version (see test_dgpu_driver_reports_its_cuda_version)"
    verdict = dgpu.driver_supports(header.cuda_version, probe.cuda_version)
    if not verdict:
        pytest.fail(
            f"torch {probe.torch_version} in {container_probe.container} is built for CUDA {probe.cuda_version} and "
            f"driver {header.driver_version}: {verdict.reason}",
            pytrace=False,
        )


@pytest.mark.dgpu_only
@pytest.mark.proven_by(
    "dgpu_driver_not_loaded", "dgpu_driver_library_mismatch",
    says="the NVML sampler (tools/jetson/gpu_sampler.py) does not run on the device",
)
@pytest.mark.proven_by("dgpu_mig_no_utilisation", says="NVML gives no utilisation for this GPU")
def test_dgpu_sampler_runs_with_a_gpu_load(telemetry, measure, evidence):
    try:
        samples = telemetry.wait_samples(2, timeout=SAMPLE_WAIT_S)
    except TelemetryTimeout as exc:
        pytest.fail(
            f"the NVML sampler (tools/jetson/gpu_sampler.py) does not run on the device: {exc}. Fix: python3 and "
            f"either nvidia-ml-py (pynvml) or nvidia-smi on the host, and a working driver (see the checks above)",
            pytrace=False,
        )
    evidence.data["gpu_sampler"] = {"command": telemetry.command, "notes": list(telemetry.notes)}
    measure(
        "gpu_sampler.unparsed_lines",
        telemetry.bad_count,
        "lines",
        high=0,
        fix="the sampler's lines are not tegrastats lines: " + "; ".join(list(telemetry.bad_lines)[:2]),
    )
    parsed = [s.sample for s in samples]
    without = [p.raw[:160] for p in parsed if p.gpu_load_percent is None]
    assert not without, (
        f"{len(without)} of {len(parsed)} sampler lines carry no GR3D_FREQ (GPU utilisation), e.g. {without[0]!r}: "
        f"NVML gives no utilisation for this GPU (a MIG instance or vGPU reports none). Fix: run the suite "
        f"against the whole GPU, or against its MIG parent"
    )
