"""jetson_hil.l4t on every nv_tegra_release form and image tag in the facts, the tables and the compatibility rule."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.errors import ParseError
from jetson_hil.l4t import (
    COMPUTE_STACKS,
    JETPACK_RELEASES,
    MODULES,
    Compatibility,
    ImageRef,
    L4TRelease,
    container_compatible,
    cuda_arch_for_module,
    jetpack_for,
    jetpack_row_for,
    parse_dpkg_core_version,
    parse_image_ref,
    parse_release,
    parse_version,
    python_for,
    stack_for,
    ubuntu_for,
)
from jetson_hil.tegrastats import parse_line

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data"
HEADER = ("# source:", "# note:")


def load(path: Path) -> str:
    """The fixture body: the '# source:' / '# note:' header lines dropped, nv_tegra_release's own '#' kept."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# source: "), f"{path} must name its source on line 1"
    return "\n".join(line for line in lines if not line.startswith(HEADER))


# ------------------------------------------------------------------------------------------------------
# /etc/nv_tegra_release

# file -> (version, board, gcid, date, kernel_variant, userspace lib dir path)
RELEASES = {
    "r32_1_0_t210ref.txt": ("32.1.0", "t210ref", "14531094", "Wed Mar 13 07:46:13 UTC 2019", None, None),
    "r32_5_revision_without_dot.txt": ("32.5.0", "t186ref", "25531747", "Sat Nov 07 23:21:05 UTC 2020", None, None),
    "r32_6_1_t210ref.txt": ("32.6.1", "t210ref", "27863751", "Mon Jul 26 19:20:30 UTC 2021", None, None),
    "r32_6_1_t186ref.txt": ("32.6.1", "t186ref", "27863751", "Mon Jul 26 19:36:31 UTC 2021", None, None),
    "r32_7_1_t186ref.txt": ("32.7.1", "t186ref", "29689809", "Wed Feb  2 21:33:23 UTC 2022", None, None),
    "r32_7_2_t186ref.txt": ("32.7.2", "t186ref", "30192233", "Sun Apr 17 09:53:50 UTC 2022", None, None),
    "r32_7_4_t210ref.txt": ("32.7.4", "t210ref", "33514132", "Fri Jun  9 04:25:08 UTC 2023", None, None),
    "r32_7_6_t210ref.txt": ("32.7.6", "t210ref", "38171779", "Tue Nov  5 07:46:14 UTC 2024", None, None),
    "r34_1_1_t186ref.txt": ("34.1.1", "t186ref", "30414990", "Tue May 17 04:20:55 UTC 2022", None, None),
    "r35_1_0_t186ref.txt": ("35.1.0", "t186ref", "31346300", "Thu Aug 25 18:41:45 UTC 2022", None, None),
    "r35_2_1_t186ref.txt": ("35.2.1", "t186ref", "32398013", "Sun Jan 22 03:18:23 UTC 2023", None, None),
    "r35_3_1_t186ref.txt": ("35.3.1", "t186ref", "32790763", "Wed Mar 15 07:54:12 UTC 2023", None, None),
    "r35_4_1_t186ref.txt": ("35.4.1", "t186ref", "33958178", "Tue Aug  1 19:57:35 UTC 2023", None, None),
    "r36_3_0_generic.txt": ("36.3.0", "generic", "36923193", "Fri Jul 19 23:24:25 UTC 2024", None, None),
    "r36_3_0_t186ref.txt": ("36.3.0", "t186ref", "36851668", "Wed Jul 31 00:50:19 UTC 2024", None, None),
    "r36_4_0_generic_full.txt": ("36.4.0", "generic", "37537400", "Fri Sep 13 04:36:44 UTC 2024", "oot",
                                 "usr/lib/aarch64-linux-gnu/nvidia"),
    "r36_4_3_generic.txt": ("36.4.3", "generic", "38968081", "Wed Jan  8 01:49:37 UTC 2025", None, None),
    "r36_4_4_generic.txt": ("36.4.4", "generic", "41062509", "Mon Jun 16 16:07:13 UTC 2025", None, None),
    "r36_4_7_generic_full.txt": ("36.4.7", "generic", "42132812", "Thu Sep 18 22:54:44 UTC 2025", "oot",
                                 "usr/lib/aarch64-linux-gnu/nvidia"),
    "r36_5_0_generic_full.txt": ("36.5.0", "generic", "43688277", "Fri Jan 16 03:50:45 UTC 2026", "oot",
                                 "usr/lib/aarch64-linux-gnu/nvidia"),
    "r38_2_0_no_hash_no_date.txt": ("38.2.0", "generic", "41844464", None, None, None),
    "r38_4_0_generic.txt": ("38.4.0", "generic", "43443517", "Wed Dec 31 00:15:19 UTC 2025", "oot", None),
}


