"""A device that answers from a folder of real captures (fixtures/data/real/<release>/), so the suite's checks can be
judged against what real Jetsons printed rather than against our simulator, which agrees with our tables by
construction.

A capture set is a folder with a ``capture.toml`` naming its files (paths relative to the folder; each file names its
public source on its first line):

- ``release``: /etc/nv_tegra_release; ``packages``: package listings (`dpkg -l` lines, `dpkg-query` lines or
  `name version` lines); ``model``: /proc/device-tree/model; ``tegrastats``: tegrastats lines; ``cuda_version``:
  /usr/local/cuda/version.json or version.txt; ``nvcc``: `nvcc --version`; ``nvidia_smi``: `nvidia-smi`;
- ``[read]``: facts a capture states in its own words (jetson_release's 'CUDA: 12.6.68', a report's 'jetpack : ...'),
  each a file and the regular expression whose first group is the value;
- ``[expect]``: check id -> the text its failure message must hold, for captures of real broken or partial states;
- ``covers``: what the package listings' filter shows (`dpkg -l | grep ...`): package groups (nvidia-jetpack, cuda,
  cudnn, tensorrt) and nvidia-l4t-core; a package missing from a listing counts as missing on the device only there;
- ``assembled``: true when the files come from several devices at the same L4T release.

`ReplayHost(path).run(command)` answers the commands `jetson_hil.device.DeviceFacts` runs; a surface the set did not
capture answers as missing and is recorded in ``uncaptured``, so a verdict that rests on it reads "not captured", not
"fail".

>>> host = ReplayHost("fixtures/data/real/r36.4.7")          # doctest: +SKIP
>>> DeviceFacts(host.run).package_group("tensorrt")           # doctest: +SKIP
{'libnvinfer10': '10.3.0.30-1+cuda12.5', 'nvidia-tensorrt': '6.2.1+b38', 'tensorrt': '10.3.0.30-1+cuda12.5'}
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from jetson_hil import dpkg, l4t
from jetson_hil.errors import ParseError
from jetson_hil.tegrastats import parse_line
from jetson_hil.telemetry import Sample, TelemetryTimeout
from jetson_hil.toml_compat import tomllib

__all__ = [
    "HEADER_PREFIXES",
    "CaptureSet",
    "ObservedStack",
    "ReplayHost",
    "ReplayResult",
    "ReplayTelemetry",
    "body",
    "capture_sets",
]

HEADER_PREFIXES = ("# source:", "# note:")
SURFACES = ("release", "model", "tegrastats", "cuda_version", "nvcc", "nvidia_smi")
READ_FACTS = ("l4t", "l4t_core", "jetpack", "cuda", "cudnn", "tensorrt", "model")
REAL = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "real"


def body(path: Path) -> str:
    """A capture file's text without its '# source:' / '# note:' header lines (nv_tegra_release's own '#' kept)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not lines or not lines[0].startswith("# source: "):
        first = lines[0] if lines else ""
        raise ParseError(f"capture {path} does not name its source on line 1 ('# source: ...')", first)
    return "".join(line for line in lines if not line.startswith(HEADER_PREFIXES))


def _packages(text: str) -> list[dpkg.DpkgPackage]:
    """dpkg -l lines, else dpkg-query's tab lines, else `name version` lines."""
    listed = dpkg.parse_dpkg_l(text, strict=False)
    if listed:
        return listed
    query = dpkg.parse_dpkg_query(text, strict=False)
    return query if query else dpkg.parse_name_version(text, strict=False)


