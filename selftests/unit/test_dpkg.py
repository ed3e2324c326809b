"""jetson_hil.dpkg on real `dpkg -l` / `dpkg-query` captures, composed Jetson listings, and dpkg's version order
checked against the real `dpkg --compare-versions`."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jetson_hil.dpkg import (
    JETPACK_PACKAGES,
    DebianVersion,
    DpkgPackage,
    compare_versions,
    packages_matching,
    parse_dpkg_l,
    parse_dpkg_query,
    parse_packages,
    versions,
)
from jetson_hil.errors import ParseError

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "dpkg"
HEADER = ("# source:", "# note:")


def load(name: str) -> str:
    lines = (DATA / name).read_text().splitlines()
    assert lines[0].startswith("# source: "), f"{name} must name its source on line 1"
    return "\n".join(line for line in lines if not line.startswith(HEADER)) + "\n"


def by_name(pkgs: list[DpkgPackage]) -> dict[str, DpkgPackage]:
    return {p.name: p for p in pkgs}


# ------------------------------------------------------------------------------------------------------
# dpkg -l


def test_real_debian_listing_field_by_field():
    pkgs = parse_dpkg_l(load("debian12_dpkg_l_slice.txt"))
    assert len(pkgs) == 23
    first = pkgs[0]
    assert first == DpkgPackage("adduser", "3.134", "all", "add and remove users and groups", "ii")
    assert (first.desired, first.state, first.error, first.installed) == ("install", "installed", "", True)
    libc = by_name(pkgs)["libc6"]
    assert (libc.version, libc.arch, libc.description) == (
        "2.36-9+deb12u14",
        "amd64",
        "GNU C Library: Shared libraries",
    )
    assert by_name(pkgs)["libbpf1"].version == "1:1.1.2-0+deb12u1"
    assert by_name(pkgs)["libxmuu1"].debian_version.epoch == 2
    # The description column is cut by dpkg at the ruler's width; the parser keeps what is there.
    assert by_name(pkgs)["dbus-system-bus-common"].description.startswith("simple interprocess messaging system")
    assert all(":" not in p.name for p in pkgs)


def test_real_tty_listing_has_narrow_columns():
    pkgs = parse_dpkg_l(load("debian12_dpkg_l_tty80.txt"))
    assert [p.name for p in pkgs] == [
        "adduser", "libc6", "libgcc-s1", "libstdc++6", "linux-libc-dev", "python3-minimal",
    ]  # fmt: skip
    assert by_name(pkgs)["libgcc-s1"].version == "12.2.0-14+deb12u1"
    assert by_name(pkgs)["linux-libc-dev"].arch == "amd64"
    # The ruler stops at 80 columns; the description runs past it and is kept whole.
    assert by_name(pkgs)["python3-minimal"].description == (
        "minimal subset of the Python language (default python3 version)"
    )


def test_real_unknown_packages_have_no_version_or_arch():
    pkgs = parse_dpkg_l(load("debian12_dpkg_l_star_unknown.txt"))
    acl = by_name(pkgs)["acl"]
    assert (acl.status, acl.version, acl.arch, acl.description) == ("un", None, None, "")
    assert (acl.desired, acl.state, acl.installed) == ("unknown", "not-installed", False)
    assert [p.status for p in pkgs].count("ii") == 2


def test_composed_jetson_listing():
    pkgs = by_name(parse_dpkg_l(load("jetson_orin_jp621_dpkg_l_composed.txt")))
    core = pkgs["nvidia-l4t-core"]
    assert (core.version, core.arch, core.description) == ("36.4.4-20250616085344", "arm64", "NVIDIA Core Package")
    assert pkgs["nvidia-jetpack"].version == "6.2.1+b38"
    assert pkgs["tensorrt"].version == "10.3.0.30-1+cuda12.5"
    assert pkgs["libcudnn8"].status == "rc"
    assert (pkgs["libcudnn8"].state, pkgs["libcudnn8"].installed) == ("config-files", False)
    assert (pkgs["nvidia-l4t-kernel"].desired, pkgs["nvidia-l4t-kernel"].installed) == ("hold", True)
    assert pkgs["nvidia-l4t-kernel"].version == "5.15.148-tegra-36.4.4-20250616085344"


def test_grep_output_without_header_reads_the_same():
    pkgs = parse_dpkg_l(load("jetson_xavier_jp512_grep_composed.txt"))
    assert versions(pkgs) == {
        "cuda-11-4": "11.4.19-1",
        "cuda-runtime-11-4": "11.4.19-1",
        "libcudnn8": "8.6.0.166-1+cuda11.4",
        "nvidia-jetpack": "5.1.2-b104",
        "nvidia-l4t-core": "35.4.1-20230801124926",
        "tensorrt": "8.5.2.2-1+cuda11.4",
    }
    assert {p.arch for p in pkgs} == {"arm64"}


def test_old_layout_without_architecture_column():
    pkgs = parse_dpkg_l(load("old_dpkg_no_arch_column_composed.txt"))
    assert [(p.name, p.arch) for p in pkgs] == [("adduser", None), ("all-in-one", None), ("broken-pkg", None)]
    assert pkgs[1].description == "a package whose description starts with all"
    broken = pkgs[2]
    assert (broken.status, broken.state, broken.error, broken.installed) == (
        "iHR", "half-installed", "reinst-required", False,
    )  # fmt: skip


def test_arch_qualifier_goes_to_arch_when_no_column():
    (pkg,) = parse_dpkg_l("ii  libc6:arm64  2.35-0ubuntu3.8  GNU C Library\n")
    assert (pkg.name, pkg.arch, pkg.description) == ("libc6", "arm64", "GNU C Library")


def test_unrecognised_line_names_its_number():
    text = "ii  adduser 3.134 all users\nnot a package line\n"
    with pytest.raises(ParseError, match="line 2") as info:
        parse_dpkg_l(text)
    assert info.value.text == "not a package line"
    assert info.value.line_number == 2
    assert [p.name for p in parse_dpkg_l(text, strict=False)] == ["adduser"]


def test_dpkg_query_message_is_skipped_when_not_strict():
    text = "dpkg-query: no packages found matching nvidia-jetpack\n"
    assert parse_dpkg_l(text, strict=False) == []
    with pytest.raises(ParseError):
        parse_dpkg_l(text)


# ------------------------------------------------------------------------------------------------------
# dpkg-query


def test_real_dpkg_query_W():
    pkgs = parse_dpkg_query(load("debian12_dpkg_query_W.txt"))
    assert len(pkgs) == 13
    assert pkgs[0] == DpkgPackage("adduser", "3.134")
    assert pkgs[0].status is None and pkgs[0].installed is True and pkgs[0].desired is None


def test_real_dpkg_query_show_strips_arch():
    pkgs = by_name(parse_dpkg_query(load("debian12_dpkg_query_show.txt")))
    assert pkgs["libfreetype-dev"] == DpkgPackage("libfreetype-dev", "2.12.1+dfsg-5+deb12u4", "amd64")
    assert pkgs["less"].version == "590-2.1~deb12u2"


def test_dpkg_query_not_installed_has_no_version():
    (pkg,) = parse_dpkg_query("nvidia-jetpack\t\n")
    assert (pkg.name, pkg.version, pkg.installed) == ("nvidia-jetpack", None, False)


def test_dpkg_query_line_without_tab_is_an_error():
    with pytest.raises(ParseError, match="line 1"):
        parse_dpkg_query("nvidia-l4t-core 36.4.4-20250616085344\n")


def test_parse_packages_picks_the_format():
    assert parse_packages(load("debian12_dpkg_query_W.txt"))[0].status is None
    assert parse_packages(load("debian12_dpkg_l_slice.txt"))[0].status == "ii"
    assert parse_packages("") == []


def test_packages_matching_runbook_filter():
    pkgs = parse_dpkg_l(load("jetson_orin_jp621_dpkg_l_composed.txt"))
    names = [p.name for p in packages_matching(pkgs, JETPACK_PACKAGES)]
    assert names == [
        "cuda-12-6", "cuda-cudart-12-6", "cuda-runtime-12-6", "libcudnn9-cuda-12", "libcudnn8",
        "nvidia-jetpack", "nvidia-l4t-core", "tensorrt",
    ]  # fmt: skip
    assert packages_matching(parse_dpkg_l(load("debian12_dpkg_l_slice.txt")), JETPACK_PACKAGES) == []


# ------------------------------------------------------------------------------------------------------
# Versions


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0~~", "1.0~", -1),
        ("1.0~", "1.0", -1),
        ("1.0", "1.0+b1", -1),
        ("1.0a", "1.0", 1),
        ("1.0.", "1.0", 1),
        ("1:0.1", "2.0", 1),
        ("0:1.0", "1.0", 0),
        ("1.01", "1.1", 0),
        ("1.0-0", "1.0", 0),
        ("1.10", "1.9", 1),
        ("2.36-9+deb12u14", "2.36-9+deb12u4", 1),
        ("36.4.4-20250616085344", "36.4.3-20250107174145", 1),
        ("35.4.1-20230801124926", "36.2.0-20240109120617", -1),
        ("5.1.2-b104", "5.1.2-b99", 1),
        ("6.2.1+b38", "6.2+b77", 1),
        ("10.3.0.30-1+cuda12.5", "8.5.2.2-1+cuda11.4", 1),
        ("1.14.10-1~deb12u1", "1.14.10-1", -1),
    ],
)
def test_compare_versions(a, b, expected):
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected
    assert (DebianVersion.parse(a) == DebianVersion.parse(b)) is (expected == 0)


def test_debian_version_fields():
    v = DebianVersion.parse("1:2.0~rc1-3+deb12u1")
    assert (v.epoch, v.upstream, v.revision, str(v)) == (1, "2.0~rc1", "3+deb12u1", "1:2.0~rc1-3+deb12u1")
    v = DebianVersion.parse("5.15.148-tegra-36.4.4-20250616085344")
    assert (v.upstream, v.revision) == ("5.15.148-tegra-36.4.4", "20250616085344")
    assert sorted(["1.0", "1.0~rc1", "0:1.0+b1", "1:0.1"], key=DebianVersion.parse) == [
        "1.0~rc1", "1.0", "0:1.0+b1", "1:0.1",
    ]  # fmt: skip
    assert DebianVersion.parse("1.0") < "1.1"
    assert hash(DebianVersion.parse("1.01-0")) == hash(DebianVersion.parse("1.1"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("1.0 beta", "spaces"),
        ("a:1.0", "epoch is not a number"),
        (":1.0", "epoch is empty"),
        ("1:", "nothing after the epoch"),
        ("1.0-", "revision is empty"),
        ("-1", "upstream version is empty"),
        ("1.0_1", "invalid character"),
        ("1.0-1_2", "invalid character"),
        ("1.0-1:2", "epoch is not a number"),
    ],
)
def test_invalid_versions(text, message):
    with pytest.raises(ParseError, match=message):
        DebianVersion.parse(text)


_DIGITS = st.text("0123456789", min_size=1, max_size=3)
_PART = st.text("0123456789abcz.+~", min_size=0, max_size=6)
VERSIONS = st.builds(
    lambda epoch, head, tail, rev: (
        (f"{epoch}:" if epoch is not None else "") + head + tail + (f"-{rev}" if rev else "")
    ),
    st.one_of(st.none(), st.integers(0, 3)),
    _DIGITS,
    _PART,
    st.one_of(st.none(), st.text("0123456789abz.+~", min_size=1, max_size=5)),
)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs the real dpkg as the oracle")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VERSIONS, VERSIONS)
def test_compare_agrees_with_real_dpkg(a, b):
    ours = compare_versions(a, b)
    for op, want in (("lt", ours < 0), ("eq", ours == 0), ("gt", ours > 0)):
        real = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True, timeout=10)
        assert (real.returncode == 0) is want, (a, op, b, real.stderr)


@given(VERSIONS, VERSIONS, VERSIONS)
def test_order_is_total_and_consistent_with_hash(a, b, c):
    va, vb, vc = (DebianVersion.parse(x) for x in (a, b, c))
    assert compare_versions(a, b) == -compare_versions(b, a)
    if va <= vb <= vc:
        assert va <= vc
    if va == vb:
        assert hash(va) == hash(vb)


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text):
    for parse in (parse_dpkg_l, parse_dpkg_query, parse_packages, DebianVersion.parse):
        with contextlib.suppress(ParseError):
            parse(text)
