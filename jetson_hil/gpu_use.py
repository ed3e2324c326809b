"""Is the agent itself computing on the GPU? Evidence that does not depend on how fast the GPU is.

"GPU load > 0 while embeddings flow" (the runbook's check) cannot tell an embedding flow from idle on a fast
GPU: on an H200 a DINOv2-S/14 fp16 encoder at 5 Hz kept NVML utilisation at 0.5 % mean against 0.3 % idle
(issue 8), and a desktop compositor or any other GPU user can make it pass on a Jetson with nothing embedding.
So the verdict here rests on two things about the agent's own processes:

(a) they are among the GPU's users: NVML compute processes on a dGPU (``gpu_sampler.py --processes``), nvmap
    clients on a Jetson (``sudo -n cat /sys/kernel/debug/nvmap/iovmm/clients``), the GPU-client files of the
    simulated GPU (``/run/jetson-sim/gpu/clients/*.json`` on the device host);
(b) GPU time attributable to them over the window: growth of the sim client's ``busy_ns``; NVML per-process
    SM samples (``gpu_sampler.py --process-samples S``) on a dGPU. A Jetson has no per-process GPU time, so
    there the GR3D samples of the window stand in (they cannot be attributed, and the reason says so).

An agent on the CPU (fault ``config_cpu``) is not among the users, so it fails however busy another process
keeps the GPU; that other process is named in ``others``.

>>> agent = Agent(pids={4242})
>>> use = from_nvml([GpuProcess(999, "python3", 900)], ProcessSamples([ProcessSample(999, 1, 40)], 166_000),
...                 agent, window_s=10)
>>> use.agent_on_gpu, use.others
(False, ('pid 999 python3 (900 MiB, 0.0664 s GPU)',))

Everything here is a pure function over parsed inputs except :func:`collect`, which takes the two readings of
a window through a ``run_command(cmd, timeout) -> (rc, stdout, stderr)`` on the device host.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jetson_hil.dgpu import GpuProcess, ProcessSample, ProcessSamples, parse_process_samples, parse_processes
from jetson_hil.errors import ParseError

__all__ = [
    "NVMAP_CLIENTS_COMMAND",
    "SIM_CLIENTS_COMMAND",
    "SIM_CLIENTS_DIR",
    "Agent",
    "GpuClient",
    "GpuProcess",
    "GpuUse",
    "ProcessSample",
    "ProcessSamples",
    "collect",
    "from_nvmap",
    "from_nvml",
    "from_sim",
    "parse_nvmap_clients",
    "parse_sim_client",
    "parse_sim_clients",
]

SIM_CLIENTS_DIR = "/run/jetson-sim/gpu/clients"
SIM_CLIENTS_COMMAND = (
    f"for f in {SIM_CLIENTS_DIR}/*.json; do [ -f \"$f\" ] && cat \"$f\" && echo; done 2>/dev/null; true"
)
"""Prints every simulated GPU client file, one JSON object a line (run on the device host)."""
NVMAP_CLIENTS_COMMAND = "sudo -n cat /sys/kernel/debug/nvmap/iovmm/clients"
"""The nvmap client table of a real Jetson (debugfs: root only)."""


# ------------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class GpuClient:
    """One user of the GPU as a source lists it.

    ``host`` is the hostname of the container it runs in (simulator: pids are per container); ``busy_ns`` the
    GPU time it has used since ``started`` (simulator only); ``memory_bytes`` its GPU memory (nvmap, NVML);
    ``real_gpu``: a simulator on a real GPU read it from NVML (host pid, busy time from coarse NVML samples).
    """

    pid: int
    name: str
    host: str | None = None
    cmdline: str = ""
    memory_bytes: int | None = None
    busy_ns: int | None = None
    started: float | None = None
    updated: float | None = None
    real_gpu: bool = False

    @property
    def key(self) -> tuple[str | None, int, float | None]:
        """Same process in two readings: same host, pid and start time."""
        return self.host, self.pid, self.started

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"pid {self.pid} {self.name}{where}"


@dataclass(frozen=True)
class Agent:
    """How to recognise the agent's processes among the GPU's users; any one rule that holds is a match.

    - ``pids``: its processes' pids as the source numbers them (host pids for NVML and nvmap: ``docker top``;
      container pids in the simulator);
    - ``cmdline``: a substring of the command line (``vl_jepa.py``), where the source has one;
    - ``name``: the process name exactly (nvmap prints the 15-character ``comm``; compared on 15 characters);
    - ``host``: the container's hostname; when set, clients of another host never match (simulator).

    >>> client = GpuClient(7, "python3", host="a1b2", cmdline="python3 /app/agents/vl_jepa.py")
    >>> Agent(cmdline="vl_jepa.py", host="a1b2").matches(client), Agent(cmdline="vl_jepa.py", host="c3").matches(client)
    (True, False)
    """

    pids: frozenset[int] | set[int] | tuple[int, ...] = frozenset()
    cmdline: str | None = None
    name: str | None = None
    host: str | None = None
    label: str = "vl_jepa"

    def matches(self, client: GpuClient | GpuProcess) -> bool:
        host = getattr(client, "host", None)
        if self.host is not None and host is not None and host != self.host:
            return False
        if client.pid in set(self.pids):
            return True
        if self.cmdline and self.cmdline in (client.cmdline or ""):
            return True
        return bool(self.name) and client.name[:15] == self.name[:15]

    def describe(self) -> str:
        rules = []
        if self.pids:
            rules.append("pid " + ",".join(str(p) for p in sorted(self.pids)))
        if self.cmdline:
            rules.append(f"cmdline ~ {self.cmdline!r}")
        if self.name:
            rules.append(f"name {self.name!r}")
        if self.host:
            rules.append(f"host {self.host}")
        return f"{self.label} ({'; '.join(rules) or 'no rule'})"


@dataclass(frozen=True)
class GpuUse:
    """The verdict: is the agent on the GPU, how much GPU time it used in the window, who else used the GPU.

    ``agent_busy_s`` is None where the source has no per-process GPU time. ``bool(use)`` is ``agent_on_gpu``.
    """

    agent_on_gpu: bool
    agent_busy_s: float | None
    window_s: float
    others: tuple[str, ...]
    reason: str
    source: str = ""
    agent_clients: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.agent_on_gpu

    @property
    def busy_fraction(self) -> float | None:
        """The agent's GPU time as a share of the window (0.015 = 1.5 %)."""
        if self.agent_busy_s is None or self.window_s <= 0:
            return None
        return self.agent_busy_s / self.window_s


