"""Runbook Task 4: the vl_jepa image is aligned with the host's JetPack (the remedy when Task 2 fails).

Checked on every path: on the Plan A failure path these checks name what is misaligned; on the success
path they guard the alignment that makes Plan A work. Reads the project's Dockerfile and requirements
through the host, the running image through the engine, and torch's build through Task 2's probe.
"""

from __future__ import annotations

import pytest

from jetson_hil import image_base, l4t, runbook
from jetson_hil.device import DeviceFactError

pytestmark = [pytest.mark.jetson, pytest.mark.container, pytest.mark.task4]


def _rebuild(profile) -> str:
    """The runbook's Task 4 step 3, with the device's compose command."""
    compose = profile.compose.command
    return f"then `{compose} build vl_jepa && {compose} up -d --force-recreate vl_jepa embedding_guard scene policy`"


def _host_release(device) -> l4t.L4TRelease:
    __tracebackhide__ = True
    try:
        return device.release
    except DeviceFactError as exc:
        pytest.fail(f"{exc} (Task 1 reports it): the host's L4T release is needed to judge the image", pytrace=False)


def _base(dockerfile: str, profile) -> l4t.ImageRef:
    __tracebackhide__ = True
    image = runbook.base_image(dockerfile)
    if image is None:
        pytest.fail(
            f"{profile.compose.dockerfile} has no FROM the suite can resolve (no FROM, or an ARG without a "
            f"default): the base image cannot be judged. Fix: give the ARG a default",
            pytrace=False,
        )
    try:
        return l4t.parse_image_ref(image)
    except l4t.ParseError as exc:
        pytest.fail(f"FROM {image} in {profile.compose.dockerfile} is not an image reference: {exc}", pytrace=False)


def _suggest(release: l4t.L4TRelease) -> str:
    if release.major >= 36:
        return f"dustynv/l4t-pytorch:r{release.major}.{release.minor}.{release.patch} (jetson-containers)"
    return f"nvcr.io/nvidia/l4t-pytorch:r{release}-pthX.Y-py3 (NGC, the tag for L4T {release})"


def _l4t_host_only(profile) -> None:
    if profile.device.kind == "dgpu":
        pytest.skip('a Jetson image-alignment check, and this is a discrete-GPU host (kind = "dgpu"): there Task 1\'s '
                    "test_dgpu_driver_supports_the_container_cuda judges the image's CUDA against the driver")


@pytest.mark.proven_by("l4t_mismatch", says="an R36 host needs an R36 container")
@pytest.mark.proven_by("tegra_release_missing", says="the host's L4T release is needed")
def test_dockerfile_base_image_targets_the_host_l4t(container_only, dockerfile, device, profile, evidence):
    _l4t_host_only(profile)
    release = _host_release(device)
    ref = _base(dockerfile, profile)
    verdict = l4t.container_compatible(release, ref)
    evidence.data["base_image"] = {
        "image": str(ref),
        "l4t": str(ref.l4t) if ref.l4t else None,
        "compatible": verdict.ok,
        "reason": verdict.reason,
    }
    assert verdict, (
        f"FROM {ref} in {profile.compose.dockerfile}: {verdict.reason}. Fix: FROM {_suggest(release)}, "
        f"{_rebuild(profile)}"
    )


@pytest.mark.proven_by("l4t_mismatch", says="built for L4T 35.2.1")
@pytest.mark.proven_by("tegra_release_missing", says="the host's L4T release is needed")
def test_running_image_targets_the_host_l4t(container_only, agent_container, docker_client, device, evidence,
                                           profile):
    _l4t_host_only(profile)
    release = _host_release(device)
    image_id = agent_container.image_id
    if image_id is None:
        pytest.fail(f"{agent_container.name} does not exist (Task 2 reports it)", pytrace=False)
    image = docker_client.images.get(image_id)
    base = image_base.running_base(image, docker_client.images.list())
    evidence.data["running_image"] = {"image": agent_container.image_ref, "id": image_id, "base": base}
    if base is None:
        pytest.skip(
            f"cannot tell which L4T release {agent_container.image_ref} was built for: no local image with an "
            f"L4T tag is its base and it carries no L4T label (the base was re-pulled or removed)"
        )
    where, l4t_release = base
    verdict = l4t.container_compatible(release, l4t_release)
    assert verdict, (
        f"{agent_container.name} runs {agent_container.image_ref}, built for L4T {l4t_release} ({where}): "
        f"{verdict.reason}. Fix: {_rebuild(profile).removeprefix('then ')} (after correcting the Dockerfile's FROM)"
    )


