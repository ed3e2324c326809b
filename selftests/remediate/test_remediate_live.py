"""Remediation runs of the suite, as a user runs them, against the selftests' own simulated device `remed`.

The device starts in the `config_cpu` fault state (VL_JEPA_DEVICE=cpu), the state Task 3's remediation
fixes. Each test runs `pytest -m jetson --allow-changes` in a subprocess and judges the device from
outside the suite (the simulator's files on disk, the engine's containers), never through the code under
test:

- a full Task 3 remediation passes and puts the fault state back; a full Task 5 remediation (TensorRT engine,
  centroids re-collected) passes and puts the env file and the former centroid file back byte for byte;
- ``--keep-changes`` leaves the fix in place;
- Ctrl-C (SIGINT to the run's process group) while the services are being recreated, and SIGTERM (to the
  run's process) while the guard collects new centroids (Task 5), both leave the device as it was: env file
  and centroid file byte for byte, the same services running the same images with the same environment;
- a run killed outright (SIGKILL) cannot restore, and the next run restores from its journal first.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest
from selftest_state import sim_name

from jetson_hil import suite_run
from jetson_hil.backup import journal_path

ROOT = Path(__file__).resolve().parents[2]
REMED = sim_name("remed")
TASK3 = "tests/remediate/test_task3_remediate.py"
TASK4 = "tests/remediate/test_task4_remediate.py"
TASK5 = "tests/remediate/test_task5_remediate.py"
RUN_TIMEOUT_S = 480
CHANGE_TIMEOUT_S = 240
RESTORED = "restored: the device matches its backup"
# The tiny encoder's simulated GPU time is ~3 ms a frame: at 5 Hz GR3D is ~1.5 %, too close to the profile's 1 %
# for Task 3's GPU-load check right after a recreate; at 10 Hz it is ~3 %.
RATE_HZ = 10.0


@dataclass(frozen=True)
class DeviceState:
    """The device as the simulator holds it: the files a remediation touches and what each service runs."""

    env: bytes
    centroids: bytes | None
    services: dict[str, tuple[str, bool, tuple[str, ...]]]  # service -> (image id, running, Config.Env)

    def differences(self, other: DeviceState) -> list[str]:
        out = []
        if self.env != other.env:
            out.append(f"env file differs: {self.env!r} vs {other.env!r}")
        if self.centroids != other.centroids:
            out.append(f"centroids differ ({len(self.centroids or b'')} vs {len(other.centroids or b'')} bytes)")
        for name in sorted(set(self.services) | set(other.services)):
            a, b = self.services.get(name), other.services.get(name)
            if a != b:
                out.append(f"service {name}: {a and a[:2]} vs {b and b[:2]}"
                           + (" (environment differs)" if a and b and a[:2] == b[:2] else ""))
        return out


def device_state(cfg) -> DeviceState:
    from jetson_hil.sim import engine

    project = cfg.root / "project"
    centroids = project / "data" / "centroids.json"
    services = {}
    for c in engine.client().containers.list(all=True, filters={"label": f"com.docker.compose.project={cfg.name}"}):
        attrs = c.attrs
        services[c.labels["com.docker.compose.service"]] = (
            attrs["Image"],
            bool(attrs["State"]["Running"]),
            tuple(sorted(attrs["Config"]["Env"] or [])),
        )
    return DeviceState(
        (project / "config" / "jetson.env").read_bytes(),
        centroids.read_bytes() if centroids.exists() else None,
        services,
    )


@pytest.fixture(scope="module")
def remed_sim():
    """The `remed` simulator (tiny encoder, 10 Hz) in the config_cpu fault state; stopped after unless it was up."""
    from jetson_hil.sim import simulator

    before = simulator.status(REMED)
    cfg = simulator.up(simulator.SimConfig(name=REMED, encoder="tiny", rate=RATE_HZ, faults=["config_cpu"]),
                       log=lambda m: None)
    yield cfg
    if before.get("state") != "up":
        simulator.down(REMED, log=lambda m: None)
    elif "config_cpu" not in before.get("faults", []):
        simulator.set_fault(REMED, "config_cpu", False, log=lambda m: None)


@pytest.fixture
def baseline(remed_sim):
    """The device before the run, with no journal left from an earlier one."""
    state = device_state(remed_sim)
    assert b"VL_JEPA_DEVICE=cpu" in state.env, "the remed simulator is not in the config_cpu state"
    assert not journal_path(REMED).exists(), f"a journal from an earlier run is left: {journal_path(REMED)}"
    return state


def run(tmp_path: Path, *args: str) -> suite_run.SuiteRun:
    xml = tmp_path / f"junit-{time.monotonic_ns()}.xml"
    return suite_run.run(["--device", f"sim:{REMED}", "--allow-changes", *args], ROOT, xml, RUN_TIMEOUT_S)


@dataclass
class Killed:
    rc: int | None
    output: str
    seconds_to_signal: float


def run_and_signal(tmp_path: Path, module: str, changed: Callable[[], bool], send: Callable[[int], None]) -> Killed:
    """Starts a remediation run, waits until `changed()` says the device is mid-change, then `send(pid)`."""
    log = tmp_path / f"run-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "pytest", "-m", "jetson", "-p", "no:randomly", "-q", "-rfEs", "-s",
           "--device", f"sim:{REMED}", "--allow-changes", module]
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        deadline = started + CHANGE_TIMEOUT_S
        while not changed():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(30)
                pytest.fail(f"the run never reached the change (rc {proc.returncode}):\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        signalled = time.monotonic() - started
        send(proc.pid)
        rc = proc.wait(RUN_TIMEOUT_S)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        raise
    output = log.read_text(errors="replace")
    print(f"signal after {signalled:.1f} s; rc {rc}\n{output}")  # shown with -s, and under a failure
    return Killed(rc, output, signalled)


# ------------------------------------------------------------------------------------------------- tests


def test_task3_remediation_passes_and_puts_the_fault_state_back(remed_sim, baseline, tmp_path):
    result = run(tmp_path, TASK3)
    assert result.of("passed") and not result.of("failed") and not result.of("error"), result.describe()
    assert RESTORED in result.output, result.describe()
    assert device_state(remed_sim).differences(baseline) == []
    assert not journal_path(REMED).exists()


def test_task5_remediation_switches_to_the_engine_and_puts_the_centroids_back(remed_sim, baseline, tmp_path):
    result = run(tmp_path, TASK5)
    assert result.of("passed") and not result.of("failed") and not result.of("error"), result.describe()
    assert "EMBEDDING_GUARD_MODE 'collect_non' -> 'run'" in result.output and RESTORED in result.output, (
        result.describe()
    )
    assert device_state(remed_sim).differences(baseline) == []


def test_without_allow_changes_remediation_skips_and_changes_nothing(remed_sim, baseline, tmp_path):
    xml = tmp_path / "junit.xml"
    result = suite_run.run(["--device", f"sim:{REMED}", TASK3], ROOT, xml, RUN_TIMEOUT_S)
    skipped = result.of("skipped")
    assert len(skipped) == 1 and "--allow-changes" in next(iter(skipped.values())).message, result.describe()
    assert device_state(remed_sim).differences(baseline) == []


def test_keep_changes_leaves_the_fix_in_place(remed_sim, baseline, tmp_path):
    from jetson_hil.sim import simulator

    try:
        result = run(tmp_path, TASK3, "--keep-changes")
        assert result.of("passed") and not result.of("failed"), result.describe()
        after = device_state(remed_sim)
        assert after.env == baseline.env.replace(b"VL_JEPA_DEVICE=cpu", b"VL_JEPA_DEVICE=cuda")
        assert any("VL_JEPA_DEVICE=cuda" in e for _, _, env in after.services.values() for e in env)
        assert "kept the change (--keep-changes)" in result.output and not journal_path(REMED).exists()
    finally:
        simulator.set_fault(REMED, "config_cpu", True, log=lambda m: None)  # the fault state again


def test_a_failed_remediation_puts_the_former_images_back(remed_sim, tmp_path):
    """Task 4 rebuilds vl_jepa from a build context that changed since its image was built (a new image id);
    on this device Task 3's fix is still missing, so the remediation fails: the reference is tagged to the
    former image again and the services run it, and the backup tags are gone."""
    from jetson_hil.sim import engine

    edit = remed_sim.root / "project" / "agents" / "remediate_selftest.txt"
    edit.write_text(f"changed at {time.time_ns()}\n")
    result = None
    try:
        before = device_state(remed_sim)
        ref = f"{REMED}/vl_jepa:latest"
        old_id = engine.client().images.get(ref).id
        result = run(tmp_path, TASK4)
        failed = result.of("failed")
        assert len(failed) == 1 and "VL_JEPA_DEVICE" in next(iter(failed.values())).message, result.describe()
        assert "built vl_jepa: image" in result.output and f"tag {old_id[7:19]} as {ref} again" in result.output, (
            result.describe()
        )
        assert device_state(remed_sim).differences(before) == []
        assert engine.client().images.get(ref).id == old_id
        assert not engine.client().images.list(name="jetson-hil-backup/*"), "backup tags were left behind"
    finally:
        edit.unlink()
        built = re.search(r"built vl_jepa: image ([0-9a-f]{12})", result.output if result else "")
        if built:  # the image the remediation built, left untagged by the restore
            with contextlib.suppress(docker.errors.APIError):
                engine.client().images.remove(built.group(1))


def test_ctrl_c_while_the_services_are_recreated_restores_the_device(remed_sim, baseline, tmp_path):
    env = remed_sim.root / "project" / "config" / "jetson.env"
    killed = run_and_signal(
        tmp_path, TASK3, lambda: env.read_bytes() != baseline.env, lambda pid: os.killpg(pid, signal.SIGINT)
    )
    assert killed.rc == int(pytest.ExitCode.INTERRUPTED), killed.output[-3000:]
    assert "interrupted: restoring the device" in killed.output and RESTORED in killed.output, killed.output[-3000:]
    assert device_state(remed_sim).differences(baseline) == [], killed.output[-3000:]
    assert not journal_path(REMED).exists()


def test_sigterm_while_centroids_are_collected_restores_the_device(remed_sim, baseline, tmp_path):
    centroids = remed_sim.root / "project" / "data" / "centroids.json"

    def collecting() -> bool:
        try:
            data = centroids.read_bytes()
        except FileNotFoundError:
            return False
        return data != baseline.centroids and b'"samples"' in data

    killed = run_and_signal(tmp_path, TASK5, collecting, lambda pid: os.kill(pid, signal.SIGTERM))
    assert killed.rc == int(pytest.ExitCode.INTERRUPTED), killed.output[-3000:]
    assert "SIGTERM received" in killed.output and RESTORED in killed.output, killed.output[-3000:]
    assert device_state(remed_sim).differences(baseline) == [], killed.output[-3000:]
    assert not journal_path(REMED).exists()


def test_a_run_killed_outright_is_restored_by_the_next_run(remed_sim, baseline, tmp_path):
    env = remed_sim.root / "project" / "config" / "jetson.env"
    killed = run_and_signal(
        tmp_path, TASK3, lambda: env.read_bytes() != baseline.env, lambda pid: os.killpg(pid, signal.SIGKILL)
    )
    assert killed.rc == -signal.SIGKILL
    assert device_state(remed_sim).env != baseline.env and journal_path(REMED).exists()
    result = run(tmp_path, TASK3)
    assert "did not restore: restoring it" in result.output, result.describe()
    assert result.of("passed"), result.describe()
    assert device_state(remed_sim).differences(baseline) == []
    assert not journal_path(REMED).exists()