def _mib(n_bytes: int | None) -> str:
    return "" if n_bytes is None else f"{n_bytes / 2**20:.0f} MiB"


# ----------------------------------------------------------------------------------------------- parsers
_NVMAP_SIZE = re.compile(r"(\d{1,15})([KMG]?)")
_UNIT = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_nvmap_clients(text: str) -> list[GpuClient]:
    """``/sys/kernel/debug/nvmap/iovmm/clients``: ``CLIENT PROCESS PID SIZE`` rows (SIZE in K, M or G bytes).

    Only ``user`` rows are clients; the header and the ``total`` row are skipped. A process name may hold
    spaces (``comm`` is free text), so columns are read from the right. ParseError for any other row.
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("CLIENT") or stripped.split()[0] == "total":
            continue
        parts = stripped.split()
        size = _NVMAP_SIZE.fullmatch(parts[-1]) if len(parts) >= 4 else None
        if parts[0] != "user" or size is None or not parts[-2].isdigit():
            raise ParseError("not an nvmap 'user PROCESS PID SIZE' row", line, line_number=number)
        name = " ".join(parts[1:-2])
        out.append(GpuClient(int(parts[-2]), name, memory_bytes=int(size[1]) * _UNIT[size[2]]))
    return out


def parse_sim_client(data: str | dict[str, Any]) -> GpuClient:
    """One simulated GPU client file ({pid, host, cmdline, busy_ns, updated, started}); ParseError if malformed."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ParseError(f"not JSON ({exc})", data) from None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not isinstance(data.get("busy_ns"), int):
        raise ParseError("not a GPU client record (needs integer pid and busy_ns)", json.dumps(data)[:200])
    cmd = data.get("cmdline") or []
    cmdline = " ".join(str(c) for c in cmd) if isinstance(cmd, list) else str(cmd)
    script = next((c for c in (cmd if isinstance(cmd, list) else [])[1:] if not str(c).startswith("-")), None)
    name = str(script).rsplit("/", 1)[-1] if script else (cmdline.split(" ", 1)[0].rsplit("/", 1)[-1] or "?")

    def number(key: str) -> float | None:
        value = data.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return GpuClient(
        pid=data["pid"],
        name=name,
        host=str(data["host"]) if data.get("host") is not None else None,
        cmdline=cmdline,
        busy_ns=data["busy_ns"],
        started=number("started"),
        updated=number("updated"),
        memory_bytes=int(data["memory_bytes"]) if isinstance(data.get("memory_bytes"), int) else None,
        real_gpu=data.get("gpu") == "real",
    )


