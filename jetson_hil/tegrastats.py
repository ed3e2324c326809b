"""Parse tegrastats output of every Jetson module and L4T release (Nano ... Thor, R32 ... R39).

The line is read token by token. A token either matches one known form completely or is kept verbatim in
``unknown``: nothing is half-matched (jetson_stats PR #894 lost the GPC clocks that way), and a new token a
future L4T adds does not break telemetry. ``parse_line(..., strict=True)`` turns unknown tokens into errors,
for the simulator's own tests. Formats and samples: facts section 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from jetson_hil.errors import ParseError

__all__ = [
    "TOTAL_RAILS",
    "CpuCore",
    "Engine",
    "Iram",
    "LogTail",
    "ParseError",
    "Rail",
    "TegrastatsSample",
    "parse_line",
    "read_log",
]

# Rails that measure the whole board, in order of preference (facts 1.3).
TOTAL_RAILS = ("POM_5V_IN", "VDD_IN", "VIN")
# Rails that are not connected; they read 0 and are left out of sums.
UNCONNECTED_RAIL = "NC"


@dataclass(frozen=True)
class CpuCore:
    """One entry of the CPU list; an 'off' core is kept, offline, so core counts stay right."""

    index: int
    load_percent: int | None
    freq_mhz: int | None
    online: bool = True


@dataclass(frozen=True)
class Engine:
    """An accelerator or clock token (APE, VIC, NVENC, NVDLA0, MTS fg ...): load and/or clock, or off."""

    load_percent: int | None = None
    freq_mhz: int | None = None
    online: bool = True


@dataclass(frozen=True)
class Rail:
    """One power rail in mW; R32 prints no unit (still mW), R39 adds a third value read as peak."""

    current_mw: int
    average_mw: int
    peak_mw: int | None = None


@dataclass(frozen=True)
class Iram:
    """IRAM usage, printed on Nano/TX1 root lines only."""

    used_kb: int
    total_kb: int
    lfb_kb: int | None


@dataclass
class TegrastatsSample:
    """One tegrastats line. Absent fields are None (or empty), never zero.

    ``temperatures`` holds real readings only; sensors printed as -256C (not available) are listed in
    ``absent_sensors``. R39 prints two values per sensor: the first is the reading, the second is kept in
    ``temperatures_secondary`` (its official meaning was not found). A name that repeats (AGX Orin's two
    'NC' rails) gets '#2', '#3' ... appended.
    """

    raw: str
    timestamp: datetime | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    lfb_blocks: int | None = None
    lfb_size_kb: int | None = None
    swap_used_mb: int | None = None
    swap_total_mb: int | None = None
    swap_cached_mb: int | None = None
    iram: Iram | None = None
    cpus: list[CpuCore] = field(default_factory=list)
    emc_load_percent: int | None = None
    emc_freq_mhz: int | None = None
    gpu_load_percent: int | None = None
    gpc_freqs_mhz: list[int] = field(default_factory=list)
    engines: dict[str, Engine] = field(default_factory=dict)
    temperatures: dict[str, float] = field(default_factory=dict)
    temperatures_secondary: dict[str, float] = field(default_factory=dict)
    absent_sensors: list[str] = field(default_factory=list)
    rails: dict[str, Rail] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def total_rail(self) -> str | None:
        """The rail that measures the whole board, when this module has one."""
        return next((name for name in TOTAL_RAILS if name in self.rails), None)

    @property
    def total_power_mw(self) -> int | None:
        """Board power now: the total-board rail, else the sum of the connected rails (AGX Orin, Thor)."""
        if self.total_rail:
            return self.rails[self.total_rail].current_mw
        connected = [rail.current_mw for name, rail in self.rails.items()
                     if name.partition("#")[0] != UNCONNECTED_RAIL]
        return sum(connected) if connected else None

    @property
    def gpu_temperature(self) -> float | None:
        return self.temperatures.get("gpu", self.temperatures.get("GPU"))

    @property
    def gpu_freq_mhz(self) -> int | None:
        """The highest GPC clock; GPCs of one GPU normally run at the same clock."""
        return max(self.gpc_freqs_mhz) if self.gpc_freqs_mhz else None

    @property
    def cpus_online(self) -> int:
        return sum(1 for cpu in self.cpus if cpu.online)

    @property
    def cpu_load_percent(self) -> float | None:
        """Mean load of the online cores that report one."""
        loads = [cpu.load_percent for cpu in self.cpus if cpu.online and cpu.load_percent is not None]
        return sum(loads) / len(loads) if loads else None


# ----------------------------------------------------------------------------------------------------------
# Token grammar. Every pattern is ASCII-only and bounded, so arbitrary input can neither match exotic digits
# nor build an int too large to convert.

_N = r"(\d{1,9})"
_T = r"(-?\d{1,4}(?:\.\d{1,6})?)C"
_END = r"(?=\s|$)"
_NAME = r"([A-Za-z][A-Za-z0-9_]{0,63})"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern + _END, re.ASCII)


_TIMESTAMP = _rx(r"(\d{1,2}-\d{1,2}-\d{4} \d{1,2}:\d{2}:\d{2})")
_RAM = _rx(rf"RAM {_N}/{_N}MB(?:\s+\(lfb {_N}x{_N}(kB|MB)\))?")
_SWAP = _rx(rf"SWAP {_N}/{_N}MB(?:\s+\(cached {_N}MB\))?")
_IRAM = _rx(rf"IRAM {_N}/{_N}kB(?:\s*\(lfb {_N}kB\))?")
_CPU = _rx(r"CPU \[([^\]\s]{1,4000})\]")
_CPU_ENTRY = re.compile(rf"(?:{_N}%(?:@{_N})?|(off))", re.ASCII)
_EMC = _rx(rf"EMC_FREQ (?:{_N}%(?:@{_N})?|@{_N})")
_GR3D = _rx(rf"GR3D(\d?)_FREQ (?:{_N}%)?(?:@(?:\[(\d{{1,9}}(?:,\d{{1,9}}){{0,31}})\]|{_N}))?")
_MTS = _rx(rf"MTS fg {_N}% bg {_N}%")
_RAIL = _rx(rf"{_NAME} (?:{_N}mW/{_N}mW(?:/{_N}mW)?|{_N}/{_N})")
_TEMP = _rx(rf"{_NAME}@{_T}(?:/{_T})?")
_ENGINE = _rx(rf"([A-Z][A-Z0-9_]{{0,63}}) (?:(off)|{_N}%@{_N}|{_N}%|@{_N}|{_N})")
_WORD = re.compile(r"\S+", re.ASCII)
_SPACE = re.compile(r"\s*", re.ASCII)

_ABSENT_C = -256.0
# Keywords with a form of their own: a malformed one must not pass as an engine or a rail.
_RESERVED = {"RAM", "SWAP", "IRAM", "EMC_FREQ", "MTS"}
_RESERVED_RX = re.compile(r"GR3D\d?_FREQ", re.ASCII)


def _reserved(name: str) -> bool:
    return name in _RESERVED or bool(_RESERVED_RX.fullmatch(name))


def _unique(name: str, taken: Iterable[str]) -> str:
    existing = set(taken)
    if name not in existing:
        return name
    n = 2
    while f"{name}#{n}" in existing:
        n += 1
    return f"{name}#{n}"


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


class _Line:
    """Parse state for one line: each handler consumes a match or declines (returns False)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sample = TegrastatsSample(raw=text)
        self.seen: set[str] = set()

    def once(self, key: str) -> bool:
        """A line carries RAM, SWAP, CPU ... once; a repeat (two lines run together) is not trusted."""
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def ram(self, m: re.Match[str]) -> bool:
        if not self.once("RAM"):
            return False
        s = self.sample
        s.ram_used_mb, s.ram_total_mb = int(m[1]), int(m[2])
        if m[3] is not None:
            s.lfb_blocks = int(m[3])
            s.lfb_size_kb = int(m[4]) * (1024 if m[5] == "MB" else 1)
        return True

    def swap(self, m: re.Match[str]) -> bool:
        if not self.once("SWAP"):
            return False
        s = self.sample
        s.swap_used_mb, s.swap_total_mb, s.swap_cached_mb = int(m[1]), int(m[2]), _int(m[3])
        return True

    def iram(self, m: re.Match[str]) -> bool:
        if not self.once("IRAM"):
            return False
        self.sample.iram = Iram(int(m[1]), int(m[2]), _int(m[3]))
        return True

    def cpu(self, m: re.Match[str]) -> bool:
        cores = []
        for index, entry in enumerate(m[1].split(",")):
            e = _CPU_ENTRY.fullmatch(entry)
            if e is None:
                return False
            if e[3]:
                cores.append(CpuCore(index, None, None, online=False))
            else:
                cores.append(CpuCore(index, int(e[1]), _int(e[2])))
        if not self.once("CPU"):
            return False
        self.sample.cpus = cores
        return True

    def emc(self, m: re.Match[str]) -> bool:
        if not self.once("EMC"):
            return False
        self.sample.emc_load_percent = _int(m[1])
        self.sample.emc_freq_mhz = _int(m[2]) if m[2] is not None else _int(m[3])
        return True

    def gr3d(self, m: re.Match[str]) -> bool:
        load, clocks, clock = m[2], m[3], m[4]
        if load is None and clocks is None and clock is None:
            return False
        if not self.once(f"GR3D{m[1]}"):
            return False
        s = self.sample
        if load is not None and s.gpu_load_percent is None:
            s.gpu_load_percent = int(load)
        if clocks is not None:
            s.gpc_freqs_mhz.extend(int(c) for c in clocks.split(","))
        elif clock is not None:
            s.gpc_freqs_mhz.append(int(clock))
        return True

    def mts(self, m: re.Match[str]) -> bool:
        if "MTS_FG" in self.sample.engines:
            return False
        self.sample.engines["MTS_FG"] = Engine(load_percent=int(m[1]))
        self.sample.engines["MTS_BG"] = Engine(load_percent=int(m[2]))
        return True

    def rail(self, m: re.Match[str]) -> bool:
        name = m[1]
        if _reserved(name):
            return False
        with_unit = m[2] is not None
        rail = Rail(int(m[2]), int(m[3]), _int(m[4])) if with_unit else Rail(int(m[5]), int(m[6]))
        self.sample.rails[_unique(name, self.sample.rails)] = rail
        return True

    def temperature(self, m: re.Match[str]) -> bool:
        s = self.sample
        name = _unique(m[1], [*s.temperatures, *s.absent_sensors])
        value = float(m[2])
        if value == _ABSENT_C:
            s.absent_sensors.append(name)
            return True
        s.temperatures[name] = value
        if m[3] is not None and float(m[3]) != _ABSENT_C:
            s.temperatures_secondary[name] = float(m[3])
        return True

    def engine(self, m: re.Match[str]) -> bool:
        name = m[1]
        if _reserved(name) or name == "CPU" or name in self.sample.engines:
            return False
        if m[2]:
            engine = Engine(online=False)
        elif m[3] is not None:
            engine = Engine(int(m[3]), int(m[4]))
        elif m[5] is not None:
            engine = Engine(load_percent=int(m[5]))
        else:
            engine = Engine(freq_mhz=int(m[6] if m[6] is not None else m[7]))
        self.sample.engines[name] = engine
        return True

    def timestamp(self, m: re.Match[str]) -> bool:
        try:
            self.sample.timestamp = datetime.strptime(m[1], "%m-%d-%Y %H:%M:%S")
        except ValueError:
            return False
        return True


