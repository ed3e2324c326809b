"""Debian package listings and versions: `dpkg -l`, `dpkg-query -W` / `--show`, and dpkg's version order.

Task 1 reads the JetPack packages (`nvidia-jetpack`, `nvidia-l4t-core`, `cuda-*`, `libcudnn*`, `tensorrt`)
from the device; Task 4 compares their versions. The version order is dpkg's own (epoch, upstream version,
Debian revision, with `~` sorting before everything, even the end of the string), so `36.4.4-2025...`
and `1:2.0~rc1` compare as `dpkg --compare-versions` would.

>>> pkgs = parse_dpkg_l("ii  nvidia-l4t-core  36.4.4-20250616085344  arm64  NVIDIA Core Package")
>>> pkgs[0].name, pkgs[0].version, pkgs[0].installed
('nvidia-l4t-core', '36.4.4-20250616085344', True)
>>> compare_versions("1.0~rc1", "1.0")
-1
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

from jetson_hil.errors import ParseError

__all__ = [
    "JETPACK_PACKAGES",
    "DebianVersion",
    "DpkgPackage",
    "ParseError",
    "compare_versions",
    "is_jetpack_meta_package",
    "jetpack_of_meta_version",
    "packages_matching",
    "parse_dpkg_l",
    "parse_dpkg_query",
    "parse_name_version",
    "parse_packages",
    "versions",
]

# The runbook's Task 1 filter (plus nvidia-l4t-core, which carries the exact L4T release).
JETPACK_PACKAGES = r"nvidia-jetpack|nvidia-l4t-core|cuda|cudnn|tensorrt"

# JetPack's meta-packages: NVIDIA versions them like JetPack ('6.2.1+b38', '5.1.2-b104', '4.5.1-b17'), not like the
# component they pull in (nvidia-tensorrt 6.2.1+b38 beside tensorrt 10.3.0.30-1+cuda12.5). Names seen in real listings:
# fixtures/data/real/r36.4.7/packages.txt, fixtures/data/real/r32.5/apt_show_nvidia_jetpack.txt.
_JETPACK_META = re.compile(
    r"nvidia-(?:jetpack|cuda|cudnn\d*|tensorrt|opencv|vpi|container|visionworks|nsight-sys)(?:-dev|-runtime)?"
)
_JETPACK_META_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)[+-]b\d+")

# dpkg's status letters (dpkg-query(1), "Desired=Unknown/Install/Remove/Purge/Hold" header).
DESIRED = {"u": "unknown", "i": "install", "h": "hold", "r": "remove", "p": "purge"}
STATE = {
    "n": "not-installed",
    "c": "config-files",
    "H": "half-installed",
    "U": "unpacked",
    "F": "half-configured",
    "W": "triggers-awaited",
    "t": "triggers-pending",
    "i": "installed",
}
_ARCHES = {
    "all", "any", "amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "s390x", "riscv64", "mips64el",
    "mipsel", "loong64", "powerpc", "ppc64", "sparc64", "x32", "hppa", "m68k", "sh4", "alpha", "ia64",
}  # fmt: skip

_HEADER = re.compile(r"^(Desired=|\| Status=|\|/ Err\?=|\|\|/ |\+\+\+-)")
_ENTRY = re.compile(r"^([uihrp])([ncHUFWti])([ A-Z]?)\s+(\S+)\s+(\S+)(?:\s+(.*?))?\s*$")


@dataclass(frozen=True)
class DpkgPackage:
    """One package as dpkg reports it.

    name has any `:arch` qualifier removed (it goes to arch when the listing has no architecture column).
    version is None for a package dpkg knows only by name (`<none>`, or an empty dpkg-query version).
    status is the two or three status letters of `dpkg -l` ('ii', 'rc', 'iHR'), None from dpkg-query.
    """

    name: str
    version: str | None
    arch: str | None = None
    description: str = ""
    status: str | None = None

    @property
    def desired(self) -> str | None:
        """'install', 'hold', 'remove', 'purge' or 'unknown' (from the first status letter)."""
        return DESIRED.get(self.status[0]) if self.status else None

    @property
    def state(self) -> str | None:
        """'installed', 'config-files', 'half-installed', ... (from the second status letter)."""
        return STATE.get(self.status[1]) if self.status and len(self.status) > 1 else None

    @property
    def error(self) -> str | None:
        """'reinst-required' when the third letter says so, '' for none, None when unknown."""
        if self.status is None:
            return None
        flag = self.status[2:3].strip()
        return "reinst-required" if flag == "R" else flag

    @property
    def installed(self) -> bool | None:
        """Whether the package is installed; from dpkg-query output, whether it has a version."""
        if self.status is None:
            return self.version is not None
        return self.status[1] == "i" and self.error == ""

    @property
    def debian_version(self) -> DebianVersion | None:
        return DebianVersion.parse(self.version) if self.version else None


def _split_arch(name: str, arch: str | None) -> tuple[str, str | None]:
    base, sep, qualifier = name.partition(":")
    if sep and base:
        return base, arch or qualifier
    return name, arch


def parse_dpkg_l(text: str, *, strict: bool = True) -> list[DpkgPackage]:
    """Parse `dpkg -l` output, header or not, and the lines of `dpkg -l | grep ...`.

    Columns are told apart by whitespace, not by position, so the wide columns of a modern dpkg, the narrow
    ones of an 80-column terminal and a cut description all read the same. The number of columns comes from
    the `+++-===` ruler when present (old dpkg has no Architecture column); without a ruler the third word
    is taken as the architecture only when it is one. Unrecognised lines raise ParseError naming the line,
    or are skipped with strict=False (e.g. `dpkg-query: no packages found matching ...`).
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_dpkg_l needs a str, got {type(text).__name__}")
    has_arch: bool | None = None
    packages: list[DpkgPackage] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if _HEADER.match(line):
            if line.startswith("+++-"):
                has_arch = sum(1 for ruler in line.split("-")[1:] if ruler.strip()) >= 4
            continue
        m = _ENTRY.match(line)
        if not m:
            if strict:
                raise ParseError("not a dpkg -l package line", line, line_number=number)
            continue
        desired, state, err, name, version, rest = m.groups()
        rest = rest or ""
        arch: str | None = None
        words = rest.split(None, 1)
        if has_arch is True or (has_arch is None and words and words[0] in _ARCHES | {"<none>"}):
            arch = words[0] if words and words[0] != "<none>" else None
            rest = words[1] if len(words) > 1 else ""
        name, arch = _split_arch(name, arch)
        packages.append(
            DpkgPackage(
                name=name,
                version=None if version == "<none>" else version,
                arch=arch,
                description="" if rest == "(no description available)" else rest,
                status=desired + state + err.strip(),
            )
        )
    return packages