def test_every_release_fixture_has_expectations() -> None:
    assert sorted(p.name for p in (DATA / "nv_tegra_release").glob("*.txt")) == sorted(RELEASES)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_parse_release_fixture(name: str) -> None:
    version, board, gcid, date, kernel_variant, lib_dir_path = RELEASES[name]
    release = parse_release(load(DATA / "nv_tegra_release" / name))
    assert str(release) == version
    assert (release.major, release.minor, release.patch) == tuple(int(p) for p in version.split("."))
    assert release.board == board
    assert release.gcid == gcid
    assert release.eabi == "aarch64"
    assert release.date == date
    assert release.kernel_variant == kernel_variant
    assert release.userspace_lib_dir_path == lib_dir_path
    assert release.userspace_lib_dir == ("nvidia" if lib_dir_path else None)
    assert release.extra == ()


def test_release_orders_and_compares_on_version_only() -> None:
    parsed = [parse_release(load(DATA / "nv_tegra_release" / name)) for name in RELEASES]
    ordered = [str(r) for r in sorted(parsed)]
    assert ordered == sorted(ordered, key=lambda v: tuple(int(p) for p in v.split(".")))
    t210 = parse_release(load(DATA / "nv_tegra_release" / "r32_6_1_t210ref.txt"))
    t186 = parse_release(load(DATA / "nv_tegra_release" / "r32_6_1_t186ref.txt"))
    assert t210 == t186 == parse_version("32.6.1")
    assert parse_version("36.4") < parse_version("36.4.3") < parse_version("r38.2.0")
    assert max(parse_version(v) for v in ("35.4.1", "36.3.0", "32.7.6")) == parse_version("36.3.0")
    assert len({t210, t186}) == 1
    assert parse_version("36.4.3").tag == "r36.4.3"


def test_release_tolerates_surroundings_and_keeps_unknown_lines() -> None:
    text = "\n\n  # R36 (release), REVISION: 4.4, GCID: 1, BOARD: generic, EABI: aarch64  \nSOMETHING=new\n"
    release = parse_release(text)
    assert str(release) == "36.4.4"
    assert release.date is None
    assert release.extra == ("SOMETHING=new",)


@pytest.mark.parametrize("text", [
    "",
    "   \n",
    "R36",
    "# R36 (release)",
    "# R36 (release), GCID: 1",
    "# R36 (release), REVISION: x.0",
    "# R36 (release), REVISION: 4.0.1, GCID: 1",
    "# R36 (release), REVISION: 4.0, GCID 1",
    "# Rx (release), REVISION: 4.0",
    "Linux tegra-ubuntu 5.15.148-tegra",
])
def test_parse_release_rejects(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_release(text)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text, version, build", [
    ("36.4.4-20250616085344", "36.4.4", "20250616085344"),
    ("38.4.0-20251230160601\n", "38.4.0", "20251230160601"),
    ("nvidia-l4t-core\t36.4.4-20250616085344", "36.4.4", "20250616085344"),
    ("35.4.1", "35.4.1", None),
])
def test_parse_dpkg_core_version(text: str, version: str, build: str | None) -> None:
    release = parse_dpkg_core_version(text)
    assert (str(release), release.build) == (version, build)


@pytest.mark.parametrize("text", ["", "36.4", "nvidia-l4t-core", "v36.4.4-1", "36.4.4 20250616085344"])
def test_parse_dpkg_core_version_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        parse_dpkg_core_version(text)


@pytest.mark.parametrize("text, expected", [
    ("36.4.3", (36, 4, 3)), ("r36.4.3", (36, 4, 3)), ("R35.4", (35, 4, 0)), (" 32.7.1 ", (32, 7, 1)),
])
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text).version == expected


@pytest.mark.parametrize("text", ["", "36", "36.4.3.1", "r", "x36.4", "36.4-1", "３６.4"])
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        parse_version(text)


def test_parsers_reject_non_strings() -> None:
    for parser in (parse_version, parse_release, parse_dpkg_core_version, parse_image_ref):
        with pytest.raises(TypeError):
            parser(36.4)  # type: ignore[arg-type]


@given(st.text())
def test_release_parsers_raise_only_parse_error(text: str) -> None:
    for parser in (parse_release, parse_version, parse_dpkg_core_version, parse_image_ref):
        with contextlib.suppress(ParseError):
            parser(text)


_HEADERS = st.sampled_from(["# R36 (release), ", "R32 (release), ", "# R", "REVISION: ", "GCID: ", ", ", "\n",
                            "# KERNEL_VARIANT: oot", "TARGET_USERSPACE_LIB_DIR=", "DATE: ", "4.0", "5", "."])