_HANDLERS: tuple[tuple[re.Pattern[str], Callable[[_Line, re.Match[str]], bool]], ...] = (
    (_RAM, _Line.ram),
    (_SWAP, _Line.swap),
    (_IRAM, _Line.iram),
    (_CPU, _Line.cpu),
    (_EMC, _Line.emc),
    (_GR3D, _Line.gr3d),
    (_MTS, _Line.mts),
    (_RAIL, _Line.rail),
    (_TEMP, _Line.temperature),
    (_ENGINE, _Line.engine),
)
# Without one of these a line is not tegrastats output, whatever else it holds.
_CORE_KEYS = {"RAM", "CPU", "GR3D"}


def parse_line(line: str, *, strict: bool = False) -> TegrastatsSample:
    """Parse one tegrastats line (with or without the R35+ 'MM-DD-YYYY HH:MM:SS' prefix).

    Raises ParseError when the line has none of RAM, CPU or GR3D_FREQ, or, with ``strict``, when any token
    was not understood. The timestamp is naive local time, as tegrastats prints it.

    >>> parse_line("RAM 1923/3964MB CPU [5%@1224,off] GR3D_FREQ 0%@76 POM_5V_IN 1750/1628").total_power_mw
    1750
    """
    if not isinstance(line, str):
        raise TypeError(f"parse_line needs a str, got {type(line).__name__}")
    text = line.strip()
    state = _Line(text)
    pos = 0
    if (m := _TIMESTAMP.match(text, pos)) and state.timestamp(m):
        pos = m.end()
    while (pos := _SPACE.match(text, pos).end()) < len(text):
        for pattern, handler in _HANDLERS:
            m = pattern.match(text, pos)
            if m and handler(state, m):
                pos = m.end()
                break
        else:
            m = _WORD.match(text, pos)
            state.sample.unknown.append(m[0])
            pos = m.end()
    if not state.seen & _CORE_KEYS:
        raise ParseError("not a tegrastats line (no RAM, CPU or GR3D_FREQ token)", text)
    if strict and state.sample.unknown:
        raise ParseError(f"tegrastats tokens not understood: {' '.join(state.sample.unknown)}", text)
    return state.sample