@dataclass(frozen=True)
class ObservedStack:
    """What one capture set shows of the L4T -> JetPack -> CUDA / cuDNN / TensorRT chain; None where it shows nothing.

    ``sources`` says, per fact, which capture file it was read from.
    """

    l4t: str | None
    jetpack: str | None
    cuda: str | None
    cudnn: str | None
    tensorrt: str | None
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptureSet:
    """One capture folder, validated when loaded: every named file exists and names its source."""

    path: Path
    title: str
    assembled: bool
    files: dict[str, Path]
    package_files: tuple[Path, ...]
    reads: dict[str, tuple[Path, str]]
    expect: dict[str, str]
    covers: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, path: str | Path) -> CaptureSet:
        folder = Path(path)
        manifest = folder / "capture.toml"
        try:
            data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ParseError(f"{manifest} cannot be read: {exc}", "") from None

        def local(name: str) -> Path:
            file = (folder / name).resolve()
            body(file)  # exists and names its source
            return file

        files = {key: local(data[key]) for key in SURFACES if key in data}
        reads = {}
        for key, (file, pattern) in (data.get("read") or {}).items():
            if key not in READ_FACTS:
                raise ParseError(f"{manifest}: unknown [read] fact {key!r} (known: {', '.join(READ_FACTS)})", key)
            reads[key] = (local(file), pattern)
        return cls(
            path=folder.resolve(),
            title=str(data.get("title") or folder.name),
            assembled=bool(data.get("assembled", False)),
            files=files,
            package_files=tuple(local(name) for name in data.get("packages") or ()),
            reads=reads,
            expect={str(k): str(v) for k, v in (data.get("expect") or {}).items()},
            covers=frozenset(data.get("covers") or ()),
        )

    def text(self, surface: str) -> str | None:
        file = self.files.get(surface)
        return body(file) if file else None

    def read(self, fact: str) -> str | None:
        """The value of a [read] fact, taken from its capture file by its pattern; None when not declared."""
        if fact not in self.reads:
            return None
        file, pattern = self.reads[fact]
        m = re.search(pattern, body(file), re.MULTILINE)
        if not m:
            raise ParseError(f"{file}: the [read] pattern for {fact!r} matches nothing", pattern)
        return m.group(1).strip()

    @property
    def packages(self) -> list[dpkg.DpkgPackage]:
        return [p for file in self.package_files for p in _packages(body(file))]

    def model(self) -> str | None:
        text = self.text("model")
        return text.strip() if text else self.read("model")

    def observed(self) -> ObservedStack:
        """The stack this set shows, each fact from the first capture that states it."""
        found: dict[str, str] = {}
        sources: dict[str, str] = {}

        def note(fact: str, value: str | None, source: Path | str | None) -> None:
            if value and fact not in found:
                found[fact] = value
                sources[fact] = source.name if isinstance(source, Path) else str(source)

        if (text := self.text("release")) is not None:
            note("l4t", str(l4t.parse_release(text)), self.files["release"])
        for fact in ("l4t", "l4t_core"):
            if (value := self.read(fact)) is not None:
                note("l4t", str(l4t.parse_dpkg_core_version(value) if fact == "l4t_core" else l4t.parse_version(value)),
                     self.reads[fact][0])
        installed = {p.name: (p.version, file) for file in self.package_files for p in _packages(body(file))
                     if p.installed and p.version}
        if "nvidia-l4t-core" in installed:
            version, file = installed["nvidia-l4t-core"]
            note("l4t", str(l4t.parse_dpkg_core_version(version)), file)
        if (value := self.read("jetpack")) is not None:
            note("jetpack", dpkg.jetpack_of_meta_version(value) or value, self.reads["jetpack"][0])
        for name, (version, file) in sorted(installed.items(), key=lambda kv: kv[0] != "nvidia-jetpack"):
            if dpkg.is_jetpack_meta_package(name):
                note("jetpack", dpkg.jetpack_of_meta_version(version), file)
        for fact in ("cuda", "cudnn", "tensorrt"):
            if (value := self.read(fact)) is not None:
                note(fact, value, self.reads[fact][0])
        for name, (version, file) in sorted(installed.items()):
            if m := re.fullmatch(r"cuda-toolkit-(\d+)-(\d+)", name):
                note("cuda", f"{m[1]}.{m[2]}", file)
            elif re.fullmatch(r"libcudnn\d+(?:-cuda-\d+)?", name):
                note("cudnn", _upstream(version), file)
        for name in ("tensorrt", *sorted(n for n in installed if re.fullmatch(r"libnvinfer\d+", n))):
            if name in installed:
                note("tensorrt", _upstream(installed[name][0]), installed[name][1])
        return ObservedStack(
            l4t=found.get("l4t"), jetpack=found.get("jetpack"), cuda=found.get("cuda"), cudnn=found.get("cudnn"),
            tensorrt=found.get("tensorrt"), sources=sources,
        )


def _upstream(version: str) -> str | None:
    m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", version)
    return m.group(1) if m else None


def capture_sets(root: Path = REAL) -> list[CaptureSet]:
    """Every capture set under the corpus root, in release order (none where the corpus is not shipped)."""
    if not root.is_dir():
        return []
    return [CaptureSet.load(folder) for folder in sorted(root.iterdir()) if (folder / "capture.toml").is_file()]


@dataclass(frozen=True)
class ReplayResult:
    """What testinfra's CommandResult offers the suite: rc, stdout, stderr."""

    rc: int
    stdout: str
    stderr: str

    @property
    def exit_status(self) -> int:
        return self.rc