def parse_sim_clients(text: str) -> list[GpuClient]:
    """The output of ``SIM_CLIENTS_COMMAND``: JSON objects one after another (newlines optional). A file
    caught half-written is skipped, not fatal: the shim replaces files atomically, but ``cat`` of a file that
    vanished between the glob and the read prints nothing."""
    decoder = json.JSONDecoder()
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return out
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            nxt = text.find("\n", pos)
            if nxt < 0:
                return out
            pos = nxt + 1
            continue
        try:
            out.append(parse_sim_client(obj))
        except ParseError:
            continue


# ---------------------------------------------------------------------------------------------- verdicts
def _others_line(clients: Iterable[str]) -> str:
    items = list(clients)
    return "; other GPU users: " + ", ".join(items) if items else "; no other GPU user"


def from_sim(
    before: Sequence[GpuClient],
    after: Sequence[GpuClient],
    agent: Agent,
    window_s: float,
    min_busy_s: float = 0.0,
    claimed_device: str | None = None,
) -> GpuUse:
    """Simulator: the agent's GPU clients at the end of the window and their ``busy_ns`` growth over it.

    A client absent from ``before`` started inside the window, so all its ``busy_ns`` counts. The agent is on
    the GPU when it has a client and its GPU time grew by more than ``min_busy_s``. On a real GPU (clients read
    from NVML) the busy time is NVML's whole-percent samples, which read 0 for a fast GPU's short kernels: there,
    as in :func:`from_nvml`, presence decides together with the agent's own claim (``claimed_device``).
    """
    start = {c.key: c for c in before}

    def grown_ns(c: GpuClient) -> int:
        prev = start.get(c.key)
        return max(0, (c.busy_ns or 0) - ((prev.busy_ns or 0) if prev else 0))

    mine = [c for c in after if agent.matches(c)]
    others = tuple(f"{c.describe()} (+{grown_ns(c) / 1e9:.3g} s GPU)" for c in after if not agent.matches(c))
    if not mine:
        gpu = "real GPU (NVML)" if after and all(c.real_gpu for c in after) else "simulated GPU"
        return GpuUse(
            False, None, window_s, others,
            f"{agent.describe()} has no GPU client among {len(after)} on the {gpu}: it is not using the GPU "
            f"(VL_JEPA_DEVICE=cpu, or CUDA failed and it fell back to the CPU){_others_line(others)}",
            "sim-clients",
        )  # fmt: skip
    busy_s = sum(grown_ns(c) for c in mine) / 1e9
    names = ", ".join(c.describe() for c in mine)
    if all(c.real_gpu for c in mine):
        problem = _claim_problem(claimed_device)
        reason = (f"{names} is a compute process on the real GPU (NVML) and used {busy_s:.3g} s of GPU time in its "
                  f"per-process samples over {window_s:g} s" if problem is None else f"{names}: {problem}")
        return GpuUse(problem is None, busy_s, window_s, others, reason + _others_line(others), "sim-clients",
                      tuple(c.describe() for c in mine))  # fmt: skip
    ok = busy_s > min_busy_s
    if ok:
        reason = f"{names} used {busy_s:.3g} s of GPU time in {window_s:g} s ({100 * busy_s / window_s:.2g} %)"
    else:
        reason = (f"{names} is a GPU client but used {busy_s:.3g} s of GPU time in {window_s:g} s "
                  f"(needs > {min_busy_s:g} s): it holds a CUDA context and computes elsewhere")
    return GpuUse(ok, busy_s, window_s, others, reason + _others_line(others), "sim-clients",
                  tuple(c.describe() for c in mine))  # fmt: skip