def read_log(stream_or_text: str | Iterable[str], *, strict: bool = False) -> Iterator[TegrastatsSample]:
    """Samples of a `tegrastats --logfile` file (its text, or an open stream); blank lines are skipped.

    A line that is not tegrastats output raises ParseError naming its line number.
    """
    lines = stream_or_text.splitlines() if isinstance(stream_or_text, str) else stream_or_text
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield parse_line(line, strict=strict)
        except ParseError as error:
            raise ParseError(error.message, line.strip(), line_number=number) from None


class LogTail:
    """Turns chunks of a growing log (``tail -f`` output, partial lines allowed) into samples.

    A bad line must not stop a recorder that runs for the whole session, so it is kept in ``errors``
    (the newest ``max_errors``) and counted in ``rejected`` instead of raised.

    >>> tail = LogTail()
    >>> tail.feed("RAM 1/2MB CPU [1%@2")
    []
    >>> [s.cpus[0].freq_mhz for s in tail.feed("04]\\n")]
    [204]
    """

    MAX_LINE_CHARS = 64 * 1024

    def __init__(self, *, max_errors: int = 100) -> None:
        self._buffer = ""
        self.line_number = 0
        self.rejected = 0
        self.errors: list[ParseError] = []
        self.max_errors = max_errors

    def feed(self, chunk: str) -> list[TegrastatsSample]:
        """Add text; returns the samples of the lines it completed."""
        if not isinstance(chunk, str):
            raise TypeError(f"LogTail.feed needs a str, got {type(chunk).__name__}")
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split("\n")
        samples = [s for s in (self._take(line) for line in complete) if s is not None]
        if len(self._buffer) > self.MAX_LINE_CHARS:
            self._take(self._buffer)
            self._buffer = ""
        return samples

    def flush(self) -> list[TegrastatsSample]:
        """Parse a last line that never got its newline (the log ended)."""
        line, self._buffer = self._buffer, ""
        sample = self._take(line) if line else None
        return [sample] if sample else []

    def _take(self, line: str) -> TegrastatsSample | None:
        self.line_number += 1
        if not line.strip():
            return None
        try:
            return parse_line(line)
        except ParseError as error:
            self.rejected += 1
            self.errors.append(ParseError(error.message, line.strip(), line_number=self.line_number))
            if len(self.errors) > self.max_errors:
                del self.errors[0]
            return None