def _inner(command: str) -> str:
    """The command DeviceFacts wrapped as `timeout -k 2 N sh -c '<command>'` (nested for sudo), unwrapped."""
    while True:
        try:
            words = shlex.split(command)
        except ValueError:
            return command
        if words[:1] == ["timeout"] and "-c" in words:
            command = words[words.index("-c") + 1]
            continue
        if m := re.fullmatch(r'if \[ "\$\(id -u\)" = 0 \]; then (.*); else sudo -n sh -c .*; fi', command, re.S):
            command = m.group(1)
            continue
        return command.strip()


class ReplayHost:
    """A command runner that answers the device-fact commands from a capture set (`replay://PATH` hosts)."""

    def __init__(self, path: str | Path | CaptureSet) -> None:
        self.captures = path if isinstance(path, CaptureSet) else CaptureSet.load(path)
        self.uncaptured: set[str] = set()

    def _file(self, surface: str, what: str) -> ReplayResult:
        text = self.captures.text(surface)
        if text is None:
            self.uncaptured.add(surface)
            return ReplayResult(1, "", f"replay: {what} is not in capture set {self.captures.name}\n")
        return ReplayResult(0, text, "")

    def _dpkg_l(self) -> ReplayResult:
        if not self.captures.package_files:
            self.uncaptured.add("packages")
            return ReplayResult(1, "", f"replay: no package listing in capture set {self.captures.name}\n")
        lines = []
        for file in self.captures.package_files:
            text = body(file)
            if dpkg.parse_dpkg_l(text, strict=False):
                lines += [line for line in text.splitlines() if line.strip()]
            else:  # `name version` captures: shown in dpkg -l's form, their names and versions unchanged
                lines += [f"ii  {p.name}  {p.version}  {p.arch or 'arm64'}  (listed by the capture as name and version)"
                          for p in _packages(text)]
        return ReplayResult(0, "\n".join(lines) + "\n", "")

    def run(self, command: str) -> ReplayResult:
        inner = _inner(command)
        if inner in ("true", ":"):
            return ReplayResult(0, "", "")
        if inner == "hostname":
            return ReplayResult(0, f"replay-{self.captures.name}\n", "")
        if inner == "cat /etc/nv_tegra_release":
            return self._file("release", "/etc/nv_tegra_release")
        if re.fullmatch(r"(?:COLUMNS=\d+ )?dpkg -l", inner):
            return self._dpkg_l()
        if inner in ("cat /usr/local/cuda/version.json", "cat /usr/local/cuda/version.txt"):
            return self._file("cuda_version", inner.split()[-1])
        if "nvcc --version" in inner:
            return self._file("nvcc", "nvcc --version")
        if re.fullmatch(r"tr -d '\\000' < (/proc/device-tree/model|/sys/firmware/devicetree/base/model)", inner):
            model = self.captures.model()
            if model is None:
                self.uncaptured.add("model")
                return ReplayResult(1, "", f"replay: no device-tree model in capture set {self.captures.name}\n")
            return ReplayResult(0, model + "\n", "")
        if inner.startswith("nvidia-smi"):
            return self._file("nvidia_smi", "nvidia-smi")
        self.uncaptured.add(inner)
        shown = inner if len(inner) <= 120 else inner[:117] + "..."
        return ReplayResult(127, "", f"replay: capture set {self.captures.name} does not answer `{shown}`\n")


class ReplayTelemetry:
    """The telemetry recorder's face (`wait_samples`, `bad_count`, `bad_lines`, `command`, `used_sudo`, `notes`) over a
    set's captured tegrastats lines, parsed by the suite's own parser.

    The captured lines play in a loop, as a device in a steady state prints them; a set without tegrastats lines
    answers every wait with TelemetryTimeout, as a device whose tegrastats does not run.
    """

    def __init__(self, captures: CaptureSet) -> None:
        text = captures.text("tegrastats")
        self.command = "tegrastats (replayed from the capture)"
        self.used_sudo = False
        self.notes: list[str] = []
        self.bad_lines: list[str] = []
        self.bad_count = 0
        self.captured = text is not None
        self._samples: list[Sample] = []
        for number, line in enumerate((text or "").splitlines()):
            if not line.strip():
                continue
            try:
                self._samples.append(Sample(float(number), parse_line(line), float(number)))
            except (ParseError, ValueError) as exc:
                self.bad_count += 1
                self.bad_lines.append(f"{line.strip()[:500]}  [{exc}]")
        self.name = captures.name

    def wait_samples(self, count: int, timeout: float, since: float | None = None) -> list[Sample]:
        if not self._samples:
            why = "no tegrastats lines in the capture set" if not self.captured else "no captured line parses"
            raise TelemetryTimeout(f"waiting for {count} tegrastats samples: saw 0 ({why} {self.name})")
        loops = -(-count // len(self._samples))
        return (self._samples * loops)[: max(count, len(self._samples))]