def parse_dpkg_query(text: str, *, strict: bool = True) -> list[DpkgPackage]:
    """Parse `dpkg-query -W -f='${Package}\\t${Version}\\n'` or `dpkg-query --show` (`name[:arch]\\tversion`).

    A package that dpkg knows only by name shows an empty version and gets version None. Lines without a tab
    raise ParseError, or are skipped with strict=False.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_dpkg_query needs a str, got {type(text).__name__}")
    packages: list[DpkgPackage] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, tab, version = line.partition("\t")
        name, version = name.strip(), version.strip()
        if not tab or not name or " " in name or "\t" in version or " " in version:
            if strict:
                raise ParseError("not a dpkg-query 'package<TAB>version' line", line, line_number=number)
            continue
        name, arch = _split_arch(name, None)
        packages.append(DpkgPackage(name=name, version=version or None, arch=arch))
    return packages


def parse_packages(text: str, *, strict: bool = True) -> list[DpkgPackage]:
    """`dpkg-query` output when the lines have tabs, `dpkg -l` output otherwise."""
    if not isinstance(text, str):
        raise TypeError(f"parse_packages needs a str, got {type(text).__name__}")
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all("\t" in line for line in lines):
        return parse_dpkg_query(text, strict=strict)
    return parse_dpkg_l(text, strict=strict)


def is_jetpack_meta_package(name: str) -> bool:
    """True for JetPack's meta-packages (nvidia-jetpack, nvidia-tensorrt, nvidia-cudnn8, ...), which carry JetPack's
    version rather than their component's.

    >>> is_jetpack_meta_package("nvidia-tensorrt"), is_jetpack_meta_package("tensorrt")
    (True, False)
    >>> is_jetpack_meta_package("nvidia-l4t-cuda"), is_jetpack_meta_package("nvidia-container-toolkit")
    (False, False)
    """
    return bool(_JETPACK_META.fullmatch(name))


def jetpack_of_meta_version(version: str) -> str | None:
    """The JetPack release a meta-package version names ('6.2.2+b24' -> '6.2.2', '5.1.2-b104' -> '5.1.2'), or None.

    >>> jetpack_of_meta_version("7.1-b112"), jetpack_of_meta_version("10.3.0.30-1+cuda12.5")
    ('7.1', None)
    """
    m = _JETPACK_META_VERSION.fullmatch(version.strip())
    return m.group(1) if m else None


def parse_name_version(text: str, *, strict: bool = True) -> list[DpkgPackage]:
    """Parse `name version` lines (whitespace between), the form of `dpkg-query -W -f='${Package} ${Version}\\n'`
    and of many scripts' package reports; `apt list --installed` lines (`name/suite,now version arch [installed]`)
    read the same way.

    >>> [(p.name, p.version) for p in parse_name_version("nvidia-tensorrt 6.2.1+b38\\ntensorrt 10.3.0.30-1+cuda12.5")]
    [('nvidia-tensorrt', '6.2.1+b38'), ('tensorrt', '10.3.0.30-1+cuda12.5')]
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_name_version needs a str, got {type(text).__name__}")
    packages: list[DpkgPackage] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        apt = re.fullmatch(r"([a-z0-9][a-z0-9+.:-]*)/\S*,now", words[0])
        if apt and len(words) >= 2:
            name, version = apt.group(1), words[1]
        elif len(words) == 2:
            name, version = words
        else:
            if strict:
                raise ParseError("not a 'package version' line", line, line_number=number)
            continue
        name, arch = _split_arch(name, None)
        packages.append(DpkgPackage(name=name, version=version, arch=arch))
    return packages