@given(st.lists(st.one_of(_HEADERS, st.text(max_size=4)), max_size=12))
def test_release_parser_on_near_misses_raises_only_parse_error(pieces: list[str]) -> None:
    with contextlib.suppress(ParseError):
        parse_release("".join(pieces))


@given(major=st.integers(0, 9999), minor=st.integers(0, 9999), patch=st.integers(0, 9999),
       dotted=st.booleans(), hashed=st.booleans(), gcid=st.integers(0, 10**9),
       board=st.sampled_from(["t210ref", "t186ref", "generic"]), variant=st.sampled_from([None, "oot"]))
def test_release_round_trip(major: int, minor: int, patch: int, dotted: bool, hashed: bool, gcid: int,
                            board: str, variant: str | None) -> None:
    revision = f"{minor}.{patch}" if dotted else f"{minor}"
    text = (f"{'# ' if hashed else ''}R{major} (release), REVISION: {revision}, GCID: {gcid}, BOARD: {board}, "
            "EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025")
    if variant:
        text += f"\n# KERNEL_VARIANT: {variant}"
    release = parse_release(text)
    assert release.version == (major, minor, patch if dotted else 0)
    assert (release.gcid, release.board, release.kernel_variant) == (str(gcid), board, variant)
    assert parse_version(str(release)) == release


# ------------------------------------------------------------------------------------------------------
# L4T -> JetPack, JetPack -> compute stack (facts section 3)

JETPACK = [
    ("39.2.0", "7.2"), ("39.1.0", "7.2"), ("39.0.0", "7.2"), ("38.4.0", "7.1"), ("38.2.2", "7.0"),
    ("38.2.0", "7.0"), ("38.1.0", "7.0"), ("36.5.0", "6.2.2"), ("36.4.7", "6.2.1"), ("36.4.4", "6.2.1"),
    ("36.4.3", "6.2"), ("36.4.2", "6.1.1"), ("36.4.0", "6.1"), ("36.3.0", "6.0"), ("36.2.0", "6.0"),
    ("36.0.0", "6.0"), ("35.6.4", "5.1.6"), ("35.6.2", "5.1.5"), ("35.6.1", "5.1.5"), ("35.6.0", "5.1.4"),
    ("35.5.0", "5.1.3"), ("35.4.1", "5.1.2"), ("35.3.1", "5.1.1"), ("35.3.0", "5.1.1"), ("35.2.1", "5.1"),
    ("35.1.0", "5.0.2"), ("34.1.1", "5.0.1"), ("34.1.0", "5.0"), ("32.7.6", "4.6.6"), ("32.7.5", "4.6.5"),
    ("32.7.4", "4.6.4"), ("32.7.3", "4.6.3"), ("32.7.2", "4.6.2"), ("32.7.1", "4.6.1"), ("32.6.1", "4.6"),
    ("32.5.2", "4.5.1"), ("32.5.1", "4.5.1"), ("32.5.0", "4.5"), ("32.4.4", "4.4.1"), ("32.4.3", "4.4"),
]
LABELS = {"39.1.0": "GA (Orin SBSA)", "39.0.0": "EA", "38.4.0": "T400 Support", "38.2.2": "GA", "38.2.0": "GA",
          "38.1.0": "EA", "36.4.0": "GA", "36.3.0": "GA", "36.2.0": "DP", "36.0.0": "EA", "35.3.0": "PRE",
          "35.1.0": "GA", "34.1.1": "DP", "34.1.0": "DP"}


@pytest.mark.parametrize("l4t, jetpack", JETPACK)
def test_jetpack_for(l4t: str, jetpack: str) -> None:
    assert jetpack_for(l4t) == jetpack
    assert jetpack_for(parse_version(l4t)) == jetpack
    row = jetpack_row_for(l4t)
    assert row is not None and row.source
    assert row.label == LABELS.get(l4t)


def test_jetpack_table_is_exactly_the_facts_rows() -> None:
    assert [(str(row.l4t), row.jetpack) for row in JETPACK_RELEASES] == JETPACK
    assert "jetson-containers" in jetpack_row_for("36.4.4").source
    assert "fixtures/data/real/r36.5.0" in jetpack_row_for("36.5.0").source
    assert "jetson_stats PR #894" in jetpack_row_for("39.2.0").source


@pytest.mark.parametrize("l4t", ["36.4.5", "36.1.0", "35.6.3", "34.0.1", "32.7.7", "32.3.1", "28.2.1", "40.0.0"])
def test_jetpack_for_unknown_release(l4t: str) -> None:
    assert jetpack_for(l4t) is None
    assert jetpack_row_for(l4t) is None


