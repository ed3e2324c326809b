"""The corpus of real Jetson captures (fixtures/data/real/) and what our knowledge tables must agree with in it.

Every L4T -> JetPack -> CUDA / cuDNN / TensorRT pair a real capture shows is checked against `jetson_hil.l4t`; a
disagreement is a table error (or a capture that needs a closer look), never a reason to edit the capture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_hil import dpkg, l4t
from jetson_hil.device import DeviceFacts, same_series, series_of_group
from jetson_hil.replay import REAL, ReplayHost, body, capture_sets

SETS = capture_sets()
CAPTURE_FILES = sorted(p for p in REAL.rglob("*.txt"))


def test_corpus_size() -> None:
    referenced = {f for s in SETS for f in (*s.files.values(), *s.package_files, *(r[0] for r in s.reads.values()))}
    releases = {s.name for s in SETS}
    assert len(CAPTURE_FILES) + len(referenced - set(CAPTURE_FILES)) >= 40, "the corpus holds fewer than 40 captures"
    assert len(releases) >= 6, f"capture sets for only {sorted(releases)}"


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: str(p.relative_to(REAL)))
def test_every_capture_names_its_source(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# source: ") and len(first) > len("# source: ") + 10, f"{path}: no source line"
    assert body(path).strip(), f"{path} holds no capture after its header"


# a set that does not show its exact L4T release (e.g. r32.5, a revision without its dot) has nothing to look up
LOOKUP_SETS = [s for s in SETS if s.observed().l4t is not None]


def test_most_sets_show_their_release() -> None:
    assert len(LOOKUP_SETS) >= len(SETS) - 2, [s.name for s in SETS if s not in LOOKUP_SETS]


@pytest.mark.parametrize("captures", LOOKUP_SETS, ids=lambda s: s.name)
def test_tables_agree_with_the_capture(captures) -> None:
    seen = captures.observed()
    problems = []
    jetpack = l4t.jetpack_for(seen.l4t)
    if seen.jetpack is not None and jetpack != seen.jetpack:
        where = seen.sources["jetpack"]
        problems.append(f"L4T {seen.l4t} is JetPack {seen.jetpack} in {where}, the table says {jetpack}")
    stack = l4t.stack_for(seen.l4t)
    for part in ("cuda", "cudnn", "tensorrt"):
        real = getattr(seen, part)
        table = getattr(stack, part) if stack else None
        if real is None:
            continue
        if table is None or not same_series(real, table, len(table.split("."))):
            problems.append(f"L4T {seen.l4t} ships {part} {real} in {seen.sources[part]}, the table says {table}")
    assert not problems, "; ".join(problems)


def test_r36_5_0_is_jetpack_6_2_2() -> None:
    assert l4t.jetpack_for("36.5.0") == "6.2.2"


def test_meta_packages_are_judged_as_jetpack_on_a_real_listing() -> None:
    """fixtures/data/real/r36.4.7: nvidia-tensorrt 6.2.1+b38 is JetPack's meta-package beside TensorRT 10.3.0.30."""
    facts = DeviceFacts(ReplayHost(REAL / "r36.4.7").run)
    group = series_of_group("tensorrt", facts.package_group("tensorrt"))
    assert group == {"libnvinfer10": "10.3.0.30", "nvidia-tensorrt": "6.2.1", "tensorrt": "10.3.0.30"}
    meta = {n for n in group if dpkg.is_jetpack_meta_package(n)}
    assert meta == {"nvidia-tensorrt"}
    assert all(same_series(group[n], facts.jetpack or "", 3) for n in meta)
    assert all(same_series(group[n], facts.stack.tensorrt, 3) for n in group.keys() - meta)


def test_meta_package_versions_name_the_jetpack() -> None:
    versions = {p.name: p.version for p in dpkg.parse_name_version(body(REAL / "r36.4.7" / "packages.txt"))}
    metas = {n: dpkg.jetpack_of_meta_version(v) for n, v in versions.items() if dpkg.is_jetpack_meta_package(n)}
    assert metas == dict.fromkeys(("nvidia-cudnn", "nvidia-opencv", "nvidia-tensorrt", "nvidia-vpi"), "6.2.1")


def test_dpkg_query_name_with_architecture_reads_as_l4t_core() -> None:
    assert l4t.parse_dpkg_core_version("nvidia-l4t-core:arm64\t36.4.4-20250616085344").version == (36, 4, 4)


def test_the_simulator_lists_real_versions_and_meta_packages() -> None:
    """The simulated R36.4.7 AGX Orin lists what the real one does (fixtures/data/real/r36.4.7/packages.txt)."""
    from jetson_hil.sim.jetson_release import Release

    listed = {name: version for name, version, _d in Release("36.4.7", "orin-agx").packages()}
    assert listed["nvidia-l4t-core"] == "36.4.7-20250918154033"
    assert listed["nvidia-tensorrt"] == listed["nvidia-jetpack"] == "6.2.1+b38"
    assert listed["tensorrt"] == listed["libnvinfer10"] == "10.3.0.30-1+cuda12.5"
    assert listed["nvidia-l4t-kernel"].startswith("5.15.148-tegra-36.4.7-")
    assert "cuda-nvcc-12-6" in listed
