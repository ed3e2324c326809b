"""Task 1's device checks, unchanged, against every real capture set (fixtures/data/real/, `jetson_hil.replay`).

Each check function of tests/host/test_task1_gpu_diag.py is called with a `DeviceFacts` over the set's `ReplayHost`
and the set's replayed tegrastats. Verdicts: pass, fail (with the check's own message), skip, or "not captured" when
a check failed on a surface the set does not hold (no nvcc output, a listing filtered to other packages). A
consistent set must not fail; a set that captured a real broken state must fail with the text its capture.toml's
[expect] names.

Print the verdict table of docs/real-devices.md: `.venv/bin/python selftests/suite/test_replay_device.py`
"""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jetson_hil.device import DeviceFactError, DeviceFacts  # noqa: E402
from jetson_hil.measure import MeasurementLog  # noqa: E402
from jetson_hil.replay import CaptureSet, ReplayHost, ReplayTelemetry, capture_sets  # noqa: E402

GROUPS = ("nvidia-jetpack", "cuda", "cudnn", "tensorrt")
CHECKS: tuple[tuple[str, str | None], ...] = (
    ("test_host_is_tegra_with_a_parsed_release", None),
    ("test_jetpack_known_for_the_release", None),
    ("test_l4t_core_package_matches_the_release_file", None),
    ("test_cuda_toolkit_consistent_with_jetpack", None),
    *(("test_jetpack_packages_present", g) for g in GROUPS),
    *(("test_jetpack_package_versions_consistent", g) for g in GROUPS),
    ("test_tegrastats_runs", None),
    ("test_tegrastats_lines_parse_with_a_gpu_load", None),
    ("test_module_identified", None),
)
PASS, FAIL, SKIP, NOT_CAPTURED = "pass", "fail", "skip", "not captured"


def _task1():
    spec = importlib.util.spec_from_file_location("task1_checks", ROOT / "tests" / "host" / "test_task1_gpu_diag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_id(name: str, group: str | None) -> str:
    return f"{name}[{group}]" if group else name


def _needs(name: str, group: str | None) -> str | None:
    """What a package check reads from the listing: a group, or nvidia-l4t-core."""
    if group:
        return group
    return "nvidia-l4t-core" if name == "test_l4t_core_package_matches_the_release_file" else None


def verdicts(captures: CaptureSet) -> dict[str, tuple[str, str]]:
    """check id -> (verdict, first line of the check's message) for one capture set."""
    task1 = _task1()
    host = ReplayHost(captures)
    telemetry = ReplayTelemetry(captures)
    log = MeasurementLog()

    def measure(name, value, unit="", low=None, high=None, doc="", fix="", texts=()):
        m = log.record(name, value, unit, low, high, doc)
        if not m.passed:
            raise AssertionError(m.message + (f". {fix}" if fix else ""))
        return m

    out: dict[str, tuple[str, str]] = {}
    for name, group in CHECKS:
        check = getattr(task1, name)
        given = {
            "device": DeviceFacts(host.run),
            "evidence": SimpleNamespace(data={}),
            "telemetry": telemetry,
            "measure": measure,
            "group": group,
        }
        args = {p: given[p] for p in inspect.signature(check).parameters}
        host.uncaptured.clear()
        try:
            check(**args)
            verdict, message = PASS, ""
        except pytest.skip.Exception as exc:
            verdict, message = SKIP, str(exc)
        except (pytest.fail.Exception, AssertionError, DeviceFactError) as exc:
            verdict, message = FAIL, str(exc)
        need = _needs(name, group)
        if verdict == SKIP and need is not None and need not in captures.covers:
            verdict, message = NOT_CAPTURED, f"rests on {need} packages, which the set's listing does not capture"
        if verdict == FAIL and (
            host.uncaptured
            or (need is not None and need not in captures.covers)
            or (name.startswith("test_tegrastats") and not telemetry.captured)
        ):
            uncovered = need if need and need not in captures.covers else "tegrastats"
            what = ", ".join(sorted(host.uncaptured)) or uncovered
            verdict, message = NOT_CAPTURED, f"rests on {what}, which the set does not capture"
        out[check_id(name, group)] = (verdict, message.strip().splitlines()[0] if message.strip() else "")
    return out


SETS = [s for s in capture_sets() if s.text("release") is not None or s.package_files]


@pytest.mark.parametrize("captures", SETS, ids=lambda s: s.name)
def test_capture_set_verdicts(captures: CaptureSet) -> None:
    results = verdicts(captures)
    unexpected = {c: m for c, (v, m) in results.items() if v == FAIL and c not in captures.expect}
    assert not unexpected, f"{captures.name} ({captures.title}): a real device fails " + "; ".join(
        f"{c}: {m}" for c, m in unexpected.items()
    )
    for check, text in captures.expect.items():
        verdict, message = results[check]
        assert verdict == FAIL and text in message, (
            f"{captures.name}: {check} should fail with {text!r} (a real broken state), got {verdict}: {message}"
        )


def test_the_issue_false_failure_is_gone() -> None:
    """A real JetPack 6.2.1 listing with nvidia-tensorrt 6.2.1+b38: Task 1's TensorRT check passes."""
    results = verdicts(CaptureSet.load(ROOT / "fixtures" / "data" / "real" / "r36.4.7"))
    assert results["test_jetpack_package_versions_consistent[tensorrt]"] == (PASS, "")


def test_the_suite_runs_unchanged_against_a_replay_host(tmp_path: Path) -> None:
    """`--host replay://PATH`: the acceptance suite itself, on a real R36.4.7 AGX Orin's captures."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "tests/host/test_task1_gpu_diag.py",
         "--device", "devices/local.toml", "--host", "replay://fixtures/data/real/r36.4.7", "--no-lease",
         "--report-dir", str(tmp_path / "report")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    passed = {line.split()[1] for line in run.stdout.splitlines() if line.startswith("PASSED ")}
    for check in ("test_host_is_tegra_with_a_parsed_release", "test_l4t_core_package_matches_the_release_file",
                  "test_jetpack_package_versions_consistent[tensorrt]", "test_module_identified"):
        assert f"tests/host/test_task1_gpu_diag.py::{check}" in passed, run.stdout[-3000:]


def test_docs_show_the_current_verdicts() -> None:
    doc = (ROOT / "docs" / "real-devices.md").read_text(encoding="utf-8")
    assert table(SETS) in doc, "docs/real-devices.md is out of date: paste the output of this file run as a script"


def table(sets: list[CaptureSet]) -> str:
    """The markdown verdict table (release x check) of docs/real-devices.md."""
    results = {s.name: verdicts(s) for s in sets}
    checks = [check_id(n, g) for n, g in CHECKS]
    short = {c: c.removeprefix("test_").replace("jetpack_package_versions_consistent", "versions_consistent")
             .replace("jetpack_packages_present", "present") for c in checks}
    lines = ["| check | " + " | ".join(s.name for s in sets) + " |", "|---" * (len(sets) + 1) + "|"]
    for c in checks:
        lines.append(f"| {short[c]} | " + " | ".join(results[s.name][c][0] for s in sets) + " |")
    notes = [f"- {s.name} {c}: {v}: {m}" for s in sets for c, (v, m) in results[s.name].items() if v in (FAIL, SKIP)]
    return "\n".join(lines) + "\n\nFailures and skips, with the checks' own messages:\n\n" + "\n".join(notes) + "\n"


if __name__ == "__main__":
    print(table(SETS))