# l4t -> (jetpack, cuda, cudnn, tensorrt, words the source must contain)
STACKS = {
    "32.4.4": ("4.4.1", "10.2", "8.0", "7.1.3", "Tiryoh"),
    "32.5.0": ("4.5", "10.2", "8.0", "7.1.3", "Tiryoh"),
    "32.5.1": ("4.5.1", "10.2", "8.0", "7.1.3", "Tiryoh"),
    "32.5.2": ("4.5.1", "10.2", "8.0", "7.1.3", "Tiryoh"),
    "32.6.1": ("4.6", "10.2", "8.2.1", "8.0.1", "Tiryoh"),
    "32.7.1": ("4.6.1", "10.2", "8.2.1", "8.2.1", "jetpack-sdk-461"),
    "32.7.2": ("4.6.2", "10.2", "8.2.1", "8.2.1", "jetpack-sdk-461"),
    "32.7.3": ("4.6.3", "10.2", "8.2", "8.2", "UWARG"),
    "32.7.4": ("4.6.4", "10.2", "8.2", "8.2", "27243860172"),
    "34.1.0": ("5.0", "11.4", None, None, "jetpack-sdk-50dp"),
    "34.1.1": ("5.0.1", "11.4", None, None, "jetpack-sdk-50dp"),
    "35.1.0": ("5.0.2", "11.4", "8.4.1", "8.4.1", "jetpack-sdk-502"),
    "35.2.1": ("5.1", "11.4", "8.6.0", "8.5.2", "jetpack-sdk-51"),
    "35.3.1": ("5.1.1", "11.4", "8.6.0", "8.5.2", "jetpack-sdk-511"),
    "35.4.1": ("5.1.2", "11.4", "8.6.0", "8.5.2", "jetpack-sdk-512"),
    "35.5.0": ("5.1.3", None, None, None, "not found"),
    "35.6.0": ("5.1.4", "11.4", "8.6.0", "8.5.2", "fixtures/data/real/r35.6.0"),
    "36.3.0": ("6.0", "12.2", "8.9", "8.6", "secondary"),
    "36.4.0": ("6.1", "12.6", "9.3", "10.3", "DLFW 24.09"),
    "36.4.3": ("6.2", "12.6", "9.3", "10.3", "PR #3453"),
    "36.4.4": ("6.2.1", "12.6.10", "9.3.0", "10.3.0", "52340033935"),
    "36.4.7": ("6.2.1", "12.6.10", "9.3.0", "10.3.0", "52340033935"),
    "36.5.0": ("6.2.2", "12.6.10", "9.3.0", "10.3.0", "52340033935"),
    "38.2.0": ("7.0", "13.0", "9.12", "10.13", "jetson-containers defaults"),
    "38.2.2": ("7.0", "13.0", "9.12", "10.13", "jetson-containers defaults"),
    "38.4.0": ("7.1", "13.0", None, None, "no published JetPack 7.1 stack"),
    "39.0.0": ("7.2", "13.2", None, None, "get_cuda_version"),
    "39.1.0": ("7.2", "13.2", None, None, "get_cuda_version"),
    "39.2.0": ("7.2", "13.2", None, None, "get_cuda_version"),
}


@pytest.mark.parametrize("l4t", sorted(STACKS))
def test_stack_for(l4t: str) -> None:
    jetpack, cuda, cudnn, tensorrt, source = STACKS[l4t]
    stack = stack_for(l4t)
    assert stack is not None
    assert (stack.jetpack, stack.cuda, stack.cudnn, stack.tensorrt) == (jetpack, cuda, cudnn, tensorrt)
    assert source in stack.source


def test_every_stack_row_is_reached() -> None:
    reached = {stack_for(l4t).source for l4t in STACKS}
    assert reached == {row.source for row in COMPUTE_STACKS}


@pytest.mark.parametrize("l4t", ["32.4.3", "32.7.5", "32.7.6", "35.3.0", "35.6.1", "35.6.4", "36.2.0", "36.4.2",
                                 "38.1.0", "40.0.0"])
def test_stack_for_release_without_published_stack(l4t: str) -> None:
    assert stack_for(l4t) is None


@pytest.mark.parametrize("l4t, ubuntu, python", [
    ("32.7.4", "18.04", "3.6"), ("34.1.1", "20.04", "3.8"), ("35.4.1", "20.04", "3.8"),
    ("36.4.0", "22.04", "3.10"), ("38.4.0", "24.04", "3.12"), ("39.1.0", "24.04", "3.12"),
    ("28.2.1", None, None), ("37.0.0", None, None),
])
def test_ubuntu_and_python_for(l4t: str, ubuntu: str | None, python: str | None) -> None:
    assert ubuntu_for(l4t) == ubuntu
    assert python_for(l4t) == python