def _busy_by_pid(samples: ProcessSamples) -> tuple[dict[int, float], float]:
    """GPU seconds per pid: sum of sm% x the driver's sample period; the period used."""
    period_us = samples.period_us
    if not period_us:
        stamps = sorted({s.timestamp_us for s in samples.samples})
        gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False) if b > a)
        period_us = gaps[len(gaps) // 2] if gaps else 1_000_000
    busy: dict[int, float] = {}
    for s in samples.samples:
        busy[s.pid] = busy.get(s.pid, 0.0) + max(0, s.sm_percent) / 100.0 * period_us / 1e6
    return busy, period_us / 1e6


def _claim_problem(claimed_device: str | None) -> str | None:
    """Why the agent's own report contradicts the GPU, or None."""
    if claimed_device is None or claimed_device.lower().startswith("cuda"):
        return None
    return (f"its embeddings say device={claimed_device!r}: it holds a CUDA context but computes on the CPU "
            "(CUDA fell back)")


def from_nvml(
    processes: Sequence[GpuProcess],
    samples: ProcessSamples | None,
    agent: Agent,
    window_s: float,
    min_busy_s: float | None = None,
    claimed_device: str | None = None,
) -> GpuUse:
    """dGPU: the agent among NVML's compute processes, its SM time from per-process samples, its own claim.

    NVML reports per-process SM use as whole percent of a ~0.4-0.6 s sample: on an H200 a DINOv2-S/14 fp16
    flow at 5 Hz (about 0.3 % busy) reads 0 in nearly every sample, exactly like an idle CUDA context
    (docs/gpu-validation.md, "GPU use: flow, idle, unrelated load"). So by default (``min_busy_s`` None)
    the SM time is reported, not required, and
    presence decides, together with ``claimed_device`` (the device the agent's payloads name, e.g. the most
    common ``device`` of the window's embeddings): a process that holds a context but says ``cpu`` fails. Pass
    ``min_busy_s`` to require SM time where the flow is heavy enough for NVML to see it. ``samples`` None (or
    carrying an ``error``) means the driver gave no per-process utilisation.
    """
    usable = samples is not None and samples.error is None
    busy, period_s = _busy_by_pid(samples) if usable else ({}, 0.0)

    def gpu_s(pid: int) -> str:
        return f", {busy.get(pid, 0.0):.3g} s GPU" if usable else ""

    def mem(p: GpuProcess) -> str:
        return "" if p.used_mib is None else f"{p.used_mib} MiB"

    mine = [p for p in processes if agent.matches(p)]
    others = tuple(f"pid {p.pid} {p.name} ({mem(p)}{gpu_s(p.pid)})" for p in processes if not agent.matches(p))
    if not mine:
        return GpuUse(
            False, None, window_s, others,
            f"{agent.describe()} is not among the GPU's {len(processes)} compute process(es): it is not using "
            f"the GPU{_others_line(others)}",
            "nvml",
        )  # fmt: skip
    pids = tuple(str(p.pid) for p in mine)
    names = ", ".join(f"pid {p.pid} {p.name} ({mem(p)})" for p in mine)
    claim = _claim_problem(claimed_device)
    if not usable:
        why = samples.error if samples is not None else "not collected"
        if claim:
            return GpuUse(False, None, window_s, others, f"{names}: {claim}{_others_line(others)}", "nvml", pids)
        return GpuUse(True, None, window_s, others,
                      f"{names} holds a CUDA context; per-process GPU time unavailable ({why}), so presence decides"
                      f"{_others_line(others)}", "nvml", pids)  # fmt: skip
    busy_s = sum(busy.get(p.pid, 0.0) for p in mine)
    mine_pids = {p.pid for p in mine}
    seen = sum(1 for s in samples.samples if s.pid in mine_pids)
    active = sum(1 for s in samples.samples if s.pid in mine_pids and s.sm_percent > 0)
    floor_ms = 10 * period_s  # 1 % of one sample period, in ms
    stats = (f"{busy_s:.3g} s of SM time in {window_s:g} s ({active} of {seen} samples above 0 %; NVML resolves "
             f"1 % of a {period_s * 1000:.0f} ms sample = {floor_ms:.0f} ms)")  # fmt: skip
    if claim:
        return GpuUse(False, busy_s, window_s, others, f"{names}: {claim}; {stats}{_others_line(others)}", "nvml",
                      pids)  # fmt: skip
    if min_busy_s is not None and not busy_s > min_busy_s:
        return GpuUse(False, busy_s, window_s, others,
                      f"{names} holds a CUDA context but used {stats}, not above {min_busy_s:g} s"
                      f"{_others_line(others)}", "nvml", pids)  # fmt: skip
    said = f", its embeddings say device={claimed_device!r}" if claimed_device else ""
    return GpuUse(True, busy_s, window_s, others,
                  f"{names} is a GPU compute process{said}; {stats}{_others_line(others)}", "nvml", pids)  # fmt: skip


def from_nvmap(
    clients: Sequence[GpuClient],
    agent: Agent,
    gpu_loads: Sequence[float],
    interval_s: float,
    window_s: float,
    claimed_device: str | None = None,
) -> GpuUse:
    """Jetson: the agent among the nvmap clients, with GPU memory mapped, and GR3D > 0 over the window.

    nvmap has no per-process GPU time: ``agent_busy_s`` is the whole GPU's busy time from the GR3D samples
    (sum of load x interval), not the agent's alone; the reason says so. Presence is what tells a compositor
    from the agent; ``claimed_device`` (the device its payloads name) catches an agent that fell back to the CPU.
    """
    mine = [c for c in clients if agent.matches(c)]
    others = tuple(f"{c.describe()} ({_mib(c.memory_bytes)})" for c in clients if not agent.matches(c))
    gpu_busy = sum(max(0.0, x) for x in gpu_loads) / 100.0 * interval_s if gpu_loads else None
    if not mine:
        return GpuUse(
            False, None, window_s, others,
            f"{agent.describe()} is not among the {len(clients)} nvmap client(s): it is not using the GPU"
            f"{_others_line(others)}",
            "nvmap",
        )  # fmt: skip
    names = ", ".join(f"{c.describe()} ({_mib(c.memory_bytes)})" for c in mine)
    mapped = any((c.memory_bytes or 0) > 0 for c in mine)
    claim = _claim_problem(claimed_device)
    ok = mapped and gpu_busy is not None and gpu_busy > 0 and claim is None
    if claim:
        reason = f"{names}: {claim}"
    elif ok:
        reason = (f"{names} maps GPU memory and the GPU was busy {gpu_busy:.3g} s of {window_s:g} s "
                  f"(GR3D, all users together)")  # fmt: skip
    elif not mapped:
        reason = f"{names} is an nvmap client with no GPU memory mapped"
    elif gpu_busy is None:
        reason = f"{names} maps GPU memory but no GR3D sample covers the window"
    else:
        reason = f"{names} maps GPU memory but GR3D stayed at 0 % for the whole window"
    return GpuUse(ok, gpu_busy, window_s, others, reason + _others_line(others), "nvmap",
                  tuple(c.describe() for c in mine))  # fmt: skip


# ------------------------------------------------------------------------------------------------ collect
RunCommand = Callable[[str, float], tuple[int, Any, Any]]


def _text(out: Any) -> str:
    if isinstance(out, (bytes, bytearray)):
        return bytes(out).decode("utf-8", "replace")
    return "" if out is None else str(out)


def collect(
    run_command: RunCommand,
    source: str,
    agent: Agent,
    window_s: float,
    *,
    sampler: str = "python3 tools/jetson/gpu_sampler.py",
    timeout_s: float = 30.0,
    gpu_loads: Callable[[float, float], Sequence[float]] | None = None,
    interval_s: float = 1.0,
    min_busy_s: float | None = None,
    claimed_device: str | None = None,
) -> GpuUse:
    """Take one window of evidence on the device host and judge it.

    ``source``: ``sim`` (client files read at the start and the end of the window), ``nvml`` (``sampler
    --process-samples window_s`` then ``sampler --processes``; ``sampler`` is the command that runs
    ``gpu_sampler.py`` on the host) or ``nvmap`` (the clients table at the end; ``gpu_loads(start, end)``
    returns the GR3D percentages the telemetry recorder saw between two ``time.monotonic()`` values).
    Every command has ``timeout_s`` (plus the window for the sampling one). A command that fails raises
    RuntimeError naming it, its status and its stderr.
    """

    def run(cmd: str, timeout: float) -> str:
        rc, out, err = run_command(cmd, timeout)
        if rc != 0:
            raise RuntimeError(f"{cmd!r} failed on the device (exit status {rc}): {_text(err).strip()[-300:]}")
        return _text(out)

    if source == "sim":
        before = parse_sim_clients(run(SIM_CLIENTS_COMMAND, timeout_s))
        t0 = time.monotonic()
        time.sleep(window_s)
        after = parse_sim_clients(run(SIM_CLIENTS_COMMAND, timeout_s))
        return from_sim(before, after, agent, time.monotonic() - t0, min_busy_s or 0.0)
    if source == "nvml":
        t0 = time.monotonic()
        samples = parse_process_samples(run(f"{sampler} --process-samples {window_s:g}", timeout_s + window_s))
        elapsed = time.monotonic() - t0
        processes = parse_processes(run(f"{sampler} --processes", timeout_s))
        return from_nvml(processes, samples, agent, min(window_s, elapsed), min_busy_s, claimed_device)
    if source == "nvmap":
        t0 = time.monotonic()
        time.sleep(window_s)
        t1 = time.monotonic()
        clients = parse_nvmap_clients(run(NVMAP_CLIENTS_COMMAND, timeout_s))
        loads = list(gpu_loads(t0, t1)) if gpu_loads is not None else []
        return from_nvmap(clients, agent, loads, interval_s, t1 - t0, claimed_device)
    raise ValueError(f"unknown GPU-use source {source!r}; expected 'sim', 'nvml' or 'nvmap'")


def sampler_command(python: str = "python3", path: str = "tools/jetson/gpu_sampler.py") -> str:
    """The shell words that run ``gpu_sampler.py`` on the host, quoted."""
    return f"{shlex.quote(python)} {shlex.quote(path)}"