def packages_matching(packages: Iterable[DpkgPackage], pattern: str | re.Pattern[str]) -> list[DpkgPackage]:
    """The packages whose name the regex matches anywhere (`grep -E` on the name), in their order.

    >>> [p.name for p in packages_matching(parse_dpkg_query("cuda-12-6\\t12.6.11-1\\nvim\\t9.0"), "cuda")]
    ['cuda-12-6']
    """
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    return [p for p in packages if rx.search(p.name)]


def versions(packages: Iterable[DpkgPackage]) -> dict[str, str | None]:
    """name -> version; for a name listed twice (two architectures) the last one wins."""
    return {p.name: p.version for p in packages}


# --------------------------------------------------------------------------------------------------------
# Versions (deb-version(7); the comparison is dpkg's verrevcmp)

_EPOCH = re.compile(r"[0-9]+")
_UPSTREAM_OK = re.compile(r"[A-Za-z0-9.+~:-]*")
_REVISION_OK = re.compile(r"[A-Za-z0-9.+~]*")


@total_ordering
@dataclass(frozen=True, eq=False)
class DebianVersion:
    """[epoch:]upstream_version[-debian_revision], ordered as dpkg orders them.

    Equality is dpkg's too: '0:1.0' == '1.0', '1.01' == '1.1' and '1.0-0' == '1.0' (an absent revision
    compares like '0'); hashing agrees with that equality.

    >>> DebianVersion.parse("2:36.4.4-20250616085344").epoch
    2
    >>> DebianVersion.parse("1.0~beta") < DebianVersion.parse("1.0")
    True
    """

    epoch: int
    upstream: str
    revision: str
    text: str

    @classmethod
    def parse(cls, text: str) -> DebianVersion:
        """Check a version string as dpkg's parseversion does; ParseError names what is wrong."""
        if not isinstance(text, str):
            raise TypeError(f"DebianVersion.parse needs a str, got {type(text).__name__}")
        version = text.strip()
        if not version:
            raise ParseError("empty Debian version", text)
        if any(c.isspace() for c in version):
            raise ParseError("Debian version has embedded spaces", text)
        epoch = 0
        rest = version
        if ":" in version:
            head, rest = version.split(":", 1)
            if not head:
                raise ParseError("Debian version epoch is empty", text)
            if not _EPOCH.fullmatch(head):
                raise ParseError("Debian version epoch is not a number", text)
            epoch = int(head)
            if epoch > 2**31 - 1:
                raise ParseError("Debian version epoch is too big", text)
            if not rest:
                raise ParseError("Debian version has nothing after the epoch", text)
        upstream, hyphen, revision = rest.rpartition("-")
        if not hyphen:
            upstream, revision = rest, ""
        elif not revision:
            raise ParseError("Debian revision is empty", text)
        if not upstream:
            raise ParseError("Debian upstream version is empty", text)
        if not _UPSTREAM_OK.fullmatch(upstream) or not _REVISION_OK.fullmatch(revision):
            raise ParseError("invalid character in Debian version", text)
        return cls(epoch=epoch, upstream=upstream, revision=revision, text=version)

    def __str__(self) -> str:
        return self.text

    def _cmp(self, other: object) -> int:
        if isinstance(other, str):
            other = DebianVersion.parse(other)
        if not isinstance(other, DebianVersion):
            return NotImplemented  # type: ignore[return-value]
        if self.epoch != other.epoch:
            return -1 if self.epoch < other.epoch else 1
        return _verrevcmp(self.upstream, other.upstream) or _verrevcmp(self.revision, other.revision)

    def __eq__(self, other: object) -> bool:
        try:
            result = self._cmp(other)
        except ParseError:
            return False
        return result if result is NotImplemented else result == 0

    def __lt__(self, other: object) -> bool:
        result = self._cmp(other)
        return result if result is NotImplemented else result < 0

    def __hash__(self) -> int:
        return hash((self.epoch, _sort_key(self.upstream), _sort_key(self.revision)))


def _order(c: str) -> int:
    """dpkg's character weight: digits 0 (never reached), letters by code, '~' below all, others above."""
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256 if c else 0


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's lib/dpkg/version.c verrevcmp: alternate non-digit runs (by _order) and digit runs (by value)."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _sort_key(part: str) -> tuple[tuple[str, int], ...]:
    """A hashable form, equal exactly for strings verrevcmp calls equal.

    verrevcmp reads (non-digit run, number) pairs, an absent number counting as 0; trailing ("", 0) pairs
    change nothing ('1.0' == '1.0.' is false, but '' == '0' and 'a' == 'a0' are true).
    """
    pairs = [(m[1], int(m[2] or 0)) for m in re.finditer(r"(\D*)(\d*)", part) if m[0]]
    while pairs and pairs[-1] == ("", 0):
        pairs.pop()
    return tuple(pairs)


def compare_versions(a: str | DebianVersion, b: str | DebianVersion) -> int:
    """-1, 0 or 1 as `dpkg --compare-versions a lt|eq|gt b` would answer; ParseError for an invalid version."""
    va = a if isinstance(a, DebianVersion) else DebianVersion.parse(a)
    vb = b if isinstance(b, DebianVersion) else DebianVersion.parse(b)
    return va._cmp(vb)