# ------------------------------------------------------------------------------------------------------
# Modules


@pytest.mark.parametrize("key, arch, capability, default_l4t", [
    ("orin-agx", "sm_87", (8, 7), "36.4.0"), ("orin-nx", "sm_87", (8, 7), "36.4.0"),
    ("orin-nano", "sm_87", (8, 7), "36.4.0"), ("xavier-nx", "sm_72", (7, 2), "35.4.1"),
    ("nano", "sm_53", (5, 3), "32.7.4"), ("thor", "sm_110", (11, 0), "38.4.0"),
])
def test_modules(key: str, arch: str, capability: tuple[int, int], default_l4t: str) -> None:
    module = MODULES[key]
    assert module.key == key
    assert cuda_arch_for_module(key) == arch == cuda_arch_for_module(module)
    assert module.cuda_capability == capability
    assert str(module.default_l4t) == default_l4t
    assert module.default_l4t.kernel_variant == ("oot" if module.default_l4t.major >= 36 else None)
    assert jetpack_for(module.default_l4t) is not None
    assert module.total_rail is None or module.total_rail in module.rails
    assert module.name and module.gpu_name


def test_module_keys_and_orin_gpu_name() -> None:
    assert set(MODULES) == {"orin-agx", "orin-nx", "orin-nano", "xavier-nx", "nano", "thor"}
    assert {MODULES[k].gpu_name for k in ("orin-agx", "orin-nx", "orin-nano")} == {"Orin (nvgpu)"}


def test_cuda_arch_for_unknown_module() -> None:
    with pytest.raises(KeyError, match="orin-agx"):
        cuda_arch_for_module("tx3")


@pytest.mark.parametrize("key, sample", [
    ("orin-agx", "orin_agx_r36_4_4_a.txt"), ("orin-nano", "orin_nano_r36_idle.txt"),
    ("xavier-nx", "xavier_nx_r35_4_1.txt"), ("nano", "nano_r32_7_jp461_root.txt"), ("thor", "thor_r38_4_0.txt"),
])
def test_module_matches_its_real_tegrastats_capture(key: str, sample: str) -> None:
    """The simulator builds lines from MODULES; they must agree with what the real module printed."""
    module = MODULES[key]
    line = load(DATA / "tegrastats" / sample)
    parsed = parse_line(line)
    assert tuple(parsed.rails) == module.rails
    assert parsed.total_rail == module.total_rail
    assert len(parsed.cpus) == module.cpu_cores
    assert parsed.ram_total_mb == module.ram_mb
    assert len(parsed.gpc_freqs_mhz) == module.gpc_count


# ------------------------------------------------------------------------------------------------------
# Image references (facts section 4)