@pytest.mark.proven_by("requirements_override_torch", "cpu_only_torch", says="is a CPU-only build")
def test_torch_is_a_cuda_build(container_probe, torch_probe, profile):
    assert torch_probe.torch_version is not None, (
        f"torch cannot be imported in {container_probe.container}: {'; '.join(torch_probe.errors)}. Fix: base the "
        f"image on l4t-pytorch, {_rebuild(profile)}"
    )
    assert torch_probe.cuda_version is not None, (
        f"torch {torch_probe.torch_version} in {container_probe.container} is a CPU-only build "
        f"(torch.version.cuda is None): pip replaced NVIDIA's Jetson wheel with PyPI's aarch64 wheel. Fix: remove "
        f"torch from requirements.txt and any `pip install torch` from the Dockerfile, {_rebuild(profile)}"
    )


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())


@pytest.mark.proven_by("cuda_driver_insufficient", says="error 35")
@pytest.mark.proven_by("cuda_toolkit_mismatch", says="cannot run on the host's CUDA 11 driver")
@pytest.mark.proven_by("l4t_mismatch", says="a CUDA 11 build cannot run on the host's CUDA 12 driver")
def test_torch_cuda_matches_the_host_cuda(container_probe, torch_probe, device, profile):
    """On Jetson the container's CUDA runtime talks to the host's driver: torch must be built for the host's
    CUDA major, and not for a newer CUDA than the host's (a cu128 wheel on JetPack 6's CUDA 12.6 driver
    fails with cudaGetDeviceCount error 35)."""
    _l4t_host_only(profile)  # a dGPU host's toolkit does not bind the container: its driver does (Task 1)
    if torch_probe.cuda_version is None:
        pytest.skip("torch is not a CUDA build (test_torch_is_a_cuda_build reports it)")
    host_cuda = device.cuda_version
    try:
        release = device.release
    except DeviceFactError:  # no release file: the toolkit alone can still be compared (Task 1 reports the rest)
        release = None
    stack = l4t.stack_for(release) if release else None
    reference = host_cuda or (stack.cuda if stack else None)
    if reference is None:
        pytest.skip("the host's CUDA version is unknown (Task 1 reports it)")
    torch_cuda, host = _major_minor(torch_probe.cuda_version), _major_minor(reference)
    image = _suggest(release) if release else "the l4t-pytorch image of the host's L4T release"
    fix = f"FROM {image}, {_rebuild(profile)}"
    assert torch_cuda[:1] == host[:1], (
        f"torch in {container_probe.container} is built for CUDA {torch_probe.cuda_version} but the host's JetPack "
        f"has CUDA {reference}: a CUDA {torch_cuda[0]} build cannot run on the host's CUDA {host[0]} driver. Fix: {fix}"
    )
    assert torch_cuda <= host, (
        f"torch in {container_probe.container} is built for CUDA {torch_probe.cuda_version}, newer than the host's "
        f"CUDA {reference}: the host's driver is too old for it ('CUDA driver version is insufficient', error 35). "
        f"Fix: {fix}, or upgrade JetPack"
    )


@pytest.mark.proven_by("requirements_override_torch", "no_kernel_image", says="installs torch from PyPI")
def test_requirements_keep_the_jetson_torch(container_only, requirements, profile):
    lines = [r for r in runbook.torch_requirements(requirements) if not r.jetson_source]
    assert not lines, (
        f"{profile.compose.requirements} installs {', '.join(sorted({r.package for r in lines}))} from PyPI ("
        + "; ".join(r.describe() for r in lines)
        + "): pip replaces NVIDIA's Jetson torch with the CPU-only aarch64 wheel (pytorch #168065). Fix: delete "
        f"those lines (the l4t-pytorch base image provides torch), {_rebuild(profile)}"
    )