IMAGES = [
    ("dustynv/l4t-ml:r32.7.1", "32.7.1", None, None),
    ("dustynv/l4t-ml:r35.2.1", "35.2.1", None, None),
    ("dustynv/l4t-ml:r35.3.1", "35.3.1", None, None),
    ("dustynv/l4t-ml:r35.4.1", "35.4.1", None, None),
    ("dustynv/l4t-ml:r36.2.0", "36.2.0", None, None),
    ("dustynv/l4t-ml:r36.4.0", "36.4.0", None, None),
    ("dustynv/l4t-pytorch:r32.7.1", "32.7.1", None, None),
    ("dustynv/l4t-pytorch:r35.2.1", "35.2.1", None, None),
    ("dustynv/l4t-pytorch:r35.3.1", "35.3.1", None, None),
    ("dustynv/l4t-pytorch:r35.4.1", "35.4.1", None, None),
    ("dustynv/l4t-pytorch:2.2-r35.4.1", "35.4.1", "2.2", None),
    ("dustynv/l4t-pytorch:r36.2.0", "36.2.0", None, None),
    ("dustynv/l4t-pytorch:r36.3.0-cu124", "36.3.0", None, "12.4"),
    ("dustynv/l4t-pytorch:r36.4.0", "36.4.0", None, None),
    ("dustynv/l4t-pytorch:r35.1.0-pth1.11-py3", "35.1.0", "1.11", None),
    ("dustynv/l4t-pytorch:r35.1.0-pth1.12-py3", "35.1.0", "1.12", None),
    ("dustynv/l4t-pytorch:r35.1.0-pth1.13-py3", "35.1.0", "1.13", None),
    ("dustynv/pytorch:1.9-r32.7.1", "32.7.1", "1.9", None),
    ("dustynv/pytorch:1.10-r32.7.1", "32.7.1", "1.10", None),
    ("dustynv/pytorch:1.11-r35.2.1", "35.2.1", "1.11", None),
    ("dustynv/pytorch:1.11-r35.3.1", "35.3.1", "1.11", None),
    ("dustynv/pytorch:1.11-r35.4.1", "35.4.1", "1.11", None),
    ("dustynv/pytorch:1.12-r35.2.1", "35.2.1", "1.12", None),
    ("dustynv/pytorch:1.12-r35.3.1", "35.3.1", "1.12", None),
    ("dustynv/pytorch:1.12-r35.4.1", "35.4.1", "1.12", None),
    ("dustynv/pytorch:1.13-r35.2.1", "35.2.1", "1.13", None),
    ("dustynv/pytorch:1.13-r35.3.1", "35.3.1", "1.13", None),
    ("dustynv/pytorch:1.13-r35.4.1", "35.4.1", "1.13", None),
    ("dustynv/pytorch:2.0-r35.2.1", "35.2.1", "2.0", None),
    ("dustynv/pytorch:2.0-r35.3.1", "35.3.1", "2.0", None),
    ("dustynv/pytorch:2.0-r35.4.1", "35.4.1", "2.0", None),
    ("dustynv/pytorch:2.1-r35.2.1", "35.2.1", "2.1", None),
    ("dustynv/pytorch:2.1-r35.3.1", "35.3.1", "2.1", None),
    ("dustynv/pytorch:2.1-r35.4.1", "35.4.1", "2.1", None),
    ("dustynv/pytorch:2.1-r36.2.0", "36.2.0", "2.1", None),
    ("dustynv/pytorch:2.6-r36.4.0-cu128", "36.4.0", "2.6", "12.8"),
    ("dustynv/pytorch:2.6-r36.4.0-cu128-24.04", "36.4.0", "2.6", "12.8"),
    ("dustynv/pytorch:2.7-r36.4.0", "36.4.0", "2.7", None),
    ("dustynv/pytorch:2.7-r36.4.0-cu128-24.04", "36.4.0", "2.7", "12.8"),
    ("dustynv/pytorch:2.8-r36.4.4-cu128-24.04", "36.4.4", "2.8", "12.8"),
    ("dustynv/pytorch:2.8-r36.4-cu128-24.04", "36.4.0", "2.8", "12.8"),
    ("dustynv/pytorch:2.6-amd64-cu128-24.04", None, "2.6", "12.8"),
    ("nvcr.io/nvidia/l4t-base:r32.7.1", "32.7.1", None, None),
    ("nvcr.io/nvidia/l4t-base:r36.2.0", "36.2.0", None, None),
    ("nvcr.io/nvidia/l4t-base:r36.4.0", "36.4.0", None, None),
    ("nvcr.io/nvidia/l4t-jetpack:r35.4.1", "35.4.1", None, None),
    ("nvcr.io/nvidia/l4t-jetpack:r36.3.0", "36.3.0", None, None),
    ("nvcr.io/nvidia/l4t-jetpack:r36.4.0", "36.4.0", None, None),
    ("nvcr.io/nvidia/l4t-ml:r35.2.1-py3", "35.2.1", None, None),
    ("nvcr.io/nvidia/l4t-ml:r35.1.0-py3", "35.1.0", None, None),
    ("nvcr.io/nvidia/l4t-ml:r34.1.1-py3", "34.1.1", None, None),
    ("nvcr.io/nvidia/l4t-ml:r34.1.0-py3", "34.1.0", None, None),
    ("nvcr.io/nvidia/l4t-ml:r32.7.1-py3", "32.7.1", None, None),
    ("nvcr.io/nvidia/l4t-ml:r32.6.1-py3", "32.6.1", None, None),
    ("nvcr.io/nvidia/l4t-ml:r32.5.0-py3", "32.5.0", None, None),
    ("nvcr.io/nvidia/l4t-ml:r32.4.4-py3", "32.4.4", None, None),
    ("nvcr.io/nvidia/l4t-ml:r32.4.3-py3", "32.4.3", None, None),
    ("nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3", "35.2.1", "2.0", None),
    ("nvcr.io/nvidia/l4t-pytorch:r35.1.0-pth1.13-py3", "35.1.0", "1.13", None),
    ("nvcr.io/nvidia/l4t-pytorch:r35.1.0-pth1.12-py3", "35.1.0", "1.12", None),
    ("nvcr.io/nvidia/l4t-pytorch:r35.1.0-pth1.11-py3", "35.1.0", "1.11", None),
    ("nvcr.io/nvidia/l4t-pytorch:r34.1.1-pth1.12-py3", "34.1.1", "1.12", None),
    ("nvcr.io/nvidia/l4t-pytorch:r34.1.1-pth1.11-py3", "34.1.1", "1.11", None),
    ("nvcr.io/nvidia/l4t-pytorch:r34.1.0-pth1.12-py3", "34.1.0", "1.12", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.7.1-pth1.10-py3", "32.7.1", "1.10", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.7.1-pth1.9-py3", "32.7.1", "1.9", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.6.1-pth1.9-py3", "32.6.1", "1.9", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.6.1-pth1.8-py3", "32.6.1", "1.8", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.5.0-pth1.7-py3", "32.5.0", "1.7", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.5.0-pth1.6-py3", "32.5.0", "1.6", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.4.4-pth1.6-py3", "32.4.4", "1.6", None),
    ("nvcr.io/nvidia/l4t-pytorch:r32.4.3-pth1.6-py3", "32.4.3", "1.6", None),
]


def test_every_image_fixture_has_expectations() -> None:
    refs = [line for path in sorted((DATA / "image_refs").glob("*.txt"))
            for line in load(path).splitlines() if line]
    assert sorted(refs) == sorted(ref for ref, *_ in IMAGES)


@pytest.mark.parametrize("ref, l4t, torch, cuda", IMAGES)
def test_parse_image_ref_facts_tags(ref: str, l4t: str | None, torch: str | None, cuda: str | None) -> None:
    image = parse_image_ref(ref)
    assert (str(image.l4t) if image.l4t else None, image.torch, image.cuda) == (l4t, torch, cuda)
    assert image.registry == ("nvcr.io" if ref.startswith("nvcr.io/") else None)
    assert image.repository == ref.removeprefix("nvcr.io/").split(":")[0]
    assert image.tag == ref.split(":")[-1]
    assert image.digest is None
    assert str(image) == ref


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("ref, expected", [
    ("nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3",
     ImageRef("nvcr.io", "nvidia/l4t-pytorch", "r35.2.1-pth2.0-py3", None, L4TRelease(35, 2, 1), "2.0", None, None)),
    ("nvcr.io/nvidia/l4t-base:r36.2.0",
     ImageRef("nvcr.io", "nvidia/l4t-base", "r36.2.0", None, L4TRelease(36, 2, 0), None, None, None)),
    ("dustynv/pytorch:2.8-r36.4.4-cu128-24.04",
     ImageRef(None, "dustynv/pytorch", "2.8-r36.4.4-cu128-24.04", None, L4TRelease(36, 4, 4), "2.8", "12.8",
              "24.04")),
    (f"docker.io/dustynv/pytorch:2.1-r36.2.0@{DIGEST}",
     ImageRef("docker.io", "dustynv/pytorch", "2.1-r36.2.0", DIGEST, L4TRelease(36, 2, 0), "2.1", None, None)),
    (f"nvcr.io/nvidia/l4t-base@{DIGEST}",
     ImageRef("nvcr.io", "nvidia/l4t-base", None, DIGEST, None, None, None, None)),
    ("localhost:5000/vl_jepa:r36_4_0-cu126",
     ImageRef("localhost:5000", "vl_jepa", "r36_4_0-cu126", None, None, None, "12.6", None)),
    ("registry.local/agents/vl_jepa:R36.4.0_cu102",
     ImageRef("registry.local", "agents/vl_jepa", "R36.4.0_cu102", None, L4TRelease(36, 4, 0), None, "10.2", None)),
    ("python:3.11", ImageRef(None, "python", "3.11", None, None, None, None, None)),
    ("ubuntu", ImageRef(None, "ubuntu", None, None, None, None, None, None)),
    ("dustynv/pytorch:r2-foo", ImageRef(None, "dustynv/pytorch", "r2-foo", None, None, None, None, None)),
])
def test_parse_image_ref_forms(ref: str, expected: ImageRef) -> None:
    assert parse_image_ref(ref) == expected
    assert str(parse_image_ref(ref)) == ref


@pytest.mark.parametrize("ref", ["", " ", "Dustynv/pytorch:r36.4.0", "dustynv/pytorch:", "dustynv/pytorch:-r36",
                                 "nvcr.io/", "a b", "dustynv/pytorch@sha256:xyz", "dustynv//pytorch",
                                 "dustynv/pytorch:" + "x" * 200])
def test_parse_image_ref_rejects(ref: str) -> None:
    with pytest.raises(ParseError):
        parse_image_ref(ref)


@given(registry=st.sampled_from(["", "nvcr.io/", "localhost:5000/", "docker.io/"]),
       repo=st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True),
       pkg=st.one_of(st.none(), st.tuples(st.integers(0, 99), st.integers(0, 99))),
       l4t=st.tuples(st.integers(0, 9999), st.integers(0, 9999), st.integers(0, 9999)),
       cuda=st.one_of(st.none(), st.sampled_from(["102", "114", "124", "126", "128", "130"])))
def test_image_ref_round_trip(registry: str, repo: str, pkg: tuple[int, int] | None,
                              l4t: tuple[int, int, int], cuda: str | None) -> None:
    parts = [f"{pkg[0]}.{pkg[1]}"] if pkg else []
    parts.append("r{}.{}.{}".format(*l4t))
    if cuda:
        parts.append(f"cu{cuda}")
    ref = f"{registry}{repo}:{'-'.join(parts)}"
    image = parse_image_ref(ref)
    assert str(image) == ref
    assert image.l4t is not None and image.l4t.version == l4t
    assert image.cuda == (f"{int(cuda[:2])}.{int(cuda[2:])}" if cuda else None)
    assert image.torch == (parts[0] if pkg and repo.rsplit("/", 1)[-1] in ("pytorch", "l4t-pytorch") else None)


# ------------------------------------------------------------------------------------------------------
# Host / container compatibility: each branch of jetson-containers' rule, both verdicts where it has two

RULE = "(jetson-containers l4t_version_compatible)"


@pytest.mark.parametrize("host, container, ok, rule", [
    ("38.4.0", "35.2.1", True, "an R38 host accepts any container"),
    ("38.2.0", "39.1.0", True, "an R38 host accepts any container"),
    ("39.2.0", "32.7.1", True, "an R39 host accepts any container"),
    ("36.4.0", "36.4.4", True, "same side of 36.4"),
    ("36.4.7", "36.5.0", True, "same side of 36.4"),
    ("36.3.0", "36.2.0", True, "same side of 36.4"),
    ("36.4.0", "36.3.0", False, "same side of 36.4"),
    ("36.3.0", "36.4.0", False, "same side of 36.4"),
    ("36.4.0", "35.2.1", False, "an R36 host needs an R36 container"),
    ("36.2.0", "38.4.0", False, "an R36 host needs an R36 container"),
    ("35.4.1", "35.2.1", True, "an R35 host needs an R35 container"),
    ("35.1.0", "35.6.4", True, "an R35 host needs an R35 container"),
    ("35.4.1", "36.4.0", False, "an R35 host needs an R35 container"),
    ("35.4.1", "34.1.1", False, "an R35 host needs an R35 container"),
    ("34.1.1", "34.1.0", True, "an R34 host needs an R34 container"),
    ("34.1.0", "35.1.0", False, "an R34 host needs an R34 container"),
    ("32.7.4", "32.7.1", True, "an R32.7+ host needs an R32 container at 32.7 or later"),
    ("32.7.1", "32.7.6", True, "an R32.7+ host needs an R32 container at 32.7 or later"),
    ("32.7.4", "32.6.1", False, "an R32.7+ host needs an R32 container at 32.7 or later"),
    ("32.7.4", "35.2.1", False, "an R32.7+ host needs an R32 container at 32.7 or later"),
    ("32.6.1", "32.6.1", True, "exactly its L4T release"),
    ("32.5.1", "32.5.0", False, "exactly its L4T release"),
    ("32.6.1", "32.7.1", False, "exactly its L4T release"),
    ("37.0.0", "37.0.0", True, "exactly its L4T release"),
])
def test_container_compatible(host: str, container: str, ok: bool, rule: str) -> None:
    verdict = container_compatible(host, container)
    assert verdict.ok is ok
    assert bool(verdict) is ok
    assert rule in verdict.reason
    joint = "and" if ok else "but"
    assert verdict.reason.startswith(f"container targets L4T {container} {joint} the host runs {host}: ")
    assert verdict.reason.endswith(RULE)
    assert "\n" not in verdict.reason


def test_container_compatible_reason_reads_as_specified() -> None:
    image = parse_image_ref("nvcr.io/nvidia/l4t-pytorch:r35.2.1-pth2.0-py3")
    verdict = container_compatible(parse_version("36.4.0"), image)
    assert verdict == Compatibility(False, "container targets L4T 35.2.1 but the host runs 36.4.0: an R36 host needs "
                                           "an R36 container (jetson-containers l4t_version_compatible)")


def test_container_compatible_with_parsed_release_and_image() -> None:
    host = parse_release(load(DATA / "nv_tegra_release" / "r36_4_3_generic.txt"))
    assert container_compatible(host, parse_image_ref("dustynv/pytorch:2.8-r36.4.4-cu128-24.04")).ok
    assert not container_compatible(host, parse_image_ref("dustynv/l4t-pytorch:r35.4.1")).ok


def test_container_compatible_image_without_l4t() -> None:
    verdict = container_compatible("36.4.0", parse_image_ref("dustynv/pytorch:2.6-amd64-cu128-24.04"))
    assert not verdict.ok
    assert "dustynv/pytorch:2.6-amd64-cu128-24.04 names no L4T release" in verdict.reason
    assert "36.4.0" in verdict.reason
